"""How lumidb reaches an S3 bucket: the ``s3://`` form, one boto3 client, errors as lumidb errors.

Everything about credentials, endpoints and regions is boto3's own configuration (the
environment, the shared credentials and config files, profiles, ``AWS_ENDPOINT_URL``),
so MinIO, R2 or Ceph need nothing lumidb-specific besides the location. boto3 is
imported here, inside functions, so ``lumidb --help`` does not pay for it.

No message built here carries a secret: access keys, secret keys, session tokens and
signatures are never quoted, and the few words taken from a server's error reply are
scrubbed of anything that looks like one.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from lumidb.errors import LumidbError, OperationError, UsageError

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

S3_SCHEME = "s3://"
S3_URL_FORM = "s3://BUCKET/PREFIX (for example s3://lumiai-backups/production)"
CONNECT_TIMEOUT_S = 10
READ_TIMEOUT_S = 60

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IP_LIKE = re.compile(r"\d+\.\d+\.\d+\.\d+")
_CREDENTIAL_CODES = frozenset(
    {
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidToken",
        "ExpiredToken",
        "TokenRefreshRequired",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
    }
)
_MISSING_BUCKET_CODES = frozenset({"NoSuchBucket"})
_DENIED_CODES = frozenset({"AccessDenied", "AllAccessDisabled", "403"})
_REGION_CODES = frozenset({"PermanentRedirect", "AuthorizationHeaderMalformed", "301"})
# Anything in a server's words that could be a credential or a signature.
_SECRET_LOOKING = re.compile(
    r"(?i)(signature|credential|token|secret|key)[^\s,;]*[=:]\s*\S+|[A-Za-z0-9/+=]{32,}|\bA[SK]IA[A-Z0-9]{12,}\b"
)

T = TypeVar("T")


@dataclass(frozen=True)
class S3Location:
    """A bucket and a key prefix (``""`` or ``a/b``: no leading or trailing slash)."""

    bucket: str
    prefix: str

    @property
    def url(self) -> str:
        return (
            f"{S3_SCHEME}{self.bucket}/{self.prefix}"
            if self.prefix
            else f"{S3_SCHEME}{self.bucket}"
        )

    def key(self, name: str) -> str:
        """The object key of ``name`` (``""`` is the prefix itself, as a folder)."""
        check_name(name, self.url)
        if not self.prefix:
            return name
        return f"{self.prefix}/{name}" if name else self.prefix

    def folder_prefix(self, folder: str) -> str:
        """The key prefix of the objects directly in ``folder`` (ends with ``/`` unless empty)."""
        base = self.key(folder)
        return f"{base}/" if base else ""


_preloading: list[threading.Thread] = []


def preload() -> None:
    """Start importing boto3 in the background (once): a command that names a bucket will
    need it, and the import then overlaps with the command's other start-up work."""

    def load() -> None:
        with suppress(ImportError):
            import boto3  # noqa: F401
            import botocore.client  # noqa: F401

    if not _preloading:
        _preloading.append(threading.Thread(target=load, name="lumidb-boto3", daemon=True))
        _preloading[0].start()


def is_s3_url(location: str) -> bool:
    """Whether a backup location names a bucket rather than a folder."""
    return location[: len(S3_SCHEME)].lower() == S3_SCHEME


def parse_s3_url(text: str) -> S3Location:
    """``s3://bucket/prefix`` as an ``S3Location``; ``UsageError`` (exit 2) naming the form."""

    def bad(reason: str) -> UsageError:
        # A location with credentials in it is never echoed.
        shown = "the S3 location" if "@" in text else repr(text)
        return UsageError(
            f"{shown} is not a valid S3 location: {reason}", hint=f"expected {S3_URL_FORM}"
        )

    if not is_s3_url(text):
        raise bad("it does not start with s3://")
    rest = text[len(S3_SCHEME) :]
    bucket, _, prefix = rest.partition("/")
    if "@" in bucket or ":" in bucket:
        raise bad(
            "it holds credentials or a port; configure credentials and endpoints the AWS way "
            "(AWS_PROFILE, the shared credentials file, AWS_ENDPOINT_URL)"
        )
    if any(ch in text for ch in "?#\\") or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        raise bad("it holds '?', '#', a backslash or a control character")
    if not bucket:
        raise bad("the bucket name is missing")
    if not _BUCKET.fullmatch(bucket) or ".." in bucket or _IP_LIKE.fullmatch(bucket):
        raise bad(
            f"{bucket!r} is not a bucket name (3 to 63 lowercase letters, digits, dots and "
            "hyphens, starting and ending with a letter or digit)"
        )
    prefix = prefix.rstrip("/")
    if prefix and any(part in ("", ".", "..") for part in prefix.split("/")):
        raise bad("the prefix has an empty, '.' or '..' part")
    return S3Location(bucket, prefix)


