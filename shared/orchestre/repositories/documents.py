"""Documents bucket: files stored by the platform, served through short-lived presigned URLs."""

from __future__ import annotations

from urllib.parse import quote, unquote

from . import aws


def metadata_value(head: dict | None, name: str) -> str | None:
    """A metadata value written by ``DocumentStore.put``, decoded."""
    value = ((head or {}).get("Metadata") or {}).get(name)
    return unquote(value) if value is not None else None

BUCKET_ENV = "DOCUMENTS_BUCKET"


class TooLarge(Exception):
    def __init__(self, size: int):
        super().__init__(f"{size} bytes")
        self.size = size


class DocumentStore:
    def __init__(self, bucket_env: str = BUCKET_ENV):
        self.bucket_env = bucket_env

    @property
    def bucket(self) -> str:
        return aws.env(self.bucket_env)

    def get(self, key: str, max_bytes: int, version_id: str | None = None, etag: str | None = None) -> bytes | None:
        """The object's bytes (that version / that ETag when given), None if absent or replaced;
        ``TooLarge`` past ``max_bytes`` (read no further)."""
        from botocore.exceptions import ClientError

        args = {"Bucket": self.bucket, "Key": key}
        if version_id:
            args["VersionId"] = version_id
        elif etag:
            args["IfMatch"] = etag if etag.startswith('"') else f'"{etag}"'
        try:
            out = aws.client("s3").get_object(**args)
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound", "NoSuchVersion", "PreconditionFailed",
                                                 "412"):
                return None
            raise
        if out["ContentLength"] > max_bytes:
            out["Body"].close()
            raise TooLarge(out["ContentLength"])
        return out["Body"].read(max_bytes + 1)

    def presign_put(self, key: str, content_type: str, expires_in: int = 900) -> str:
        return aws.client("s3").generate_presigned_url(
            "put_object", Params={"Bucket": self.bucket, "Key": key, "ContentType": content_type}, ExpiresIn=expires_in
        )

    def put(self, key: str, body: bytes, content_type: str, metadata: dict[str, str] | None = None) -> None:
        """``metadata`` values are percent-encoded (UTF-8): S3 metadata is ASCII only, and a file
        name such as "facture-été.pdf" is not (``metadata_value`` decodes)."""
        encoded = {k: quote(v, safe=" !#$&'()*+,-./:;=?@[]^_`{|}~") for k, v in (metadata or {}).items()}
        aws.client("s3").put_object(
            Bucket=self.bucket, Key=key, Body=body, ContentType=content_type, Metadata=encoded
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
