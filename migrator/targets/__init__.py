"""Where items go: :mod:`.dynamodb` writes to any DynamoDB-compatible endpoint."""
