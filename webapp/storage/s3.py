"""Objects in an S3-compatible bucket; clients upload and download with boto3's presigned URLs."""

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from typing import BinaryIO
from urllib.parse import quote

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .base import (
    ObjectInfo,
    ObjectNotFound,
    ObjectTooLarge,
    PresignedPost,
    Storage,
    StorageError,
    validate_key,
)

# Parts of a multipart upload: S3's minimum (except for the last part) is 5 MiB; one part is held in memory.
PART_SIZE = 8 * 1024 * 1024
NOT_FOUND_CODES = {"404", "NoSuchKey", "NotFound"}


def _error_message(error: Exception) -> str:
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        return f"{details.get('Code', 'error')}: {details.get('Message') or error}"
    return str(error)


@contextmanager
def _s3_call(action: str, where: str) -> Iterator[None]:
    """Turn botocore's connection, credential and service errors into a readable StorageError."""
    try:
        yield
    except (BotoCoreError, ClientError) as error:
        raise StorageError(f"S3 could not {action} {where}: {_error_message(error)}") from error


def _is_not_found(error: ClientError) -> bool:
    return str(error.response.get("Error", {}).get("Code")) in NOT_FOUND_CODES


def attachment_header(filename: str) -> str:
    """A Content-Disposition value that names the file, also for non-ASCII names (RFC 6266)."""
    plain = "".join(c for c in filename if c.isascii() and c.isprintable() and c not in '"\\') or "download"
    value = f'attachment; filename="{plain}"'
    if plain != filename:
        value += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return value


