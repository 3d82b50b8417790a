"""A backup location in an S3-compatible bucket: ``BackupStorage`` over ``s3://bucket/prefix``.

Data objects are written by a streaming multipart upload (parts of ``PART_SIZE``, at most
``PARTS_IN_FLIGHT`` sent while the next fills: about 24 MiB whatever the dump's size),
published only by completing it when the ``with`` block succeeds; an exception aborts
it, and a killed run leaves an incomplete upload, never an object, which the next writer
of the folder aborts (``remove_leftovers``, under the lock). Dot-names (the lock, probes)
are never objects. Reads stream the body; the restore filter judges what it holds.
"""

from __future__ import annotations

import io
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, BinaryIO

from lumidb.errors import LumidbError, OperationError, UsageError
from lumidb.storage import BackupStorage, StoredObject, StoreProblem
from lumidb.storage.s3_access import S3Access, S3Location, parse_s3_url, server_time
from lumidb.storage.s3_lock import DEFAULT_LEASE, POLL_INTERVAL_S, LeaseLock

if TYPE_CHECKING:
    from botocore.response import StreamingBody
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

PART_SIZE = 8 << 20
MIN_PART_SIZE = 5 << 20  # S3's minimum for every part but the last
PARTS_IN_FLIGHT = 2  # sent side by side while the next part fills
# The part size grows by PART_SIZE every 1000 parts (S3 allows 10,000): 8 MiB parts up to
# 8 GB, 16 MiB up to 24 GB, … 440 GB in all.
PARTS_PER_SIZE_STEP = 1000
STALE_UPLOAD_AGE = timedelta(days=1)
NOT_FOUND_CODES = frozenset({"NoSuchKey", "404"})


@dataclass(frozen=True)
class IncompleteUpload:
    """A multipart upload that was started and never completed nor aborted."""

    name: str  # relative key it would have been published under
    initiated: datetime  # UTC, the store's clock


