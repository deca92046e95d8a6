"""Where DynamoDB data comes from: table descriptions, parallel Scan (and, later, Streams)."""
