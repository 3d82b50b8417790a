"""``doctor`` looks at a bucket without writing; ``backups check-store`` writes a probe.

Against moto on loopback with standard AWS files; no secret may appear in any output.
"""

from __future__ import annotations

import json
from pathlib import Path

from conftest import Cli, S3Place

from lumidb.connection import DatabaseTarget


def everything(place: S3Place) -> tuple[list[str], list[str]]:
    """Every key in the bucket and every incomplete upload: what a check may have left."""
    client = place.server.client()
    objects = client.list_objects_v2(Bucket=place.bucket).get("Contents", [])
    uploads = client.list_multipart_uploads(Bucket=place.bucket).get("Uploads", [])
    return sorted(o["Key"] for o in objects), sorted(u["UploadId"] for u in uploads)


def no_secrets(place: S3Place, *texts: str) -> None:
    for text in texts:
        assert place.server.secret_key not in text and place.server.access_key not in text


def location_checks(doc: dict[str, object]) -> list[dict[str, object]]:
    checks = doc["checks"]
    assert isinstance(checks, list)
    return [c for c in checks if c["name"] == "backup location"]


def test_doctor_reports_a_bucket_without_writing(
    cli: Cli, db: DatabaseTarget, s3_place: S3Place
) -> None:
    cli.use(db)
    cli.setenv("LUMIDB_BACKUP_DIR", s3_place.url)
    client = s3_place.server.client()
    stale = client.create_multipart_upload(Bucket=s3_place.bucket, Key=f"{s3_place.prefix}/x.sql")
    before = everything(s3_place)
    run = cli("doctor", "--json")
    assert run.exit_code == 0, run.stdout + run.stderr
    [main, *warnings] = location_checks(json.loads(run.stdout))
    assert main["ok"] is True
    detail = str(main["detail"])
    assert s3_place.url in detail and "credentials from shared credentials file" in detail
    assert "versioning off" in detail and "1 incomplete upload(s)" in detail
    # moto dates every upload in 2010: older than a day, so doctor warns (and says the fix)
    assert any("incomplete upload" in str(w["detail"]) and w["warning"] for w in warnings)
    assert everything(s3_place) == before  # nothing written, nothing aborted
    no_secrets(s3_place, run.stdout, run.stderr)
    human = cli("doctor")
    assert "backup location" in human.stdout and "AbortIncompleteMultipartUpload" in human.stdout
    client.abort_multipart_upload(
        Bucket=s3_place.bucket, Key=f"{s3_place.prefix}/x.sql", UploadId=stale["UploadId"]
    )


def test_doctor_fails_on_a_missing_bucket_or_wrong_credentials(
    cli: Cli, db: DatabaseTarget, s3_place: S3Place
) -> None:
    cli.use(db)
    cli.setenv("LUMIDB_BACKUP_DIR", "s3://lumidb-no-such-bucket/x")
    run = cli("doctor", "--json")
    assert run.exit_code == 1
    [check] = location_checks(json.loads(run.stdout))
    assert check["ok"] is False and "'lumidb-no-such-bucket' does not exist" in str(check["detail"])
    cli.setenv("LUMIDB_BACKUP_DIR", s3_place.url)
    wrong = "wrongSecretKeyThatMustNeverBePrinted0000"
    env = s3_place.server.write_aws_files(s3_place.aws_dir / "wrong", secret_key=wrong)
    cli.setenv("AWS_SHARED_CREDENTIALS_FILE", env["AWS_SHARED_CREDENTIALS_FILE"])
    run = cli("doctor")
    assert run.exit_code == 1 and "refused the AWS credentials" in run.stdout
    assert wrong not in run.stdout + run.stderr
    no_secrets(s3_place, run.stdout, run.stderr)


def test_check_store_probes_a_bucket_and_leaves_nothing(cli: Cli, s3_place: S3Place) -> None:
    run = cli("backups", "check-store", "--from", s3_place.url, "--json")
    assert run.exit_code == 0, run.stdout + run.stderr
    doc = json.loads(run.stdout)
    assert doc["version"] == 1 and doc["kind"] == "store_check_report" and doc["ok"] is True
    steps = [s["what"] for s in doc["steps"]]
    assert "write a probe object" in steps and "delete it" in steps
    assert any("If-None-Match" in s for s in steps)
    assert everything(s3_place) == ([], [])
    no_secrets(s3_place, run.stdout, run.stderr)
    human = cli("backups", "check-store", "--from", s3_place.url)
    assert "the backup location works" in human.stdout


def test_check_store_exits_1_when_a_step_fails(cli: Cli, s3_place: S3Place) -> None:
    run = cli("backups", "check-store", "--from", "s3://lumidb-no-such-bucket/x")
    assert run.exit_code == 1
    assert "'lumidb-no-such-bucket' does not exist" in run.stdout
    assert "failed a check" in run.stderr


def test_check_store_on_a_folder_says_what_it_checked(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "new" / "backups"
    run = cli("backups", "check-store", "--from", str(folder), "--json")
    assert run.exit_code == 0, run.stdout + run.stderr
    doc = json.loads(run.stdout)
    assert doc["where"] == "this machine" and doc["location"] == str(folder)
    assert [s["what"] for s in doc["steps"]] == [
        "use the folder (created 0700 if missing)",
        "take and release the backup lock",
        "write a probe file",
        "read it back",
        "delete it",
    ]
    assert folder.stat().st_mode & 0o777 == 0o700
    assert [p.name for p in folder.iterdir()] == [".lumidb-backup.lock"]
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("x")
    failed = cli("backups", "check-store", "--from", str(not_a_folder))
    assert failed.exit_code == 1 and "✗" in failed.stdout and "not a directory" in failed.stdout
