"""S3Storage against a real S3-compatible server (moto on loopback), reached through AWS files."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from conftest import S3Place

from lumidb import exit_codes
from lumidb.errors import LumidbError, OperationError, RefusedError, UsageError
from lumidb.storage import StoredObject
from lumidb.storage.s3 import PART_SIZE, PARTS_IN_FLIGHT, S3Storage
from lumidb.storage.s3_access import parse_s3_url
from lumidb.storage.s3_check import inspect_s3_store, probe_s3_store
from lumidb.storage.s3_lock import LOCK_NAME

MiB = 1 << 20
NOW = datetime(2026, 11, 25, 15, 47, 5, tzinfo=UTC)


def keys(place: S3Place) -> list[str]:
    """Every object key in the test's bucket, as the administrator sees them."""
    found: list[str] = []
    for page in (
        place.server.client().get_paginator("list_objects_v2").paginate(Bucket=place.bucket)
    ):
        found.extend(item["Key"] for item in page.get("Contents", []))
    return sorted(found)


def incomplete(place: S3Place) -> list[str]:
    reply = place.server.client().list_multipart_uploads(Bucket=place.bucket)
    return sorted(item["Key"] for item in reply.get("Uploads", []))


def chunks(total: int, size: int = MiB) -> list[bytes]:
    """Distinct 1 MiB blocks (a block repeated would hide a part sent twice or out of order)."""
    seed = os.urandom(size)
    return [i.to_bytes(8, "big") + seed[8:] for i in range(total // size)]


# --- the location ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "bucket", "prefix"),
    [
        ("s3://lumiai-backups/production", "lumiai-backups", "production"),
        ("S3://lumiai-backups/a/b/", "lumiai-backups", "a/b"),
        ("s3://lumiai.backups", "lumiai.backups", ""),
        ("s3://lumiai-backups/", "lumiai-backups", ""),
    ],
)
def test_s3_urls_name_a_bucket_and_a_prefix(url: str, bucket: str, prefix: str) -> None:
    where = parse_s3_url(url)
    assert (where.bucket, where.prefix) == (bucket, prefix)
    assert S3Storage(url).location == f"s3://{bucket}" + (f"/{prefix}" if prefix else "")


@pytest.mark.parametrize(
    "url",
    [
        "s3:/lumiai-backups/x",
        "s3://",
        "s3:///prefix",
        "s3://Lumiai_Backups/x",
        "s3://ab/x",
        "s3://lumiai-backups//x",
        "s3://lumiai-backups/a/../b",
        "s3://lumiai-backups/x?versionId=1",
        "s3://192.168.1.10/x",
        "https://lumiai-backups.s3.amazonaws.com/x",
    ],
)
def test_a_malformed_s3_url_is_a_usage_error_naming_the_form(url: str) -> None:
    with pytest.raises(UsageError) as caught:
        S3Storage(url)
    assert caught.value.exit_code == exit_codes.USAGE == 2
    assert "s3://BUCKET/PREFIX" in str(caught.value)


def test_credentials_in_an_s3_url_are_refused_and_never_echoed() -> None:
    with pytest.raises(UsageError) as caught:
        S3Storage("s3://AKIAEXAMPLEKEY:wJalrXUtnFEMIsecret@lumiai-backups/x")
    message = str(caught.value)
    assert "AKIAEXAMPLEKEY" not in message and "wJalrXUtnFEMIsecret" not in message
    assert "AWS_PROFILE" in message


def test_boto3_is_imported_only_when_a_bucket_is_used() -> None:
    """Importing the S3 modules or using a folder loads no boto3 (``--help`` stays fast);
    naming a bucket starts loading it in the background (``s3_access.preload``)."""
    code = (
        "import sys\n"
        "import lumidb.storage.s3, lumidb.storage.s3_check, lumidb.storage.s3_lock\n"
        "from lumidb.storage.location import open_storage, parse_location\n"
        "open_storage(parse_location('/tmp/backups'))  # a folder: no boto3\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


# --- streaming ------------------------------------------------------------------------------


def test_a_100_mib_stream_goes_up_and_comes_back_with_flat_memory(s3_place: S3Place) -> None:
    storage = S3Storage(s3_place.url)
    blocks = chunks(112 * MiB)
    sent = hashlib.sha256()
    assert storage.objects() == []  # the client (and boto3's service model) exist before
    tracemalloc.start()
    try:
        with storage.upload("lumiai-20261125T154705.000Z.sql.zst") as upload:
            for block in blocks:
                upload.write(memoryview(block))
                sent.update(block)
        upload_peak = tracemalloc.get_traced_memory()[1]
        print(f"peak: upload {upload_peak / MiB:.1f} MiB", end=", ")
        tracemalloc.reset_peak()
        before_read = tracemalloc.get_traced_memory()[0]
        got = hashlib.sha256()
        size = 0
        with storage.open_read("lumiai-20261125T154705.000Z.sql.zst") as stream:
            while data := stream.read(MiB):
                got.update(data)
                size += len(data)
        read_peak = tracemalloc.get_traced_memory()[1] - before_read
        print(f"read {read_peak / MiB:.1f} MiB")
    finally:
        tracemalloc.stop()
    assert size == 112 * MiB
    assert got.hexdigest() == sent.hexdigest()
    # One part filling and two in flight, whatever the stream's length.
    assert upload_peak < (PARTS_IN_FLIGHT + 1) * PART_SIZE + 12 * MiB, upload_peak
    assert read_peak < 8 * MiB, read_peak
    [stored] = storage.objects()
    assert stored.name == "lumiai-20261125T154705.000Z.sql.zst"
    assert stored.size == 112 * MiB
    assert incomplete(s3_place) == []


def test_an_empty_upload_is_an_empty_object(s3_place: S3Place) -> None:
    storage = S3Storage(s3_place.url)
    with storage.upload("safety/empty.sql"):
        pass
    assert [(o.name, o.size) for o in storage.objects("safety")] == [("safety/empty.sql", 0)]
    with storage.open_read("safety/empty.sql") as stream:
        assert stream.read() == b""


def test_a_failure_inside_upload_publishes_nothing_and_aborts(s3_place: S3Place) -> None:
    storage = S3Storage(s3_place.url, part_size=5 * MiB)

    class DumpFailed(Exception):
        pass

    with pytest.raises(DumpFailed), storage.upload("lumiai-1.sql.zst") as upload:
        for block in chunks(12 * MiB):
            upload.write(block)
        raise DumpFailed
    assert storage.objects() == []
    assert keys(s3_place) == []
    assert incomplete(s3_place) == []


KILLED_CHILD = textwrap.dedent(
    """
    import os, sys
    from datetime import timedelta
    from lumidb.storage.s3 import S3Storage

    storage = S3Storage(sys.argv[1], part_size=5 << 20, lease=timedelta(seconds=2))
    block = os.urandom(1 << 20)
    with storage.lock(wait=False), storage.upload("lumiai-killed.sql.zst") as upload:
        for i in range(10_000):
            upload.write(block)
            if i == 12:  # two parts sent, the third filling
                print("uploading", flush=True)
    """
)


def test_a_killed_upload_leaves_no_object_and_the_next_writer_clears_it(
    s3_place: S3Place,
) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_CHILD, s3_place.url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "uploading", child.stderr
    finally:
        child.send_signal(signal.SIGKILL)
        child.communicate()
    storage = S3Storage(s3_place.url, lease=timedelta(seconds=2), lock_poll_interval=0.2)
    assert storage.objects() == []
    assert incomplete(s3_place) == ["backups/production/lumiai-killed.sql.zst"]
    [stale] = storage.incomplete_uploads(older_than=timedelta(0), now=datetime.now(UTC))
    assert stale.name == "lumiai-killed.sql.zst"
    # doctor's "older than a day" is judged against the time it is given
    assert storage.incomplete_uploads(older_than=timedelta(days=1), now=stale.initiated) == []

    started = time.monotonic()
    with storage.lock(wait=True):  # the killed holder's lease runs out: taken over
        assert time.monotonic() - started < 10
        assert storage.remove_leftovers() == ["lumiai-killed.sql.zst"]
        assert incomplete(s3_place) == []
        with storage.upload("lumiai-next.sql.zst") as upload:
            upload.write(b"the next backup works")
    assert [o.name for o in storage.objects()] == ["lumiai-next.sql.zst"]
    assert keys(s3_place) == ["backups/production/lumiai-next.sql.zst"]


def test_remove_leftovers_spares_this_runs_live_upload(s3_place: S3Place) -> None:
    storage = S3Storage(s3_place.url)
    with storage.lock(wait=False), storage.upload("lumiai-live.sql.zst") as upload:
        upload.write(b"x" * 1000)
        assert storage.remove_leftovers() == []
        assert incomplete(s3_place) == ["backups/production/lumiai-live.sql.zst"]
    assert [o.name for o in storage.objects()] == ["lumiai-live.sql.zst"]


# --- listing, reading, writing --------------------------------------------------------------


def test_listing_600_objects_pages_and_keeps_to_the_folder(s3_place: S3Place) -> None:
    admin = s3_place.server.client()
    base = s3_place.prefix
    names = [f"lumiai-{i:04d}.sql.zst" for i in range(600)]
    extra = [
        f"{base}/safety/lumiai-s.sql.zst",
        f"{base}/.lumidb-backup.lock",
        f"{base}/deeper/x/y.sql",
        f"{base}/",  # a console's "folder" marker
        f"{base}-other/lumiai-0001.sql.zst",
        "lumiai-outside.sql.zst",
    ]
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda key: admin.put_object(Bucket=s3_place.bucket, Key=key, Body=b"12345"),
                [f"{base}/{n}" for n in names] + extra,
            )
        )
    storage = S3Storage(s3_place.url)
    storage.list_page_size = 100
    listed = storage.objects()
    assert sorted(o.name for o in listed) == names
    assert all(o.size == 5 and o.modified.tzinfo is not None for o in listed)
    assert [o.name for o in storage.objects("safety")] == ["safety/lumiai-s.sql.zst"]
    assert storage.objects("missing") == []