class S3Storage(Storage):
    """Objects under `prefix` in `bucket`; credentials and region come from boto3's usual sources.

    `client` is an S3 client to share (tests reuse one); by default one is made for endpoint_url.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        part_size: int = PART_SIZE,
        client=None,
    ):
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.part_size = part_size
        self.client = client or self._make_client(endpoint_url)

    @staticmethod
    def _make_client(endpoint_url: str | None):
        session = boto3.session.Session()
        return session.client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=session.region_name or "us-east-1",
            # SigV4: newer regions accept nothing else. Retries follow AWS_MAX_ATTEMPTS / AWS_RETRY_MODE.
            config=Config(signature_version="s3v4"),
        )

    def __repr__(self) -> str:
        return f"S3Storage(s3://{self.bucket}/{self.prefix})"

    def _key(self, key: str) -> str:
        return self.prefix + validate_key(key)

    def _where(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}{key}"

    def presign_upload(self, key: str, max_bytes: int, expires_in: int) -> PresignedPost:
        with _s3_call("sign an upload to", self._where(key)):
            post = self.client.generate_presigned_post(
                Bucket=self.bucket,
                Key=self._key(key),
                Conditions=[["content-length-range", 1, max_bytes]],
                ExpiresIn=expires_in,
            )
        return PresignedPost(url=post["url"], fields=dict(post["fields"]))

    def presign_download(self, key: str, expires_in: int, filename: str | None = None) -> str:
        params = {
            "Bucket": self.bucket,
            "Key": self._key(key),
            "ResponseContentType": "application/octet-stream",
        }
        if filename:
            params["ResponseContentDisposition"] = attachment_header(filename)
        with _s3_call("sign a download of", self._where(key)):
            return self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in)

    def head(self, key: str) -> ObjectInfo | None:
        with _s3_call("read", self._where(key)):
            try:
                response = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            except ClientError as error:
                if _is_not_found(error):
                    return None
                raise
        return ObjectInfo(size=response["ContentLength"])

    @contextmanager
    def open(self, key: str) -> Iterator[BinaryIO]:
        with _s3_call("read", self._where(key)):
            try:
                response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            except ClientError as error:
                if _is_not_found(error):
                    raise ObjectNotFound(key) from error
                raise
        body = response["Body"]
        try:
            yield _StreamingBodyReader(body, self._where(key))
        finally:
            body.close()

    def put(self, key: str, stream: BinaryIO, max_bytes: int) -> int:
        s3_key = self._key(key)
        first = _read_part(stream, self.part_size, max_bytes, 0, key)
        if len(first) < self.part_size:
            with _s3_call("write", self._where(key)):
                self.client.put_object(Bucket=self.bucket, Key=s3_key, Body=first)
            return len(first)
        return self._put_multipart(key, s3_key, stream, first, max_bytes)

    def _put_multipart(self, key: str, s3_key: str, stream: BinaryIO, first: bytes, max_bytes: int) -> int:
        """Upload part by part; the object appears only on completion, and any failure aborts the upload."""
        with _s3_call("start writing", self._where(key)):
            upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=s3_key)["UploadId"]
        try:
            parts, size, part = [], 0, first
            while part:
                size += len(part)
                with _s3_call("write", self._where(key)):
                    response = self.client.upload_part(
                        Bucket=self.bucket,
                        Key=s3_key,
                        UploadId=upload_id,
                        PartNumber=len(parts) + 1,
                        Body=part,
                    )
                parts.append({"PartNumber": len(parts) + 1, "ETag": response["ETag"]})
                part = _read_part(stream, self.part_size, max_bytes, size, key)
            with _s3_call("finish writing", self._where(key)):
                self.client.complete_multipart_upload(
                    Bucket=self.bucket, Key=s3_key, UploadId=upload_id, MultipartUpload={"Parts": parts}
                )
        except BaseException:
            # If even the abort fails, the first error matters more (a lifecycle rule can drop the parts).
            with suppress(BotoCoreError, ClientError):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=s3_key, UploadId=upload_id)
            raise
        return size

    def remove_abandoned(self, started_before: datetime) -> int:
        """Abort multipart uploads under our prefix that a crashed process started before the cutoff."""
        removed = 0
        with _s3_call("list uploads in", f"s3://{self.bucket}/{self.prefix}"):
            pages = self.client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.bucket, Prefix=self.prefix
            )
            for page in pages:
                for upload in page.get("Uploads", []):
                    if upload["Initiated"] < started_before:
                        self.client.abort_multipart_upload(
                            Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                        )
                        removed += 1
        return removed

    def move(self, source: str, target: str) -> None:
        """CopyObject, then delete the source: S3 has no rename. Objects here are at most 100 MiB, far
        below CopyObject's 5 GB limit."""
        with _s3_call("copy", f"{self._where(source)} to {self._where(target)}"):
            try:
                self.client.copy_object(
                    Bucket=self.bucket,
                    Key=self._key(target),
                    CopySource={"Bucket": self.bucket, "Key": self._key(source)},
                )
            except ClientError as error:
                if _is_not_found(error):
                    raise ObjectNotFound(source) from error
                raise
        self.delete(source)

    def list_keys(self, prefix: str, modified_before: datetime) -> Iterator[str]:
        where = self._where(prefix)
        with _s3_call("list", where):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix + validate_key(prefix.rstrip("/")) + "/"
            )
            for page in pages:
                for item in page.get("Contents", []):
                    if item["LastModified"] < modified_before:
                        yield item["Key"][len(self.prefix) :]

    def delete(self, key: str) -> None:
        with _s3_call("delete", self._where(key)):
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))


def _read_part(stream: BinaryIO, part_size: int, max_bytes: int, so_far: int, key: str) -> bytes:
    """Up to part_size bytes of the stream (fewer only at its end); raise ObjectTooLarge past max_bytes."""
    chunks, length = [], 0
    while length < part_size:
        chunk = stream.read(part_size - length)
        if not chunk:
            break
        chunks.append(chunk)
        length += len(chunk)
        if so_far + length > max_bytes:
            raise ObjectTooLarge(f"{key} is larger than {max_bytes} bytes.")
    return b"".join(chunks)


class _StreamingBodyReader:
    """botocore's StreamingBody with read errors (a dropped connection) as StorageError."""

    def __init__(self, body, where: str):
        self._body = body
        self._where = where

    def read(self, size: int = -1) -> bytes:
        with _s3_call("read", self._where):
            return self._body.read(None if size is None or size < 0 else size)

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._body.close()
