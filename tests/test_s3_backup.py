"""Backups in an S3 bucket through the CLI: moto on loopback, standard AWS files, real pg_dump.

Each test gets a fresh bucket (``s3_place``) reached the way a user configures one: AWS
config and credentials files and ``AWS_ENDPOINT_URL``, nothing lumidb-specific besides
the ``s3://`` location.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import LUMIDB, Cli, S3Place, clean_env, url_of
from test_restore import change, seed, snapshot, sql

from lumidb.connection import DatabaseTarget
from lumidb.storage.s3 import S3Storage


def keys(place: S3Place) -> list[str]:
    """Every object key under the location, as the administrator sees them."""
    reply = place.server.client().list_objects_v2(Bucket=place.bucket, Prefix=place.prefix + "/")
    return sorted(item["Key"][len(place.prefix) + 1 :] for item in reply.get("Contents", []))


def made_backup(cli: Cli, place: S3Place) -> tuple[str, bytes, dict[str, Any]]:
    """A real backup in the bucket: its name, data and manifest."""
    run = cli("backup", "--compress", "none", "--json")
    assert run.exit_code == 0, run.stderr
    name = json.loads(run.stdout)["path"].rsplit("/", 1)[1]
    client = place.server.client()
    key = f"{place.prefix}/{name}"
    data = client.get_object(Bucket=place.bucket, Key=key)["Body"].read()
    body = client.get_object(Bucket=place.bucket, Key=key + ".manifest.json")["Body"].read()
    return name, data, json.loads(body)


def plant(place: S3Place, name: str, data: bytes, manifest: dict[str, Any]) -> None:
    """``data`` stored as backup ``name`` with a manifest that matches it (size, SHA-256)."""
    client = place.server.client()
    client.put_object(Bucket=place.bucket, Key=f"{place.prefix}/{name}", Body=data)
    client.put_object(
        Bucket=place.bucket,
        Key=f"{place.prefix}/{name}.manifest.json",
        Body=json.dumps(dict(manifest, sha256=hashlib.sha256(data).hexdigest(), size=len(data))),
    )


def uploads(place: S3Place) -> list[str]:
    reply = place.server.client().list_multipart_uploads(Bucket=place.bucket)
    return [item["Key"] for item in reply.get("Uploads", [])]


def backups_in(cli: Cli, place: S3Place) -> list[dict[str, Any]]:
    run = cli("backups", "list", "--from", place.url, "--json")
    assert run.exit_code == 0, run.stderr
    listed: list[dict[str, Any]] = json.loads(run.stdout)["backups"]
    return listed


@pytest.fixture
def bucket_env(cli: Cli, db: DatabaseTarget, s3_place: S3Place) -> S3Place:
    """The CLI pointed at the database and, through LUMIDB_BACKUP_DIR, at the bucket."""
    seed(db)
    cli.use(db)
    cli.setenv("LUMIDB_BACKUP_DIR", s3_place.url)
    return s3_place


# --- round trips ---------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["plain", "custom"])
def test_round_trip_through_the_bucket(
    cli: Cli, db: DatabaseTarget, bucket_env: S3Place, fmt: str
) -> None:
    place = bucket_env
    downloads = cli.workdir / "tmp"
    downloads.mkdir()
    cli.monkeypatch.setattr(tempfile, "tempdir", str(downloads))
    before = snapshot(db)
    made = cli("backup", "--format", fmt, "--json")
    assert made.exit_code == 0, made.stderr
    written = json.loads(made.stdout)
    assert written["path"].startswith(place.url + "/")
    name = written["path"].rsplit("/", 1)[1]
    assert keys(place) == [name, name + ".manifest.json"]  # no lock, no temporary left
    manifest = json.loads(
        place.server.client()
        .get_object(Bucket=place.bucket, Key=f"{place.prefix}/{name}.manifest.json")["Body"]
        .read()
    )
    assert manifest["file"] == name and manifest["format"] == fmt
    assert "secret" not in json.dumps(manifest).lower()
    listed = backups_in(cli, place)
    assert [b["file"] for b in listed] == [written["path"]] and listed[0]["checksum"] == "unchecked"
    checked = cli("backups", "list", "--from", place.url, "--check", "--json")
    assert json.loads(checked.stdout)["backups"][0]["checksum"] == "ok"  # read from the bucket

    change(db)
    assert snapshot(db) != before
    restored = cli("restore-latest", "--yes", "--json")
    assert restored.exit_code == 0, restored.stderr
    result = json.loads(restored.stdout)
    assert result["file"] == written["path"]
    assert snapshot(db) == before
    # the safety backup went where the backups are, and the undo names the bucket
    safety = result["safety_backup"]
    assert safety.startswith(place.url + "/safety/")
    assert result["undo_command"] == f"lumidb restore-latest --file {safety}"
    assert any(key.startswith("safety/") for key in keys(place))
    assert list(downloads.glob("lumidb-download-*")) == []  # a custom dump's download is gone

    undo = cli("restore-latest", "--yes", "--no-safety-backup", "--file", safety)
    assert undo.exit_code == 0, undo.stderr
    assert snapshot(db) != before  # back to the changed state


def test_jobs_restore_and_verify_from_the_bucket(
    cli: Cli, db: DatabaseTarget, bucket_env: S3Place
) -> None:
    before = snapshot(db)
    made = cli("backup", "--format", "custom", "--quiet")
    assert made.exit_code == 0, made.stderr
    verified = cli("backups", "verify", "--json")
    assert verified.exit_code == 0, verified.stderr
    assert json.loads(verified.stdout)["checksum_ok"] is True
    change(db)
    run = cli("restore-latest", "--yes", "--jobs", "2")
    assert run.exit_code == 0, run.stderr
    assert snapshot(db) == before


def test_to_and_from_options_override_the_setting(
    cli: Cli, db: DatabaseTarget, s3_place: S3Place
) -> None:
    seed(db)
    cli.use(db)  # LUMIDB_BACKUP_DIR unset: the default folder stays empty
    made = cli("backup", "--to", s3_place.url, "--quiet")
    assert made.exit_code == 0, made.stderr
    assert not (cli.workdir / "backups").exists()
    assert len(backups_in(cli, s3_place)) == 1
    plan = cli("restore-latest", "--from", s3_place.url, "--dry-run", "--json")
    assert plan.exit_code == 0, plan.stderr
    assert json.loads(plan.stdout)["file"].startswith(s3_place.url + "/")


@pytest.mark.parametrize("url", ["s3:/bucket/x", "s3://B!/x", "s3://bucket/../x"])
def test_a_malformed_location_is_exit_2(cli: Cli, db: DatabaseTarget, url: str) -> None:
    cli.use(db)
    for args in (["backup", "--to", url], ["backups", "list", "--from", url]):
        run = cli(*args)
        assert run.exit_code == 2, (args, run.stderr)
        assert "not a valid S3 location" in run.stderr
    cli.setenv("LUMIDB_BACKUP_DIR", url)
    run = cli("backups", "list")
    assert run.exit_code == 2 and "LUMIDB_BACKUP_DIR" in run.stderr, run.stderr


# --- failures --------------------------------------------------------------------------


def test_wrong_credentials_and_a_missing_bucket_are_clear(
    cli: Cli, db: DatabaseTarget, bucket_env: S3Place
) -> None:
    place = bucket_env
    missing = cli("backup", "--to", "s3://lumidb-no-such-bucket/x")
    assert missing.exit_code == 1
    assert "'lumidb-no-such-bucket' does not exist" in missing.stderr, missing.stderr
    wrong = "wrongSecretKeyThatMustNeverBePrinted0000"
    env = place.server.write_aws_files(place.aws_dir / "wrong", secret_key=wrong)
    cli.setenv("AWS_SHARED_CREDENTIALS_FILE", env["AWS_SHARED_CREDENTIALS_FILE"])
    for args in (["backup"], ["backups", "list"], ["restore-latest", "--yes"]):
        run = cli(*args)
        assert run.exit_code == 1, (args, run.stderr)
        assert "refused the AWS credentials" in run.stderr, run.stderr
        assert wrong not in run.stderr + run.stdout
        assert place.server.secret_key not in run.stderr + run.stdout
    assert keys(place) == []


def test_kill_9_mid_upload_counts_nothing_and_the_next_backup_works(
    db: DatabaseTarget, s3_place: S3Place, tmp_path: Path
) -> None:
    # ~40 MB of incompressible rows: several 8 MiB parts, so the kill lands mid-upload
    sql(
        db,
        """CREATE TABLE public.blob AS SELECT g AS id,
        (SELECT string_agg(md5(random()::text || g || i), '') FROM generate_series(1, 24) i)
        AS payload FROM generate_series(1, 52000) g""",
    )
    env = clean_env(DATABASE_URL=url_of(db), LUMIDB_BACKUP_DIR=s3_place.url)
    proc = subprocess.Popen(
        [LUMIDB, "backup", "--compress", "none"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = s3_place.server.client()
    try:
        deadline = time.monotonic() + 60
        sent = False
        while not sent and time.monotonic() < deadline and proc.poll() is None:
            reply = client.list_multipart_uploads(Bucket=s3_place.bucket)
            for upload in reply.get("Uploads", []):
                parts = client.list_parts(
                    Bucket=s3_place.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                )
                sent = sent or bool(parts.get("Parts"))
            time.sleep(0.02)
        assert sent, "no part was uploaded before the backup ended"
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -9
    assert uploads(s3_place), "the killed upload should be left incomplete"
    # nothing counts: no data object (a lone manifest, if the kill came after it, is not one)
    assert [k for k in keys(s3_place) if not k.startswith(".") and "manifest" not in k] == []
    listing = subprocess.run(
        [LUMIDB, "backups", "list", "--json"], cwd=tmp_path, env=env, capture_output=True
    )
    assert json.loads(listing.stdout)["backups"] == []
    # the next backup on this machine takes over the dead holder's lock and clears its upload
    again = subprocess.run(
        [LUMIDB, "backup", "--quiet"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert again.returncode == 0, again.stderr
    assert uploads(s3_place) == []
    assert len([k for k in keys(s3_place) if k.endswith(".manifest.json")]) == 1  # orphan gone
    assert not any(k.startswith(".") for k in keys(s3_place))  # the lock is released


def test_a_second_backup_is_refused_or_waits(
    cli: Cli, db: DatabaseTarget, bucket_env: S3Place
) -> None:
    store = S3Storage(bucket_env.url, lock_poll_interval=0.1)
    with store.lock(wait=False):
        run = cli("backup")
        assert run.exit_code == 3, run.stderr
        assert "another lumidb backup is running" in run.stderr and "--wait" in run.stderr
    holding = threading.Event()
    released: list[float] = []

    def hold() -> None:
        with store.lock(wait=False):
            holding.set()
            time.sleep(1.0)
            released.append(time.monotonic())

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait()
    run = cli("backup", "--wait", "--quiet")
    finished = time.monotonic()
    holder.join()
    assert run.exit_code == 0, run.stderr
    assert finished >= released[0]
    assert len(backups_in(cli, bucket_env)) == 1


def test_prune_and_keep_in_the_bucket(cli: Cli, db: DatabaseTarget, bucket_env: S3Place) -> None:
    for _ in range(3):
        assert cli("backup", "--quiet").exit_code == 0
    assert len(backups_in(cli, bucket_env)) == 3
    kept = cli("backup", "--keep", "2", "--json")
    assert kept.exit_code == 0, kept.stderr
    assert len(json.loads(kept.stdout)["pruned"]) == 2
    assert len(backups_in(cli, bucket_env)) == 2
    dry = cli("backups", "prune", "--keep-last", "1", "--dry-run", "--json")
    assert dry.exit_code == 0 and len(json.loads(dry.stdout)["delete"]) == 1
    assert len(backups_in(cli, bucket_env)) == 2
    pruned = cli("backups", "prune", "--keep-last", "1", "--json")
    assert pruned.exit_code == 0, pruned.stderr
    [deleted] = json.loads(pruned.stdout)["deleted"]
    assert deleted.startswith(bucket_env.url + "/")
    [left] = backups_in(cli, bucket_env)
    assert left["file"] != deleted
    assert len(keys(bucket_env)) == 2  # one pair, nothing else


# --- what is read from the bucket is untrusted ------------------------------------------


def test_a_planted_hostile_object_is_refused_like_a_hostile_file(
    cli: Cli, db: DatabaseTarget, bucket_env: S3Place, tmp_path: Path
) -> None:
    place = bucket_env
    name, data, manifest = made_backup(cli, place)
    client = place.server.client()
    marker = tmp_path / "pwned"
    at = data.index(b"CREATE TABLE public.products")
    hostile = data[:at] + f"\\! touch {marker}\n".encode() + data[at:]
    plant(place, name, hostile, manifest)
    change(db)
    before = snapshot(db)
    for args in (["restore-latest", "--yes"], ["backups", "verify"]):
        run = cli(*args)
        assert run.exit_code == 2, (args, run.stderr)
        assert "meta-command" in run.stderr, run.stderr
        assert not marker.exists()
        assert snapshot(db) == before
    # a planted object without a manifest, or a dot-name, is never a candidate
    client.put_object(
        Bucket=place.bucket, Key=f"{place.prefix}/zzz-20991231T000000.000Z.sql", Body=b"x"
    )
    client.put_object(Bucket=place.bucket, Key=f"{place.prefix}/.hidden.sql", Body=b"x")
    listed = backups_in(cli, place)
    assert [b["file"].rsplit("/", 1)[1] for b in listed if b["backup_kind"] != "safety"] == [name]
