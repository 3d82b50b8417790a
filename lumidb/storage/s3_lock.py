"""The lock of a backup folder in a bucket: a lock object with a lease, taken by conditional writes.

``<prefix>/<folder>/.lumidb-backup.lock`` holds the holder's name (host and pid) and its
lease. It is created with ``If-None-Match: *``, so of two runs that find no lock, exactly
one creates it; an expired lease is taken over with ``If-Match`` on the ETag that was
read, so of two runs that find the same dead holder, exactly one wins. A thread renews
the lease (a conditional write on the holder's own ETag) every quarter of it, so a live
holder never loses the lock however long its upload runs, and a killed one frees the
folder one lease later, or at once for the next run on the same machine (the lock names
the machine and pid, and a pid that no longer exists there is a dead holder). The holder deletes the object when it is done, only if it is
still its own (``If-Match`` again).

Expiry is judged by the store's clock (the object's ``Last-Modified`` against the
``Date`` of the reply that read it), never by this machine's, so clock skew between two
machines cannot let both hold the lock. A holder whose renewal fails (another run took
over after a stall longer than the lease) marks the lock lost; the storage then refuses
to publish anything under it.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from lumidb.errors import OperationError, RefusedError
from lumidb.storage.s3_access import S3Access, error_code, server_time

if TYPE_CHECKING:
    from mypy_boto3_s3.type_defs import PutObjectOutputTypeDef

LOCK_NAME = ".lumidb-backup.lock"
DEFAULT_LEASE = timedelta(minutes=5)
# The longest lease lumidb believes a lock object claims: a planted "lease_seconds" of a
# year would otherwise lock the folder for a year.
MAX_LEASE = 2 * DEFAULT_LEASE
POLL_INTERVAL_S = 2.0
MAX_LOCK_BYTES = 4096
# Last-Modified and Date have whole seconds: a lease counts one second more than it says.
CLOCK_RESOLUTION = timedelta(seconds=1)
# Replies that mean "the condition did not hold": someone else wrote or removed the lock.
LOST_RACE_CODES = frozenset(
    {"PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey", "412"}
)
UNSUPPORTED_CODES = frozenset({"NotImplemented", "501"})


@dataclass(frozen=True)
class SeenLock:
    """A lock object as read: whose it is and whether its lease has run out."""

    etag: str
    holder: str
    renewed: datetime  # the store's Last-Modified: the last renewal
    lease: timedelta
    server_now: datetime
    dead_here: bool = False  # its holder was a process of this machine that is gone

    @property
    def ends(self) -> datetime:
        return self.renewed + self.lease + CLOCK_RESOLUTION

    @property
    def expired(self) -> bool:
        return self.server_now >= self.ends

    @property
    def seconds_left(self) -> int:
        return max(0, int((self.ends - self.server_now).total_seconds()))


def holder_name() -> str:
    """Who takes the lock, for the message a second run shows: host and pid."""
    return f"{socket.gethostname()} pid {os.getpid()}"


def this_machine() -> str:
    """This boot of this machine and this process namespace: where a pid means a process.

    A lock written here by a process that no longer exists is abandoned (``kill -9``), and
    the next run takes it over at once instead of one lease later. Two containers share a
    boot id but not a pid namespace, so a pid is only judged where it was taken.
    """
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        space = Path("/proc/self/ns/pid").stat().st_ino
    except OSError:
        return ""
    return f"{socket.gethostname()}/{boot}/{space}"


def _gone_here(doc: object) -> bool:
    """Whether a lock object's holder ran on this machine and has exited."""
    if not isinstance(doc, dict):
        return False
    machine, pid = doc.get("machine"), doc.get("pid")
    here = this_machine()
    if not here or machine != here or not isinstance(pid, int) or isinstance(pid, bool):
        return False
    if pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # exists (another user's process): alive
    return False


def _printable(text: str, limit: int = 120) -> str:
    """A planted lock object could hold anything: keep its text to plain printable ASCII."""
    return "".join(ch if " " <= ch <= "~" else "?" for ch in text)[:limit]


