"""migrator: move a live DynamoDB table to another database on Spark, losslessly and resumably."""

__version__ = "0.1.0"
