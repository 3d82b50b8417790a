"""``backups check-store``: a full check of a backup location that writes, reads and deletes a probe.

For a bucket it is ``probe_s3_store`` (list, write, refuse an overwrite with
``If-None-Match``, read back, start and abort a multipart upload, delete). For a folder it
takes the folder's lock, writes a 0600 probe file the way a backup is written (temporary
name, then rename), reads it back and deletes it. ``doctor`` looks without writing; this
is the check to run once after setting a location up.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from lumidb.errors import LumidbError, OperationError
from lumidb.outcome import Outcome
from lumidb.storage import BackupLocation
from lumidb.storage.location import open_storage
from lumidb.storage.s3_check import PROBE_PREFIX, ProbeStep


@dataclass(frozen=True)
class StoreCheckReport(Outcome):
    """What writing, reading and deleting a probe in a backup location showed."""

    location: str
    where: str  # "this machine", "AWS S3" or the S3 endpoint's URL (never credentials)
    steps: tuple[ProbeStep, ...]

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(step.ok for step in self.steps)

    @property
    def failure(self) -> OperationError | None:
        if self.ok:
            return None
        return OperationError(
            f"the backup location {self.location} failed a check",
            hint="see the failed step above",
        )


def check_store(location: BackupLocation) -> StoreCheckReport:
    """Probe ``location`` by writing to it; each step says what it did and how it went."""
    from lumidb.storage.s3 import S3Storage
    from lumidb.storage.s3_check import probe_s3_store

    store = open_storage(location)
    if isinstance(store, S3Storage):
        probe = probe_s3_store(store)
        return StoreCheckReport(probe.location, probe.endpoint, probe.steps)
    steps: list[ProbeStep] = []

    def step(what: str, action: Callable[[], str]) -> bool:
        try:
            detail = action()
        except (LumidbError, OSError) as exc:
            message = exc.message if isinstance(exc, LumidbError) else str(exc.strerror or exc)
            steps.append(ProbeStep(what, False, message))
            return False
        steps.append(ProbeStep(what, True, detail))
        return True

    name = PROBE_PREFIX + secrets.token_hex(8)
    data = secrets.token_bytes(64)

    def lock() -> str:
        with store.lock(wait=False):
            return ""

    def write() -> str:
        with store.upload(name) as upload:
            upload.write(data)
        return ""

    def read_back() -> str:
        if store.read_small(name) != data:
            raise LumidbError("the bytes read differ from those written")
        return ""

    def delete() -> str:
        store.delete(name)
        return ""

    if (
        step("use the folder (created 0700 if missing)", lambda: "; ".join(store.prepare()))
        and step("take and release the backup lock", lock)
        and step("write a probe file", write)
    ):
        try:
            step("read it back", read_back)
        finally:
            step("delete it", delete)
    return StoreCheckReport(store.location, "this machine", tuple(steps))