def test_small_objects_are_written_replaced_read_and_limited(s3_place: S3Place) -> None:
    storage = S3Storage(s3_place.url)
    name = "lumiai-1.sql.zst.manifest.json"
    storage.write_small(name, b'{"v": 1}')
    storage.write_small(name, b'{"v": 2}')
    assert storage.read_small(name) == b'{"v": 2}'
    assert storage.read_small(name, limit=3) is None
    assert storage.read_small("missing.manifest.json") is None
    assert storage.local_path(name) is None
    [stored] = storage.objects()
    assert isinstance(stored, StoredObject) and stored.size == 8
    storage.delete(name)
    storage.delete(name)  # a missing object is not an error
    assert keys(s3_place) == []


def test_reading_a_missing_object_or_a_name_outside_is_a_usage_error(s3_place: S3Place) -> None:
    storage = S3Storage(s3_place.url)
    with pytest.raises(UsageError, match="not found"):
        storage.open_read("lumiai-none.sql.zst")
    for name in ("../escape.sql", "a//b", "/abs.sql"):
        with pytest.raises(UsageError, match="not a name inside"):
            storage.write_small(name, b"x")


# --- the lock --------------------------------------------------------------------------------


def test_a_held_lock_refuses_a_second_run_naming_the_holder(s3_place: S3Place) -> None:
    first = S3Storage(s3_place.url, lease=timedelta(seconds=30))
    second = S3Storage(s3_place.url, lease=timedelta(seconds=30))
    with first.lock(wait=False):
        lock_key = f"{s3_place.prefix}/{LOCK_NAME}"
        assert lock_key in keys(s3_place)
        body = json.loads(
            s3_place.server.client().get_object(Bucket=s3_place.bucket, Key=lock_key)["Body"].read()
        )
        assert body["holder"].endswith(f"pid {os.getpid()}")
        with pytest.raises(RefusedError) as caught, second.lock(wait=False):
            pass
        assert caught.value.exit_code == exit_codes.REFUSED
        assert f"pid {os.getpid()}" in caught.value.message
        assert "--wait" in str(caught.value)
        with second.lock("safety", wait=False):  # another folder, another lock
            pass
        assert first.objects() == []  # the lock object is not a backup
    assert keys(s3_place) == []  # released: deleted