def _parse_lock(
    data: bytes, default_lease: timedelta, max_lease: timedelta = MAX_LEASE
) -> tuple[str, timedelta]:
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return "an unreadable lock object", default_lease
    if not isinstance(doc, dict):
        return "an unreadable lock object", default_lease
    holder = doc.get("holder")
    seconds = doc.get("lease_seconds")
    lease = default_lease
    if isinstance(seconds, int) and not isinstance(seconds, bool):
        lease = min(timedelta(seconds=max(seconds, 1)), max_lease)
    return (_printable(holder) if isinstance(holder, str) and holder else "unknown"), lease


class LeaseLock:
    """Holds the lock object of one folder while the ``with`` block runs."""

    def __init__(
        self,
        access: S3Access,
        folder: str,
        *,
        wait: bool,
        lease: timedelta = DEFAULT_LEASE,
        poll_interval: float = POLL_INTERVAL_S,
    ) -> None:
        self.access = access
        self.folder = folder
        self.key = access.location.key(f"{folder}/{LOCK_NAME}" if folder else LOCK_NAME)
        self.where = access.location.url + (f"/{folder}" if folder else "")
        self.wait = wait
        self.lease = lease
        self.poll_interval = poll_interval
        self.etag = ""
        self.acquired: datetime | None = None  # the store's clock when the lock became ours
        self.last_renewed = 0.0  # time.monotonic() of the last write of ours that succeeded
        self._writing = threading.Lock()  # a renewal and a check of the ETag never interleave
        self._lost = threading.Event()
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self._body = json.dumps(
            {
                "holder": holder_name(),
                "lease_seconds": max(1, int(lease.total_seconds())),
                "machine": this_machine(),
                "pid": os.getpid(),
                "run": os.urandom(8).hex(),  # two holders' objects never share an ETag
            }
        ).encode()

    @property
    def lost(self) -> bool:
        """True when a renewal found the lock taken over (or could not renew it in time)."""
        return self._lost.is_set()

    def __enter__(self) -> LeaseLock:
        self._acquire()
        self._renewer = threading.Thread(
            target=self._renew_until_stopped, name="lumidb-s3-lock-lease", daemon=True
        )
        self._renewer.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        self._release()

    # --- taking it ---------------------------------------------------------------------

    def read(self) -> SeenLock | None:
        """The lock object as it is now, or None when there is none."""
        from botocore.exceptions import ClientError

        bucket = self.access.location.bucket
        try:
            reply = self.access.call(
                f"reading the lock of {self.where}",
                lambda c: c.get_object(Bucket=bucket, Key=self.key),
                allow=frozenset({"NoSuchKey"}),
            )
        except ClientError:
            return None
        body = reply["Body"]
        try:
            data = body.read(MAX_LOCK_BYTES + 1)
        finally:
            body.close()
        holder, lease = _parse_lock(data[:MAX_LOCK_BYTES], self.lease, max(self.lease, MAX_LEASE))
        try:
            dead_here = _gone_here(json.loads(data[:MAX_LOCK_BYTES].decode("utf-8")))
        except (UnicodeDecodeError, ValueError):
            dead_here = False
        renewed = reply["LastModified"]
        return SeenLock(
            etag=reply["ETag"],
            holder=holder,
            renewed=renewed,
            lease=lease,
            server_now=server_time(reply) or renewed,
            dead_here=dead_here,
        )

    def _try_write(self, condition: dict[str, str]) -> bool:
        """One conditional write of our lock object; False when another run got there first."""
        from botocore.exceptions import ClientError

        bucket = self.access.location.bucket
        try:
            reply: PutObjectOutputTypeDef = self.access.call(
                f"taking the lock of {self.where}",
                lambda c: c.put_object(
                    Bucket=bucket,
                    Key=self.key,
                    Body=self._body,
                    ContentType="application/json",
                    **condition,  # type: ignore[arg-type]
                ),
                allow=LOST_RACE_CODES | UNSUPPORTED_CODES,
            )
        except ClientError as exc:
            if error_code(exc) in UNSUPPORTED_CODES:
                raise OperationError(
                    f"the S3 server at {self.access.endpoint} does not support conditional "
                    f"writes, which the backup lock of {self.where} needs",
                    hint="use a server with If-None-Match support (AWS S3, recent MinIO, R2, Ceph 19)",
                ) from None
            return False
        self.etag = reply["ETag"]
        self.acquired = server_time(reply)
        self.last_renewed = time.monotonic()
        return True

    def _acquire(self) -> None:
        while True:
            seen = self.read()
            if seen is None:
                if self._try_write({"IfNoneMatch": "*"}):
                    return
                continue  # another run created it between our read and our write
            if seen.expired or seen.dead_here:
                if self._try_write({"IfMatch": seen.etag}):
                    return
                continue
            if not self.wait:
                raise RefusedError(
                    f"another lumidb backup is running in {self.where}: {seen.holder} "
                    f"(its lease ends in {seen.seconds_left}s unless renewed)",
                    hint=f"use --wait to wait for it; if you are sure no backup runs, delete "
                    f"the lock object {self.where}/{LOCK_NAME}",
                )
            time.sleep(self.poll_interval)

    # --- keeping it ----------------------------------------------------------------------

    def _renew_until_stopped(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        client = self.access.client
        bucket = self.access.location.bucket
        interval = max(self.lease.total_seconds() / 4, 0.05)
        last_renewal = time.monotonic()
        while not self._stop.wait(interval):
            try:
                with self._writing:
                    reply = client.put_object(
                        Bucket=bucket,
                        Key=self.key,
                        Body=self._body,
                        ContentType="application/json",
                        IfMatch=self.etag,
                    )
                    self.etag = reply["ETag"]
            except ClientError as exc:
                if error_code(exc) in LOST_RACE_CODES:
                    self._lost.set()
                    return
            except BotoCoreError:
                pass
            else:
                last_renewal = self.last_renewed = time.monotonic()
                continue
            if time.monotonic() - last_renewal >= self.lease.total_seconds():
                self._lost.set()  # the lease may have run out: another run may hold it now
                return

    def fresh(self) -> bool:
        """Whether the lease was renewed recently enough to publish under it: a holder that
        was paused (SIGSTOP, a VM stall) longer than most of its lease may have lost it."""
        margin = self.lease / 4
        age = time.monotonic() - self.last_renewed
        return not self.lost and age < (self.lease - margin).total_seconds()

    def still_ours(self) -> bool:
        """Whether the lock object is still the one we wrote (its ETag), asked of the store."""
        from botocore.exceptions import ClientError

        bucket = self.access.location.bucket
        with self._writing:
            try:
                reply = self.access.call(
                    f"checking the lock of {self.where}",
                    lambda c: c.head_object(Bucket=bucket, Key=self.key),
                    allow=frozenset({"NoSuchKey", "404", "NotFound"}),
                )
            except ClientError:
                return False
            return bool(self.etag) and reply["ETag"] == self.etag

    def _release(self) -> None:
        """Delete the lock object if it is still ours; failing that, it expires on its own."""
        from botocore.exceptions import BotoCoreError, ClientError

        if self.lost or not self.etag:
            return
        client = self.access.client
        bucket = self.access.location.bucket
        try:
            client.delete_object(Bucket=bucket, Key=self.key, IfMatch=self.etag)
        except ClientError as exc:
            if error_code(exc) in UNSUPPORTED_CODES | {"InvalidArgument"}:
                self._release_unconditionally()
        except BotoCoreError:
            pass

    def _release_unconditionally(self) -> None:
        """For servers without conditional deletes: delete only if the ETag is still ours."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            seen = self.read()
            if seen is not None and seen.etag == self.etag:
                self.access.client.delete_object(Bucket=self.access.location.bucket, Key=self.key)
        except (BotoCoreError, ClientError, OperationError):
            pass
