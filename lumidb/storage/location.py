"""From a backup location setting to its store (one place): a folder path or an ``s3://`` URL.

A location is a ``Path`` (a local folder, ``LocalFolder``) or a ``str`` holding a checked
``s3://bucket/prefix`` URL (``S3Storage``). Text from a setting or an option becomes a
location through ``parse_location``: anything starting with ``s3:`` is taken as a bucket
and must be a valid URL (``UsageError``, exit 2, otherwise), so a mistyped URL never
quietly becomes a folder called ``s3:``. Kept apart from the contract
(``lumidb.storage``) so that the implementations, which import the contract, are not
imported by it.
"""

from __future__ import annotations

from pathlib import Path

from lumidb.storage import BackupLocation, BackupStorage


def looks_like_s3(text: str) -> bool:
    """Whether text means a bucket (``s3:`` in any case), valid or not."""
    return text.strip()[:3].lower() == "s3:"


def parse_location(text: str | Path) -> BackupLocation:
    """A location from text: the checked ``s3://`` URL, or the path (``~`` expanded)."""
    if isinstance(text, Path):
        return text.expanduser()
    if looks_like_s3(text):
        from lumidb.storage.s3_access import parse_s3_url

        return parse_s3_url(text.strip()).url
    return Path(text).expanduser()


def is_remote(location: BackupLocation) -> bool:
    """Whether the location is a bucket rather than a folder on this machine."""
    return isinstance(location, str) and looks_like_s3(location)


def preload_for(location: BackupLocation) -> None:
    """For a command about to use ``location``: start loading boto3 in the background when
    it is a bucket, so the import overlaps with the command's other start-up work."""
    if is_remote(location):
        from lumidb.storage.s3_access import preload

        preload()


def absolute_location(location: BackupLocation) -> BackupLocation:
    """The location with a folder made absolute (a URL is already)."""
    return location if isinstance(location, str) else location.absolute()


def open_storage(location: BackupLocation) -> BackupStorage:
    """The store behind a backup location: ``S3Storage`` for a URL, else ``LocalFolder``."""
    if isinstance(location, str) and looks_like_s3(location):
        from lumidb.storage.s3 import S3Storage

        return S3Storage(location.strip())
    from lumidb.storage.local import LocalFolder

    return LocalFolder(Path(location))
