"""Regressions from the attacker review of the bucket work: planted manifests, other servers'
backups, bad endpoints, stale locks (each once failed)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from conftest import Cli, S3Place
from test_s3_backup import bucket_env as bucket_env
from test_s3_backup import keys, made_backup, plant

from lumidb.connection import DatabaseTarget


def test_keep_never_deletes_another_servers_backup_of_the_same_name(
    cli: Cli, db: DatabaseTarget, bucket_env: S3Place
) -> None:
    name, data, manifest = made_backup(cli, bucket_env)
    other = "lumiai-20251101T000000.000Z.sql"
    plant(
        bucket_env,
        other,
        data,
        dict(
            manifest, file=other, host="prod.example", port=5432, started_at="2025-11-01T00:00:00Z"
        ),
    )
    run = cli("backup", "--compress", "none", "--keep", "1", "--json")
    assert run.exit_code == 0, run.stderr
    assert [p.rsplit("/", 1)[1] for p in json.loads(run.stdout)["pruned"]] == [name]
    assert other in keys(bucket_env) and name not in keys(bucket_env)


def test_restore_latest_takes_only_a_backup_it_should(
    cli: Cli, db: DatabaseTarget, bucket_env: S3Place
) -> None:
    name, data, manifest = made_backup(cli, bucket_env)
    plants = {  # each newer than the real one, each not to be restored by default
        "lumiai-20991231T000000.000Z.sql": {"host": "elsewhere.example", "port": 1},
        "lumiai-20980101T000000.000Z.sql": {"started_at": "2098-01-01T00:00:00Z"},
        "safety/lumiai-20970101T000000.000Z.sql": {"kind": "backup"},
        "lumiai-20960101T000000.000Z.sql": {"kind": "safety"},
        "lumiai-20950101T000000.000Z.sql": {"file": "../../etc/passwd"},
    }
    real = datetime.fromisoformat(manifest["started_at"].replace("Z", "+00:00"))
    newer = (real + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    for planted, claims in plants.items():
        started = claims.get("started_at", newer)
        base = planted.rsplit("/", 1)[-1]
        plant(bucket_env, planted, data, dict(manifest, file=base, started_at=started) | claims)
    run = cli("restore-latest", "--dry-run", "--json")
    assert run.exit_code == 0, run.stderr
    assert json.loads(run.stdout)["file"] == f"{bucket_env.url}/{name}"
    assert "in the future" in run.stderr
    # asked for by name, another server's backup of that name is fine
    chosen = cli("restore-latest", "--dry-run", "--json", "--from-database", db.dbname)
    assert chosen.exit_code == 0, chosen.stderr
    assert json.loads(chosen.stdout)["file"].endswith("/lumiai-20991231T000000.000Z.sql")
    # backup --keep never deletes the real ones in favour of a future-dated one
    kept = cli("backup", "--compress", "none", "--keep", "1", "--json")
    assert kept.exit_code == 0, kept.stderr
    assert [p.rsplit("/", 1)[1] for p in json.loads(kept.stdout)["pruned"]] == [name]
    dry = cli("backups", "prune", "--keep-last", "1", "--dry-run", "--json")
    assert dry.exit_code == 0, dry.stderr
    assert json.loads(dry.stdout)["delete"] == []


def test_a_file_given_as_a_folder_is_exit_2(cli: Cli, db: DatabaseTarget, tmp_path: Path) -> None:
    cli.use(db)
    afile = tmp_path / "afile"
    afile.write_text("x")
    for args in (
        ["backups", "list", "--from", str(afile)],
        ["restore-latest", "--yes", "--from", str(afile)],
    ):
        run = cli(*args)
        assert run.exit_code == 2, (args, run.stderr)
        assert f"{afile} is not a folder" in run.stderr
        assert len(run.stderr.strip().splitlines()) <= 2 and "Traceback" not in run.stderr


@pytest.mark.parametrize("endpoint", ["notaurl-s3cr3t", "http://[bad:s3cr3t"])
def test_an_invalid_endpoint_url_is_one_line_without_its_value(
    cli: Cli, db: DatabaseTarget, bucket_env: S3Place, endpoint: str
) -> None:
    cli.setenv("AWS_ENDPOINT_URL", endpoint)
    for args in (["backup"], ["backups", "list", "--json"]):
        run = cli(*args)
        assert run.exit_code == 2, (args, run.stderr)
        assert "AWS_ENDPOINT_URL (or endpoint_url) is not a valid URL" in run.stderr
        assert "s3cr3t" not in run.stdout + run.stderr and "Traceback" not in run.stderr
    doctor = cli("doctor", "--json")
    assert "s3cr3t" not in doctor.stdout + doctor.stderr and "Traceback" not in doctor.stderr
    failed = [c for c in json.loads(doctor.stdout)["checks"] if not c["ok"]]
    assert len(failed) == 1 and "not a valid URL" in json.dumps(failed), failed


def test_odd_names_and_huge_manifests_are_warned_about_never_shown_raw(
    cli: Cli, db: DatabaseTarget, bucket_env: S3Place
) -> None:
    name, data, manifest = made_backup(cli, bucket_env)
    for odd in ("x\x1b[31mRED\x1b[0m.sql", "\u202eevil.sql", "bell\x07.sql"):
        plant(bucket_env, odd, data, dict(manifest, file=odd))
    client = bucket_env.server.client()
    client.put_object(Bucket=bucket_env.bucket, Key=f"{bucket_env.prefix}/big.sql", Body=data)
    huge = b" " * (3 << 20) + json.dumps(dict(manifest, file="big.sql")).encode()
    client.put_object(
        Bucket=bucket_env.bucket, Key=f"{bucket_env.prefix}/big.sql.manifest.json", Body=huge
    )
    run = cli("backups", "list")
    assert run.exit_code == 0, run.stderr
    assert "\x1b" not in run.stdout + run.stderr and "\u202e" not in run.stdout + run.stderr
    assert "\x07" not in run.stdout + run.stderr
    assert "skipped big.sql: its manifest is unreadable or too large" in run.stderr
    assert run.stderr.count("its name has control characters") == 3
    listed = json.loads(cli("backups", "list", "--json").stdout)["backups"]
    assert [b["file"].rsplit("/", 1)[1] for b in listed] == [name]