def check_name(name: str, where: str) -> None:
    """``UsageError`` unless ``name`` is a relative key inside the location."""
    if name and any(part in ("", ".", "..") for part in name.split("/")):
        raise UsageError(f"{name!r} is not a name inside the backup location {where}")


def display_endpoint(url: str | None) -> str:
    """An endpoint URL for messages: without user information, query or fragment."""
    if not url:
        return "AWS S3"
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def server_time(response: Mapping[str, Any]) -> datetime | None:
    """The server's clock from a response's ``Date`` header (UTC), so that lease and age
    decisions never depend on this machine's clock agreeing with the store's."""
    headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    value = headers.get("date")
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).astimezone(UTC)
    except (TypeError, ValueError):
        return None


def error_code(exc: Exception) -> str:
    """The S3 error code of a botocore ``ClientError`` (``""`` for anything else)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    return str(response.get("Error", {}).get("Code", ""))


def _server_words(exc: Exception) -> str:
    """A short, scrubbed part of a server's error reply: its code and message only."""
    response = getattr(exc, "response", None)
    error = response.get("Error", {}) if isinstance(response, dict) else {}
    message = str(error.get("Message", "")).strip()
    message = _SECRET_LOOKING.sub("…", message)[:160]
    code = str(error.get("Code", "")) or type(exc).__name__
    return f"{code}: {message}" if message else code


