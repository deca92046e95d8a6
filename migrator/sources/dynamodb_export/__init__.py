"""A DynamoDB table export as the source: ``source.type: dynamodb-s3-export``.

``files.py`` reaches the export's folder (an S3 bucket with the section's own endpoint and
credentials, or a local directory); ``backend.py`` reads its manifests on the driver and its data
files on executors, one snapshot segment per data file, resumable line by line. The layout itself
is :mod:`migrator.export_layout`, shared with the export target.
"""