def test_a_waiting_run_gets_the_lock_when_the_holder_releases(s3_place: S3Place) -> None:
    first = S3Storage(s3_place.url)
    second = S3Storage(s3_place.url, lock_poll_interval=0.1)
    order: list[str] = []
    holding = threading.Event()

    def hold() -> None:
        with first.lock(wait=False):
            holding.set()
            time.sleep(0.8)
            order.append("first done")

    thread = threading.Thread(target=hold)
    thread.start()
    holding.wait(10)
    with second.lock(wait=True):
        order.append("second has it")
    thread.join()
    assert order == ["first done", "second has it"]


def test_a_live_holder_renews_its_lease_and_a_dead_ones_is_taken_over(s3_place: S3Place) -> None:
    live = S3Storage(s3_place.url, lease=timedelta(seconds=1))
    other = S3Storage(s3_place.url, lease=timedelta(seconds=1), lock_poll_interval=0.2)
    with live.lock(wait=False):
        for _ in range(5):  # 2.5 s: well past the lease, renewed all along
            with pytest.raises(RefusedError), other.lock(wait=False):
                pass
            time.sleep(0.5)
    # A holder that died: its lock object stays, with a 1 s lease nobody renews.
    lock_key = f"{s3_place.prefix}/{LOCK_NAME}"
    dead = json.dumps({"holder": "old-host pid 4242\x1b[31m", "lease_seconds": 1}).encode()
    s3_place.server.client().put_object(Bucket=s3_place.bucket, Key=lock_key, Body=dead)
    with pytest.raises(RefusedError) as caught, other.lock(wait=False):
        pass
    assert "old-host pid 4242?[31m" in caught.value.message  # no escape reaches a terminal
    started = time.monotonic()
    with other.lock(wait=True):
        assert 0.5 < time.monotonic() - started < 10
    assert keys(s3_place) == []


