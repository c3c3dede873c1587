"""Documents bucket: files stored by the platform, served through short-lived presigned URLs."""

from __future__ import annotations

from . import aws

BUCKET_ENV = "DOCUMENTS_BUCKET"


class DocumentStore:
    @property
    def bucket(self) -> str:
        return aws.env(BUCKET_ENV)

    def put(self, key: str, body: bytes, content_type: str, metadata: dict[str, str] | None = None) -> None:
        aws.client("s3").put_object(
            Bucket=self.bucket, Key=key, Body=body, ContentType=content_type, Metadata=metadata or {}
        )

    def head(self, key: str) -> dict | None:
        from botocore.exceptions import ClientError

        try:
            return aws.client("s3").head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def presign_get(self, key: str, expires_in: int = 300, file_name: str | None = None) -> str:
        params = {"Bucket": self.bucket, "Key": key}
        if file_name:
            params["ResponseContentDisposition"] = f'attachment; filename="{file_name}"'
        return aws.client("s3").generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in)
