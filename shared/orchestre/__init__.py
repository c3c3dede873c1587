"""Orchestre's domain layer and data access, shipped to every function as a Lambda layer.

- ``orchestre.domain``: pydantic models and business rules (no boto3, no HTTP).
- ``orchestre.services``: use cases that combine rules and repositories.
- ``orchestre.repositories``: small data-access classes (DynamoDB, S3, Cognito).
- ``orchestre.api``: the shared API plumbing for handlers (resolver, problems, auth).
- ``orchestre.platform``: the resources, described once for the CDK app and the local runtime.
"""
