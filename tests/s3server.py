"""A real S3-compatible server for the tests: moto in server mode on loopback, credentials enforced.

The server runs as a child process (``python -m moto.server``) on a free port, so what
it stores never counts against the memory of the process under test. It starts with
authentication off just long enough to create an IAM user with an access key allowed
``s3:*``; from then on every request must be signed with that key, so wrong credentials
fail as they do on AWS (``InvalidAccessKeyId``, ``SignatureDoesNotMatch``).

Tests reach it the standard AWS way: a config and a credentials file in a folder of the
test (``AWS_CONFIG_FILE``, ``AWS_SHARED_CREDENTIALS_FILE``) and ``AWS_ENDPOINT_URL``.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any, Self

HOST = "127.0.0.1"
REGION = "us-east-1"
START_TIMEOUT_S = 30
# Every variable that could point boto3 somewhere else than the test server.
AWS_SETTINGS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CA_BUNDLE",
    "AWS_MAX_ATTEMPTS",
    "AWS_RETRY_MODE",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class S3TestServer:
    """moto's S3 on 127.0.0.1 with one IAM user whose key the tests use."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="lumidb-s3-"))
        self.port = free_port()
        self.endpoint = f"http://{HOST}:{self.port}"
        self.access_key = ""
        self.secret_key = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._admin: Any = None

    def __enter__(self) -> Self:
        log = (self.folder / "moto.log").open("wb")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(self.port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        log.close()
        self._wait_until_up()
        self._create_user()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert self._process is not None
            if self._process.poll() is not None:
                log = (self.folder / "moto.log").read_text(errors="replace")
                raise RuntimeError(f"moto server exited at start:\n{log[-2000:]}")
            try:
                self._request("GET", "/moto-api/data.json")
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def _create_user(self) -> None:
        """An IAM user allowed s3:*, then authentication on for every later request."""
        iam = self._new_client("iam", access_key="AKIASETUP0000000000", secret_key="setup")
        iam.create_user(UserName="lumidb-tests")
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
        }
        iam.put_user_policy(
            UserName="lumidb-tests", PolicyName="s3", PolicyDocument=json.dumps(policy)
        )
        key = iam.create_access_key(UserName="lumidb-tests")["AccessKey"]
        self.access_key, self.secret_key = key["AccessKeyId"], key["SecretAccessKey"]
        self._request("POST", "/moto-api/reset-auth", b"0")

    def _request(self, method: str, path: str, body: bytes | None = None) -> None:
        """One request to moto's own API (not S3); OSError when it does not answer 200."""
        connection = http.client.HTTPConnection(HOST, self.port, timeout=10)
        try:
            connection.request(method, path, body=body, headers={"Content-Type": "text/plain"})
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise OSError(f"moto answered {response.status} to {method} {path}")
        finally:
            connection.close()

    def client(self) -> Any:
        """The tests' own S3 client (the administrator's view), not configured from the env."""
        if self._admin is None:
            self._admin = self._new_client("s3")
        return self._admin

    def _new_client(self, service: str, *, access_key: str = "", secret_key: str = "") -> Any:
        import boto3
        from botocore.config import Config

        return boto3.session.Session(
            aws_access_key_id=access_key or self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            region_name=REGION,
        ).client(
            service,
            endpoint_url=self.endpoint,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )

    def new_bucket(self, **options: Any) -> str:
        name = f"lumidb-test-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name, **options)
        return name

    def write_aws_files(
        self, folder: Path, *, access_key: str = "", secret_key: str = "", extra_config: str = ""
    ) -> dict[str, str]:
        """Standard AWS config and credentials files in ``folder``; the variables that use them."""
        folder.mkdir(parents=True, exist_ok=True)
        config = folder / "config"
        credentials = folder / "credentials"
        config.write_text(f"[default]\nregion = {REGION}\n{extra_config}")
        credentials.write_text(
            "[default]\n"
            f"aws_access_key_id = {access_key or self.access_key}\n"
            f"aws_secret_access_key = {secret_key or self.secret_key}\n"
        )
        credentials.chmod(0o600)
        return {
            "AWS_CONFIG_FILE": str(config),
            "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
