"""The SageMaker provider (boto3). Importing this package imports no AWS SDK; see :mod:`.provider`."""