class S3Storage:
    """A backup location that is a prefix of an S3 bucket (``LUMIDB_BACKUP_DIR=s3://…``)."""

    def __init__(
        self,
        location: str | S3Location,
        *,
        part_size: int = PART_SIZE,
        lease: timedelta = DEFAULT_LEASE,
        lock_poll_interval: float = POLL_INTERVAL_S,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes (S3's minimum)")
        self.where = parse_s3_url(location) if isinstance(location, str) else location
        self.access = S3Access(self.where)
        self.access.warm_up()  # while the caller does other things (connects, reads, …)
        self.part_size = part_size
        self.lease = lease
        self.lock_poll_interval = lock_poll_interval
        self.list_page_size = 1000  # S3's own maximum; tests lower it to see several pages
        self._locks: dict[str, LeaseLock] = {}
        self._open_uploads: set[str] = set()  # upload ids this process has not finished
        self._guard = threading.Lock()

    def __repr__(self) -> str:
        return f"S3Storage({self.location!r})"

    @property
    def location(self) -> str:
        return self.where.url

    def _where(self, name: str) -> str:
        return f"{self.location}/{name}" if name else self.location

    # --- judging and preparing -------------------------------------------------------

    def problem(self) -> StoreProblem | None:
        try:
            self._probe_listing()
        except LumidbError as exc:
            return StoreProblem(exc.message, exc.hint or "check the backup location", fatal=True)
        return None

    def prepare(self, folder: str = "") -> list[str]:
        """Check that the bucket answers and lists (a bucket has no folders to create)."""
        self.where.key(folder)
        self._probe_listing()
        return []

    def _probe_listing(self) -> None:
        bucket, prefix = self.where.bucket, self.where.folder_prefix("")
        self.access.call(
            f"listing {self.location}",
            lambda c: c.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1),
        )

    # --- reading ---------------------------------------------------------------------

    def objects(self, folder: str = "") -> list[StoredObject]:
        bucket, prefix = self.where.bucket, self.where.folder_prefix(folder)
        relative = f"{folder}/" if folder else ""
        pages = self.access.call(
            f"listing {self._where(folder)}",
            lambda c: list(
                c.get_paginator("list_objects_v2").paginate(
                    Bucket=bucket,
                    Prefix=prefix,
                    Delimiter="/",
                    PaginationConfig={"PageSize": self.list_page_size},
                )
            ),
        )
        found: list[StoredObject] = []
        for page in pages:
            for item in page.get("Contents", []):
                base = item["Key"][len(prefix) :]
                if not base or base.startswith(".") or "/" in base:
                    continue
                found.append(
                    StoredObject(
                        name=relative + base,
                        size=int(item.get("Size", 0)),
                        modified=item["LastModified"].astimezone(UTC),
                    )
                )
        return found

    def _get(self, name: str) -> StreamingBody | None:
        from botocore.exceptions import ClientError

        bucket, key = self.where.bucket, self.where.key(name)
        try:
            reply = self.access.call(
                f"reading {self._where(name)}",
                lambda c: c.get_object(Bucket=bucket, Key=key),
                allow=NOT_FOUND_CODES,
            )
        except ClientError:
            return None
        return reply["Body"]

    def open_read(self, name: str) -> AbstractContextManager[BinaryIO]:
        if not name:
            raise UsageError(f"no object name given in {self.location}")
        body = self._get(name)
        if body is None:
            raise UsageError(f"backup {self._where(name)} not found")
        raw = _BodyReader(body, self.access, f"reading {self._where(name)}")
        return io.BufferedReader(raw, buffer_size=1 << 20)

    def read_small(self, name: str, *, limit: int = 1 << 20) -> bytes | None:
        body = self._get(name)
        if body is None:
            return None
        raw = _BodyReader(body, self.access, f"reading {self._where(name)}")
        with io.BufferedReader(raw) as reader:
            data = reader.read(limit + 1)
        return data if len(data) <= limit else None

    def local_path(self, name: str) -> Path | None:
        return None

    # --- writing ---------------------------------------------------------------------

    def write_small(self, name: str, data: bytes) -> None:
        self._check_lock(name)
        bucket, key = self.where.bucket, self.where.key(name)
        content_type = "application/json" if name.endswith(".json") else "application/octet-stream"
        self.access.call(
            f"writing {self._where(name)}",
            lambda c: c.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type),
        )

    def upload(self, name: str) -> AbstractContextManager[S3Upload]:
        return self._upload(name)

    @contextmanager
    def _upload(self, name: str) -> Iterator[S3Upload]:
        if not name:
            raise UsageError(f"no object name given in {self.location}")
        bucket, key = self.where.bucket, self.where.key(name)
        started = self.access.call(
            f"starting the upload of {self._where(name)}",
            lambda c: c.create_multipart_upload(Bucket=bucket, Key=key),
        )
        upload_id = started["UploadId"]
        with self._guard:
            self._open_uploads.add(upload_id)
        upload = S3Upload(self, name, key, upload_id)
        try:
            yield upload
            upload.finish()
        except BaseException:
            upload.abandon()
            raise
        finally:
            with self._guard:
                self._open_uploads.discard(upload_id)

    def delete(self, name: str) -> None:
        if not name:
            raise UsageError(f"no object name given in {self.location}")
        self._check_lock(name)
        bucket, key = self.where.bucket, self.where.key(name)
        self.access.call(
            f"deleting {self._where(name)}", lambda c: c.delete_object(Bucket=bucket, Key=key)
        )

    # --- incomplete uploads ----------------------------------------------------------

    def _multipart_uploads(
        self, prefix: str
    ) -> Iterator[tuple[str, str, datetime, datetime | None]]:
        """(key, upload id, initiated, the store's clock) of every incomplete upload under prefix."""
        bucket = self.where.bucket
        pages = self.access.call(
            f"listing the incomplete uploads of {self.location}",
            lambda c: list(
                c.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix)
            ),
        )
        for page in pages:
            now = server_time(page)
            for item in page.get("Uploads", []):
                yield item["Key"], item["UploadId"], item["Initiated"].astimezone(UTC), now

    def incomplete_uploads(self, *, older_than: timedelta, now: datetime) -> list[IncompleteUpload]:
        """Uploads under the whole location started before ``now - older_than`` (for doctor)."""
        root = self.where.folder_prefix("")
        return [
            IncompleteUpload(name=key[len(root) :], initiated=initiated)
            for key, _, initiated, _ in self._multipart_uploads(root)
            if initiated <= now - older_than
        ]

    def remove_leftovers(self, folder: str = "") -> list[str]:
        """Abort the incomplete uploads of killed runs in ``folder``; call under its lock.

        Under the lock, the folder's writer is this run: an upload started before the lock
        became ours belongs to a run that is gone (it was killed, or its lease ran out and
        its own completion will now fail). Without the lock, only uploads older than a day
        (by the store's clock) are aborted. This run's own uploads are never touched.
        """
        prefix = self.where.folder_prefix(folder)
        relative = f"{folder}/" if folder else ""
        held = self._locks.get(folder)
        removed: list[str] = []
        for key, upload_id, initiated, now in list(self._multipart_uploads(prefix)):
            base = key[len(prefix) :]
            if not base or "/" in base:
                continue
            with self._guard:
                if upload_id in self._open_uploads:
                    continue
            if held is not None and held.acquired is not None and not held.lost:
                cutoff = held.acquired
            elif now is not None:
                cutoff = now - STALE_UPLOAD_AGE
            else:
                continue  # no clock of the store's to judge by: leave it
            if initiated >= cutoff:
                continue
            self._abort(key, upload_id, folder)
            removed.append(relative + base)
        return removed

    def _abort(self, key: str, upload_id: str, folder: str) -> None:
        from botocore.exceptions import ClientError

        bucket = self.where.bucket
        with suppress(ClientError):  # NoSuchUpload: it finished or was aborted meanwhile
            self.access.call(
                f"aborting an incomplete upload in {self._where(folder)}",
                lambda c: c.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id),
                allow=frozenset({"NoSuchUpload"}),
            )

    # --- the lock ----------------------------------------------------------------------

    def lock(self, folder: str = "", *, wait: bool) -> AbstractContextManager[None]:
        """The lock object of ``folder``, with a lease renewed while the block runs."""
        return self._lock(folder, wait)

    @contextmanager
    def _lock(self, folder: str, wait: bool) -> Iterator[None]:
        self.where.key(folder)
        if folder in self._locks:
            raise UsageError(f"the lock of {self._where(folder)} is already held by this run")
        lease_lock = LeaseLock(
            self.access, folder, wait=wait, lease=self.lease, poll_interval=self.lock_poll_interval
        )
        with lease_lock:
            self._locks[folder] = lease_lock
            try:
                yield
            finally:
                del self._locks[folder]

    def _check_lock(self, name: str) -> None:
        """Refuse to publish into a folder whose lock this run held and lost."""
        folder = name.rpartition("/")[0]
        held = self._locks.get(folder)
        if held is not None and (not held.fresh() or not held.still_ours()):
            raise OperationError(
                f"lost the lock of {held.where} (this run stalled too long to be sure it "
                f"still holds it, or another run took it over); {name} is left alone",
                hint="run the backup again",
            )