def test_a_holder_that_lost_its_lock_publishes_nothing(s3_place: S3Place) -> None:
    storage = S3Storage(s3_place.url, lease=timedelta(seconds=1))
    lock_key = f"{s3_place.prefix}/{LOCK_NAME}"
    admin = s3_place.server.client()
    with (
        pytest.raises(OperationError, match="lost the lock"),
        storage.lock(wait=False),
        storage.upload("lumiai-stalled.sql.zst") as upload,
    ):
        upload.write(b"data")
        # Another run took the lock over (as after a stall longer than the lease).
        admin.put_object(Bucket=s3_place.bucket, Key=lock_key, Body=b'{"holder": "other"}')
        time.sleep(0.8)  # the next renewal finds it
    assert keys(s3_place) == [lock_key]  # the other run's lock stays; no backup published
    assert incomplete(s3_place) == []


def test_a_paused_holder_whose_lock_was_taken_over_publishes_and_deletes_nothing(
    s3_place: S3Place,
) -> None:
    paused = S3Storage(s3_place.url, lease=timedelta(seconds=2), lock_poll_interval=0.1)
    other = S3Storage(s3_place.url, lease=timedelta(seconds=2), lock_poll_interval=0.1)
    other.write_small("theirs.manifest.json", b"{}")
    with paused.lock(wait=False):
        held = paused._locks[""]
        held._stop.set()  # the renewer stalls (as after SIGSTOP or a VM pause) ...
        assert held._renewer is not None
        held._renewer.join()
        time.sleep(3)  # ... longer than the lease, and nobody has noticed yet
        assert not held.lost
        with other.lock(wait=False):
            for act in (
                lambda: paused.write_small("mine.manifest.json", b"{}"),
                lambda: paused.delete("theirs.manifest.json"),
            ):
                with pytest.raises(OperationError, match="lost the lock"):
                    act()
            held.last_renewed = time.monotonic()  # even a fresh-looking lease: the ETag says
            with pytest.raises(OperationError, match="lost the lock"):
                paused.write_small("mine.manifest.json", b"{}")
    assert keys(s3_place) == [f"{s3_place.prefix}/theirs.manifest.json"]


