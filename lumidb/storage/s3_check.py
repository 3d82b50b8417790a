"""Checks of an S3 backup location: a read-only look for ``doctor``, a write probe for ``check-store``.

``inspect_s3_store`` never writes: it reports where boto3 found credentials, whether the
bucket answers and lists, its versioning and object lock settings, and incomplete
uploads older than a day (killed backups). ``probe_s3_store`` writes, reads back and
deletes a probe object, checks that the server honours ``If-None-Match`` (which the
backup lock needs) and that a multipart upload can be started and aborted.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

from lumidb.errors import LumidbError
from lumidb.storage import StoreProblem
from lumidb.storage.s3 import STALE_UPLOAD_AGE, IncompleteUpload, S3Storage
from lumidb.storage.s3_access import S3Access, error_code

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

T = TypeVar("T")
PROBE_PREFIX = ".lumidb-probe-"
# How boto3 names the place it found credentials (``Credentials.method``), for people.
CREDENTIAL_SOURCES = {
    "env": "environment variables",
    "shared-credentials-file": "shared credentials file",
    "config-file": "AWS config file",
    "custom-process": "credential_process",
    "assume-role": "assumed role",
    "assume-role-with-web-identity": "web identity role",
    "sso": "AWS SSO",
    "iam-role": "instance metadata (IAM role)",
    "container-role": "container credentials",
}


@dataclass(frozen=True)
class S3StoreReport:
    """What a read-only look at an S3 backup location found."""

    location: str
    endpoint: str
    region: str | None
    credentials: str | None  # where boto3 found them; None: none found
    reachable: bool  # the endpoint answered (even with an error)
    listable: bool  # the bucket exists and these credentials may list the prefix
    versioning: str | None  # "Enabled", "Suspended", "unknown"; None: never enabled
    object_lock: str | None  # e.g. "Enabled (GOVERNANCE, 30 days)"; None: off
    stale_uploads: tuple[IncompleteUpload, ...]
    problems: tuple[StoreProblem, ...]

    @property
    def ok(self) -> bool:
        return not any(problem.fatal for problem in self.problems)


@dataclass(frozen=True)
class ProbeStep:
    """One step of a write probe and how it went."""

    what: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True)
class S3StoreProbe:
    """What writing, reading and deleting a probe object in the location showed."""

    location: str
    endpoint: str
    steps: tuple[ProbeStep, ...]

    @property
    def ok(self) -> bool:
        return all(step.ok for step in self.steps)


def _attempt(
    access: S3Access, action: str, request: Callable[[S3Client], T]
) -> tuple[T | None, LumidbError | None, bool]:
    """(reply, error, whether the endpoint answered) of one request that may fail."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return request(access.client), None, True
    except ClientError as exc:
        return None, access.translate(exc, action), True
    except BotoCoreError as exc:
        return None, access.translate(exc, action), False
    except LumidbError as exc:
        return None, exc, False


def credentials_source(access: S3Access) -> str | None:
    """Where boto3's chain finds credentials, without using them; None when it finds none."""
    from botocore.exceptions import BotoCoreError

    try:
        found = access.session.get_credentials()
    except BotoCoreError as exc:
        raise access.translate(exc, "looking for AWS credentials") from None
    if found is None:
        return None
    method = str(getattr(found, "method", "") or "")
    return CREDENTIAL_SOURCES.get(method, method or "found")


def inspect_s3_store(
    storage: S3Storage, *, now: datetime, stale_after: timedelta = STALE_UPLOAD_AGE
) -> S3StoreReport:
    """Look at the location without writing to it (``doctor``)."""
    access = storage.access
    bucket = storage.where.bucket
    problems: list[StoreProblem] = []
    region: str | None = None
    source: str | None = None
    try:
        source = credentials_source(access)
        region = access.client.meta.region_name
    except LumidbError as exc:
        problems.append(StoreProblem(exc.message, exc.hint or "", fatal=True))
    report = {"reachable": False, "listable": False}
    versioning: str | None = None
    object_lock: str | None = None
    stale: tuple[IncompleteUpload, ...] = ()
    if source is None and not problems:
        problems.append(
            StoreProblem(
                f"no AWS credentials found for {storage.location}",
                "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or a shared "
                "credentials file (~/.aws/credentials)",
                fatal=True,
            )
        )
    if not problems:
        prefix = storage.where.folder_prefix("")
        _, error, answered = _attempt(
            access,
            f"listing {storage.location}",
            lambda c: c.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1),
        )
        report = {"reachable": answered, "listable": error is None}
        if error is not None:
            problems.append(StoreProblem(error.message, error.hint or "", fatal=True))
    if report["listable"]:
        versioning = _versioning(access, bucket)
        object_lock = _object_lock(access, bucket)
        try:
            stale = tuple(storage.incomplete_uploads(older_than=stale_after, now=now))
        except LumidbError as exc:
            problems.append(StoreProblem(exc.message, exc.hint or "", fatal=False))
        problems.extend(_warnings(storage, versioning, object_lock, stale))
    return S3StoreReport(
        location=storage.location,
        endpoint=access.endpoint,
        region=region,
        credentials=source,
        reachable=report["reachable"],
        listable=report["listable"],
        versioning=versioning,
        object_lock=object_lock,
        stale_uploads=stale,
        problems=tuple(problems),
    )