class S3Access:
    """One boto3 client for one location, made on first use, and the one place its
    exceptions become lumidb errors."""

    def __init__(self, location: S3Location) -> None:
        self.location = location
        self._client: S3Client | None = None
        self._session: Any = None
        self._making = threading.RLock()  # the client is made once, by whichever thread asks

    def warm_up(self) -> None:
        """Make the client in the background (importing boto3 and reading its configuration
        take a few hundred milliseconds), so that it is ready when the first request comes;
        a failure is left for that request to raise."""

        def make() -> None:
            with suppress(Exception):  # the foreground call makes it again and reports
                self.client  # noqa: B018

        threading.Thread(target=make, name="lumidb-s3-client", daemon=True).start()

    @property
    def session(self) -> Any:
        """The boto3 session (profiles, credentials and config files, as boto3 reads them)."""
        with self._making:
            if self._session is None:
                import boto3
                from botocore.exceptions import BotoCoreError

                try:
                    self._session = boto3.session.Session()
                except BotoCoreError as exc:
                    raise self.translate(exc, "reading the AWS configuration") from None
            return self._session

    @property
    def client(self) -> S3Client:
        if self._client is not None:
            return self._client
        with self._making:
            if self._client is None:
                from botocore.config import Config
                from botocore.exceptions import BotoCoreError

                config = Config(
                    connect_timeout=CONNECT_TIMEOUT_S,
                    read_timeout=READ_TIMEOUT_S,
                    user_agent_extra="lumidb",
                )
                try:
                    self._client = self.session.client("s3", config=config)
                except BotoCoreError as exc:
                    raise self.translate(exc, "reading the AWS configuration") from None
                except ValueError:  # botocore's own word would echo the value
                    raise UsageError(
                        "AWS_ENDPOINT_URL (or endpoint_url) is not a valid URL",
                        hint="set it to e.g. https://s3.example.com, or unset it for AWS S3",
                    ) from None
            return self._client

    @property
    def endpoint(self) -> str:
        """Where requests go, for messages (``AWS S3`` when it is AWS's own endpoint)."""
        if self._client is None:
            return "the S3 endpoint"
        url = self._client.meta.endpoint_url
        return "AWS S3" if url.endswith(".amazonaws.com") else display_endpoint(url)

    def call(
        self, action: str, request: Callable[[S3Client], T], *, allow: frozenset[str] = frozenset()
    ) -> T:
        """Run one request; an error whose code is in ``allow`` is raised as botocore's own
        ``ClientError`` for the caller to handle, any other as a lumidb error."""
        from botocore.exceptions import BotoCoreError, ClientError

        client = self.client
        try:
            return request(client)
        except ClientError as exc:
            if error_code(exc) in allow:
                raise
            raise self.translate(exc, action) from None
        except BotoCoreError as exc:
            raise self.translate(exc, action) from None

    def translate(self, exc: Exception, action: str) -> LumidbError:
        """A botocore exception as one clear lumidb error, without any secret in it."""
        from botocore import exceptions as bx

        url = self.location.url
        bucket = self.location.bucket
        endpoint = self.endpoint
        if isinstance(exc, bx.ProfileNotFound):
            return UsageError(
                f"the AWS profile {getattr(exc, 'kwargs', {}).get('profile', '')!r} is not in the "
                "AWS config or credentials file",
                hint="set AWS_PROFILE to a profile that exists, or unset it",
            )
        if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
            return OperationError(
                f"no AWS credentials found for {url}",
                hint="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or a shared "
                "credentials file (~/.aws/credentials)",
            )
        if isinstance(exc, bx.CredentialRetrievalError | bx.TokenRetrievalError):
            return OperationError(
                f"could not obtain AWS credentials for {url} while {action}",
                hint="check the profile's credential_process, SSO login or role settings",
            )
        if isinstance(exc, bx.SSLError):
            return OperationError(
                f"TLS failed with the S3 endpoint {endpoint} while {action}",
                hint="check the endpoint's certificate, or AWS_CA_BUNDLE",
            )
        if isinstance(exc, bx.ConnectionError):
            return OperationError(
                f"cannot reach the S3 endpoint {endpoint} while {action}",
                hint="check AWS_ENDPOINT_URL (or endpoint_url in the AWS config) and the network",
            )
        if isinstance(exc, bx.HTTPClientError):
            return OperationError(
                f"the S3 endpoint {endpoint} stopped answering while {action}",
                hint="check the network and try again",
            )
        if isinstance(exc, bx.IncompleteReadError):
            return OperationError(f"the object ended early while {action} from {url}")
        if isinstance(exc, bx.ClientError):
            code = error_code(exc)
            if code in _CREDENTIAL_CODES:
                return OperationError(
                    f"{endpoint} refused the AWS credentials for {url} ({code})",
                    hint="check the access key and secret (AWS_PROFILE, the shared credentials "
                    "file, AWS_ACCESS_KEY_ID) and that they belong to this endpoint",
                )
            if code in _MISSING_BUCKET_CODES:
                return OperationError(
                    f"the bucket {bucket!r} does not exist at {endpoint}",
                    hint="create it, or fix the bucket name in the backup location",
                )
            if code in _DENIED_CODES:
                return OperationError(
                    f"access denied to {url} while {action}",
                    hint="the credentials need s3:ListBucket, s3:GetObject, s3:PutObject, "
                    "s3:DeleteObject and s3:AbortMultipartUpload on it",
                )
            if code in _REGION_CODES:
                return OperationError(
                    f"the bucket {bucket!r} is in another region than the one configured",
                    hint="set AWS_REGION (or region in the AWS config) to the bucket's region",
                )
            if code in ("NotImplemented", "501"):
                return OperationError(
                    f"the S3 server at {endpoint} does not support what lumidb needs while {action}",
                    hint="lumidb needs multipart uploads and conditional writes (If-None-Match)",
                )
            return OperationError(f"S3 failed while {action} ({url}): {_server_words(exc)}")
        if isinstance(exc, bx.BotoCoreError):
            return OperationError(f"S3 failed while {action} ({url}): {type(exc).__name__}")
        return OperationError(f"S3 failed while {action} ({url})")