def test_a_planted_lock_claims_no_longer_lease_than_lumidb_gives(s3_place: S3Place) -> None:
    lock_key = f"{s3_place.prefix}/{LOCK_NAME}"
    year = json.dumps({"holder": "planted", "lease_seconds": 10**9}).encode()
    s3_place.server.client().put_object(Bucket=s3_place.bucket, Key=lock_key, Body=year)
    storage = S3Storage(s3_place.url)
    with pytest.raises(RefusedError) as caught, storage.lock(wait=False):
        pass
    left = int(caught.value.message.split("lease ends in ")[1].split("s")[0])
    assert 0 < left <= 2 * 5 * 60 + 1
    assert f"delete the lock object {s3_place.url}/{LOCK_NAME}" in (caught.value.hint or "")


# --- errors, without secrets ------------------------------------------------------------------


def errors_of(storage: S3Storage) -> list[LumidbError]:
    """What each operation raises against a location that cannot work."""
    found: list[LumidbError] = []
    attempts = [
        storage.objects,
        storage.prepare,
        lambda: storage.write_small("m.json", b"{}"),
        lambda: storage.open_read("x.sql"),
        lambda: storage.upload("x.sql").__enter__(),
        lambda: storage.lock(wait=False).__enter__(),
    ]
    for attempt in attempts:
        with pytest.raises(LumidbError) as caught:
            attempt()
        found.append(caught.value)
    return found


def assert_no_secret(errors: list[LumidbError], *secrets: str) -> None:
    for error in errors:
        text = f"{error} {error!r} {error.hint}"
        for secret in secrets:
            assert secret not in text, text
        assert "Signature=" not in text and "X-Amz-" not in text and "StringToSign" not in text