def _versioning(access: S3Access, bucket: str) -> str | None:
    reply, error, _ = _attempt(
        access, "reading the bucket's versioning", lambda c: c.get_bucket_versioning(Bucket=bucket)
    )
    if reply is None or error is not None:
        return "unknown"
    status = reply.get("Status")
    return str(status) if status else None


def _object_lock(access: S3Access, bucket: str) -> str | None:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        reply = access.client.get_object_lock_configuration(Bucket=bucket)
    except ClientError as exc:
        return None if error_code(exc) == "ObjectLockConfigurationNotFoundError" else "unknown"
    except BotoCoreError:
        return "unknown"
    config = reply.get("ObjectLockConfiguration", {})
    if config.get("ObjectLockEnabled") != "Enabled":
        return None
    retention = config.get("Rule", {}).get("DefaultRetention", {})
    if not retention:
        return "Enabled"
    period = (
        f"{retention['Days']} days"
        if "Days" in retention
        else f"{retention.get('Years', '?')} years"
    )
    return f"Enabled ({retention.get('Mode', '?')}, {period})"


def _warnings(
    storage: S3Storage,
    versioning: str | None,
    object_lock: str | None,
    stale: tuple[IncompleteUpload, ...],
) -> list[StoreProblem]:
    found: list[StoreProblem] = []
    bucket = storage.where.bucket
    if versioning == "Enabled":
        found.append(
            StoreProblem(
                f"versioning is on in bucket {bucket!r}: pruned backups stay as noncurrent "
                "versions and still take space",
                "add a lifecycle rule that expires noncurrent versions",
                fatal=False,
            )
        )
    if object_lock is not None and object_lock.startswith("Enabled ("):
        found.append(
            StoreProblem(
                f"object lock retention is set on bucket {bucket!r}: pruned backups are kept "
                "until their retention ends",
                "expected if you want immutable backups; otherwise remove the default retention",
                fatal=False,
            )
        )
    if stale:
        found.append(
            StoreProblem(
                f"{len(stale)} incomplete upload(s) older than a day in {storage.location} "
                "(killed or failed backups)",
                "the next backup aborts them; a lifecycle rule with "
                "AbortIncompleteMultipartUpload also cleans them up",
                fatal=False,
            )
        )
    return found


def probe_s3_store(storage: S3Storage) -> S3StoreProbe:
    """Write, read back and delete a probe object (``backups check-store``)."""
    access = storage.access
    bucket = storage.where.bucket
    key = storage.where.key(PROBE_PREFIX + secrets.token_hex(8))
    data = secrets.token_bytes(64)
    steps: list[ProbeStep] = []

    def step(what: str, request: Callable[[S3Client], T]) -> T | None:
        reply, error, _ = _attempt(access, what, request)
        steps.append(ProbeStep(what, error is None, str(error) if error else ""))
        return reply

    prefix = storage.where.folder_prefix("")
    listed = step(
        "list the location", lambda c: c.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)
    )
    if listed is None:
        return S3StoreProbe(storage.location, access.endpoint, tuple(steps))
    written = step(
        "write a probe object",
        lambda c: c.put_object(Bucket=bucket, Key=key, Body=data),
    )
    try:
        if written is not None:
            _probe_conditional_write(access, bucket, key, steps)
            reply = step("read it back", lambda c: c.get_object(Bucket=bucket, Key=key))
            if reply is not None:
                body = reply["Body"]
                try:
                    same = body.read() == data
                finally:
                    body.close()
                if not same:
                    steps[-1] = ProbeStep("read it back", False, "the bytes read differ")
            _probe_multipart(access, bucket, key, steps)
    finally:
        if written is not None:
            step("delete it", lambda c: c.delete_object(Bucket=bucket, Key=key))
    return S3StoreProbe(storage.location, access.endpoint, tuple(steps))


def _probe_conditional_write(
    access: S3Access, bucket: str, key: str, steps: list[ProbeStep]
) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    what = "refuse to overwrite it with If-None-Match (the backup lock needs this)"
    try:
        access.client.put_object(Bucket=bucket, Key=key, Body=b"overwritten", IfNoneMatch="*")
    except ClientError as exc:
        if error_code(exc) in ("PreconditionFailed", "412"):
            steps.append(ProbeStep(what, True))
            return
        steps.append(ProbeStep(what, False, str(access.translate(exc, what))))
        return
    except BotoCoreError as exc:
        steps.append(ProbeStep(what, False, str(access.translate(exc, what))))
        return
    steps.append(
        ProbeStep(
            what,
            False,
            "the server ignored If-None-Match: two backups to this location are not kept apart",
        )
    )


def _probe_multipart(access: S3Access, bucket: str, key: str, steps: list[ProbeStep]) -> None:
    what = "start and abort a multipart upload"
    started, error, _ = _attempt(
        access, what, lambda c: c.create_multipart_upload(Bucket=bucket, Key=key + ".multipart")
    )
    if started is None:
        steps.append(ProbeStep(what, False, str(error)))
        return
    upload_id = started["UploadId"]
    _, error, _ = _attempt(
        access,
        what,
        lambda c: c.abort_multipart_upload(
            Bucket=bucket, Key=key + ".multipart", UploadId=upload_id
        ),
    )
    steps.append(ProbeStep(what, error is None, str(error) if error else ""))
