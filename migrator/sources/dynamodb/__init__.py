"""DynamoDB as a source: :mod:`.table` describes a table, :mod:`.scan` reads it in segments."""