def test_wrong_secret_is_an_operation_error_without_the_secret(
    s3_place: S3Place, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "wrongSecretKeyThatMustNeverBePrinted0000"
    env = s3_place.server.write_aws_files(s3_place.aws_dir, secret_key=wrong)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", env["AWS_SHARED_CREDENTIALS_FILE"])
    errors = errors_of(S3Storage(s3_place.url))
    assert all(e.exit_code == exit_codes.FAILED for e in errors)
    assert all("refused the AWS credentials" in e.message for e in errors), errors
    assert "SignatureDoesNotMatch" in errors[0].message
    assert_no_secret(errors, wrong, s3_place.server.access_key, s3_place.server.secret_key)


def test_unknown_access_key_is_an_operation_error(
    s3_place: S3Place, monkeypatch: pytest.MonkeyPatch
) -> None:
    unknown = "AKIAUNKNOWNKEY000000"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", unknown)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "someSecretValue1234567890")
    errors = errors_of(S3Storage(s3_place.url))
    assert all(isinstance(e, OperationError) for e in errors)
    assert "InvalidAccessKeyId" in errors[0].message
    assert_no_secret(errors, unknown, "someSecretValue1234567890")


def test_missing_credentials_say_how_to_configure_them(
    s3_place: S3Place, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = s3_place.aws_dir / "empty"
    empty.write_text("")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    [error, *_] = errors_of(S3Storage(s3_place.url))
    assert isinstance(error, OperationError)
    assert "no AWS credentials found" in error.message and "AWS_PROFILE" in str(error)


def test_a_missing_bucket_is_named(s3_place: S3Place) -> None:
    errors = errors_of(S3Storage("s3://lumidb-no-such-bucket/x"))
    assert all(isinstance(e, OperationError) for e in errors)
    assert all("'lumidb-no-such-bucket' does not exist" in e.message for e in errors), errors
    assert_no_secret(errors, s3_place.server.access_key, s3_place.server.secret_key)


def test_an_unreachable_endpoint_is_an_operation_error(
    s3_place: S3Place, monkeypatch: pytest.MonkeyPatch
) -> None:
    from s3server import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://user:pw@127.0.0.1:{free_port()}/")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    storage = S3Storage(s3_place.url)
    with pytest.raises(OperationError) as caught:
        storage.objects()
    assert "cannot reach the S3 endpoint http://127.0.0.1:" in caught.value.message
    assert "pw" not in str(caught.value)


def test_an_unknown_profile_is_a_usage_error(
    s3_place: S3Place, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    with pytest.raises(UsageError, match="no-such-profile"):
        S3Storage(s3_place.url).objects()


# --- checks for doctor and check-store ---------------------------------------------------------


def test_the_read_only_check_reports_without_writing(s3_place: S3Place) -> None:
    storage = S3Storage(s3_place.url)
    storage.write_small("lumiai-1.sql.zst", b"x")
    before = keys(s3_place)
    report = inspect_s3_store(storage, now=NOW)
    assert report.ok and report.reachable and report.listable
    assert report.credentials == "shared credentials file"
    assert report.region == "us-east-1"
    assert (report.versioning, report.object_lock, report.stale_uploads) == (None, None, ())
    assert report.problems == ()
    assert keys(s3_place) == before and incomplete(s3_place) == []


def test_the_read_only_check_reports_versioning_and_object_lock(s3_place: S3Place) -> None:
    admin = s3_place.server.client()
    bucket = s3_place.server.new_bucket(ObjectLockEnabledForBucket=True)
    admin.put_object_lock_configuration(
        Bucket=bucket,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 30}},
        },
    )
    report = inspect_s3_store(S3Storage(f"s3://{bucket}/p"), now=NOW)
    assert report.ok
    assert report.versioning == "Enabled"
    assert report.object_lock == "Enabled (GOVERNANCE, 30 days)"
    assert [p.fatal for p in report.problems] == [False, False]


def test_the_read_only_check_names_what_is_wrong(
    s3_place: S3Place, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = inspect_s3_store(S3Storage("s3://lumidb-no-such-bucket/x"), now=NOW)
    assert (missing.ok, missing.reachable, missing.listable) == (False, True, False)
    assert "'lumidb-no-such-bucket' does not exist" in missing.problems[0].message

    from s3server import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    unreachable = inspect_s3_store(S3Storage(s3_place.url), now=NOW)
    assert (unreachable.ok, unreachable.reachable) == (False, False)

    empty = s3_place.aws_dir / "empty"
    empty.write_text("")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    nothing = inspect_s3_store(S3Storage(s3_place.url), now=NOW)
    assert nothing.credentials is None and not nothing.ok
    assert "no AWS credentials found" in nothing.problems[0].message


def test_the_write_probe_checks_everything_and_leaves_nothing(s3_place: S3Place) -> None:
    storage = S3Storage(s3_place.url)
    probe = probe_s3_store(storage)
    assert probe.ok, probe.steps
    assert len(probe.steps) == 6
    assert any("If-None-Match" in step.what for step in probe.steps)
    assert keys(s3_place) == [] and incomplete(s3_place) == []

    failed = probe_s3_store(S3Storage("s3://lumidb-no-such-bucket/x"))
    assert not failed.ok and len(failed.steps) == 1
    assert "does not exist" in failed.steps[0].detail


def test_the_location_problem_and_prepare(s3_place: S3Place) -> None:
    assert S3Storage(s3_place.url).problem() is None
    assert S3Storage(s3_place.url).prepare("safety") == []
    problem = S3Storage("s3://lumidb-no-such-bucket/x").problem()
    assert problem is not None and problem.fatal and "does not exist" in problem.message
