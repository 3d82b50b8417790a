"""Regressions from the attacker review of the bucket work: planted manifests, other servers'
backups, bad endpoints, stale locks (each once failed)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from conftest import Cli, S3Place
from test_s3_backup import bucket_env as bucket_env
from test_s3_backup import keys

from lumidb.connection import DatabaseTarget


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
    client = place.server.client()
    client.put_object(Bucket=place.bucket, Key=f"{place.prefix}/{name}", Body=data)
    client.put_object(
        Bucket=place.bucket,
        Key=f"{place.prefix}/{name}.manifest.json",
        Body=json.dumps(dict(manifest, sha256=hashlib.sha256(data).hexdigest(), size=len(data))),
    )


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