class S3Upload:
    """The writable end of an upload: fills one part while the previous ones are sent."""

    def __init__(self, storage: S3Storage, name: str, key: str, upload_id: str) -> None:
        self._storage = storage
        self._name = name
        self._key = key
        self._upload_id = upload_id
        self._buffer = bytearray()
        self._parts: list[CompletedPartTypeDef] = []
        self._sending: deque[Future[None]] = deque()
        self._sender = ThreadPoolExecutor(
            max_workers=PARTS_IN_FLIGHT, thread_name_prefix="lumidb-s3-upload"
        )
        self.size = 0

    def _next_part_size(self) -> int:
        return self._storage.part_size * (1 + len(self._parts) // PARTS_PER_SIZE_STEP)

    def write(self, data: bytes | memoryview) -> None:
        self._buffer += data
        self.size += len(data)
        if len(self._buffer) >= self._next_part_size():
            self._send()

    def _send(self) -> None:
        """Hand the filled buffer to a sender once fewer than PARTS_IN_FLIGHT are on their way."""
        while len(self._sending) >= PARTS_IN_FLIGHT:
            self._sending.popleft().result()
        number = len(self._parts) + 1
        part, self._buffer = self._buffer, bytearray()
        self._parts.append({"PartNumber": number, "ETag": ""})
        self._sending.append(self._sender.submit(self._send_part, number, part))

    def _send_part(self, number: int, part: bytearray) -> None:
        storage = self._storage
        bucket = storage.where.bucket
        reply = storage.access.call(
            f"uploading part {number} of {storage._where(self._name)}",
            lambda c: c.upload_part(
                Bucket=bucket,
                Key=self._key,
                UploadId=self._upload_id,
                PartNumber=number,
                Body=part,  # type: ignore[arg-type]
            ),
        )
        self._parts[number - 1] = {"PartNumber": number, "ETag": reply["ETag"]}

    def _wait_for_sender(self) -> None:
        while self._sending:
            self._sending.popleft().result()

    def finish(self) -> None:
        """Send what is left and complete the upload: the object appears only now."""
        storage = self._storage
        try:
            if self._buffer or not self._parts:
                self._send()
            self._wait_for_sender()
        finally:
            self._sender.shutdown(wait=True)
        storage._check_lock(self._name)
        bucket, parts = storage.where.bucket, list(self._parts)
        storage.access.call(
            f"completing the upload of {storage._where(self._name)}",
            lambda c: c.complete_multipart_upload(
                Bucket=bucket,
                Key=self._key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": parts},
            ),
        )

    def abandon(self) -> None:
        """Abort the upload after a failure: nothing is published, the parts are freed."""
        from botocore.exceptions import BotoCoreError, ClientError

        self._buffer = bytearray()
        self._sender.shutdown(wait=True, cancel_futures=True)
        storage = self._storage
        # On failure, the next writer of the folder aborts it (remove_leftovers).
        with suppress(BotoCoreError, ClientError, LumidbError):
            storage.access.client.abort_multipart_upload(
                Bucket=storage.where.bucket, Key=self._key, UploadId=self._upload_id
            )


class _BodyReader(io.RawIOBase):
    """An object's streaming body as a raw binary file, with S3 failures as lumidb errors."""

    def __init__(self, body: StreamingBody, access: S3Access, action: str) -> None:
        self._body = body
        self._access = access
        self._action = action

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        from botocore.exceptions import BotoCoreError

        try:
            data = self._body.read(len(buffer))
        except BotoCoreError as exc:
            raise self._access.translate(exc, self._action) from None
        except OSError as exc:
            raise OperationError(f"S3 failed while {self._action}: {type(exc).__name__}") from None
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


if TYPE_CHECKING:

    def _keeps_the_contract(storage: S3Storage) -> BackupStorage:
        return storage  # mypy checks S3Storage against the protocol here
