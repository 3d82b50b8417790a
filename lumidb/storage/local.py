"""A backup location on the local disk: ``BackupStorage`` over a folder (0700 folders, 0600 files).

Data is written under a temporary name (``.<name>.partial``, created ``O_EXCL |
O_NOFOLLOW`` so nothing already there, a leftover or a planted link, is ever written
through), fsynced, and renamed into place only when the ``upload`` block succeeds; the
folder is fsynced after each rename. Names starting with a dot (temporaries, the lock
file ``.lumidb-backup.lock``, a ``.gitignore``) are never objects. Links are never
objects and never read: a planted link cannot redirect a read or a write.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from lumidb.errors import RefusedError, UsageError
from lumidb.storage import SAFETY_FOLDER, StoredObject, StoreProblem

PARTIAL_PREFIX = "."
PARTIAL_SUFFIX = ".partial"
LOCK_NAME = ".lumidb-backup.lock"
DIR_MODE = 0o700
FILE_MODE = 0o600


def partial_path_of(path: Path) -> Path:
    """The temporary name a file is written under before it is renamed to ``path``."""
    return path.with_name(PARTIAL_PREFIX + path.name + PARTIAL_SUFFIX)


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _LocalUpload:
    """The open temporary file of an upload; ``fileno`` lets a child write into it directly
    (``pg_dump -Fc`` needs a seekable file for its data offsets)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def write(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    def fileno(self) -> int:
        return self._fd


class LocalFolder:
    """A backup location that is a folder on this machine (``LUMIDB_BACKUP_DIR``)."""

    def __init__(self, root: Path) -> None:
        self.root = root.absolute()

    def __repr__(self) -> str:
        return f"LocalFolder({str(self.root)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LocalFolder) and other.root == self.root

    def __hash__(self) -> int:
        return hash(self.root)

    @property
    def location(self) -> str:
        return str(self.root)

    def _path(self, name: str) -> Path:
        parts = name.split("/") if name else []
        if any(part in ("", ".", "..") for part in parts):
            raise UsageError(f"{name!r} is not a name inside the backup location {self.root}")
        return self.root.joinpath(*parts)

    # --- judging and preparing -------------------------------------------------------

    def problem(self) -> StoreProblem | None:
        folder = self.root
        if not folder.exists():
            return None
        if not folder.is_dir():
            return StoreProblem(
                f"backup directory {folder} exists and is not a directory",
                "set LUMIDB_BACKUP_DIR to a directory",
                fatal=True,
            )
        if not os.access(folder, os.W_OK | os.X_OK):
            return StoreProblem(
                f"backup directory {folder} is not writable",
                "fix its permissions or set LUMIDB_BACKUP_DIR",
                fatal=True,
            )
        mode = folder.stat().st_mode & 0o777
        if mode & 0o077:
            return StoreProblem(
                f"backup directory {folder} is readable by others (mode {mode:04o}); "
                "backups hold all the data",
                f"chmod 700 {folder}",
                fatal=False,
            )
        return None

    def prepare(self, folder: str = "") -> list[str]:
        """Create the root (and ``folder``) 0700 if needed; warn about a root readable by
        others, or tighten it when it is ours and holds no backups yet (git checks an empty
        ``backups/`` out 0755)."""
        warnings = self._prepare_root()
        if folder:
            path = self._path(folder)
            if not path.exists():
                _make_dir(path)
            elif not path.is_dir():
                raise UsageError(
                    f"backup directory {path} exists and is not a directory",
                    hint="move it away, or set LUMIDB_BACKUP_DIR to another folder",
                )
        return warnings

    def _prepare_root(self) -> list[str]:
        root = self.root
        if not root.exists():
            _make_dir(root)
        problem = self.problem()
        if problem is None:
            return []
        if problem.fatal:
            raise UsageError(problem.message, hint=problem.fix)
        info = root.stat()
        empty = not self.objects() and not self.objects(SAFETY_FOLDER)
        if info.st_uid == os.geteuid() and empty:
            try:
                root.chmod(DIR_MODE)
            except OSError:
                pass
            else:
                return [
                    f"tightened backup directory {root} from mode {info.st_mode & 0o777:04o} "
                    "to 0700 (it holds no backups yet; backups hold all the data)"
                ]
        return [f"{problem.message}: {problem.fix}"]

    # --- reading ---------------------------------------------------------------------

    def objects(self, folder: str = "") -> list[StoredObject]:
        path = self._path(folder)
        prefix = f"{folder}/" if folder else ""
        found: list[StoredObject] = []
        try:
            entries = list(os.scandir(path))
        except NotADirectoryError:
            if not folder:
                raise UsageError(f"{self.root} is not a folder") from None
            return []
        except FileNotFoundError:
            return []
        for entry in entries:
            if entry.name.startswith(PARTIAL_PREFIX):
                continue
            try:
                if not entry.is_file(follow_symlinks=False):
                    continue
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            found.append(
                StoredObject(
                    name=prefix + entry.name,
                    size=info.st_size,
                    modified=datetime.fromtimestamp(info.st_mtime, tz=UTC),
                )
            )
        return found

    def _open_fd(self, name: str) -> int:
        """A read descriptor of ``name``, never through a link."""
        path = self._path(name)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            raise UsageError(f"backup file {path} not found") from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise UsageError(
                    f"{path} is a symbolic link; lumidb never reads a backup through one",
                    hint="give the file it points to",
                ) from None
            raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise UsageError(f"{path} is not a file")
        return fd

    def open_read(self, name: str) -> AbstractContextManager[BinaryIO]:
        return os.fdopen(self._open_fd(name), "rb")

    def read_small(self, name: str, *, limit: int = 1 << 20) -> bytes | None:
        try:
            fd = self._open_fd(name)
        except UsageError:
            return None
        with os.fdopen(fd, "rb") as handle:
            try:
                data = handle.read(limit + 1)
            except OSError:
                return None
        return data if len(data) <= limit else None

    def local_path(self, name: str) -> Path | None:
        return self._path(name)

    # --- writing ---------------------------------------------------------------------

    def _create_partial(self, path: Path) -> tuple[Path, int]:
        partial = partial_path_of(path)
        try:
            fd = os.open(partial, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
        except OSError as exc:
            raise UsageError(f"cannot write in {path.parent}: {exc.strerror or exc}") from None
        os.fchmod(fd, FILE_MODE)
        return partial, fd

    def write_small(self, name: str, data: bytes) -> None:
        path = self._path(name)
        partial_path_of(path).unlink(missing_ok=True)  # a leftover or a planted link
        with self.upload(name) as upload:
            upload.write(data)

    @contextmanager
    def _upload(self, name: str) -> Iterator[_LocalUpload]:
        path = self._path(name)
        partial, fd = self._create_partial(path)
        try:
            yield _LocalUpload(fd)
            os.fsync(fd)
            os.close(fd)
            fd = -1
            partial.replace(path)
            fsync_dir(path.parent)
        except BaseException:
            if fd >= 0:
                os.close(fd)
            partial.unlink(missing_ok=True)
            raise

    def upload(self, name: str) -> AbstractContextManager[_LocalUpload]:
        return self._upload(name)

    def delete(self, name: str) -> None:
        self._path(name).unlink(missing_ok=True)

    def remove_leftovers(self, folder: str = "") -> list[str]:
        """Remove temporary files (and links planted at temporary names) of killed runs."""
        path = self._path(folder)
        prefix = f"{folder}/" if folder else ""
        removed: list[str] = []
        if not path.is_dir():
            return removed
        for item in path.iterdir():
            name = item.name
            if not (name.startswith(PARTIAL_PREFIX) and name.endswith(PARTIAL_SUFFIX)):
                continue
            if item.is_symlink() or item.is_file():
                try:
                    item.unlink()
                    removed.append(prefix + name)
                except FileNotFoundError:
                    pass
        return removed

    # --- the lock ----------------------------------------------------------------------

    def lock(self, folder: str = "", *, wait: bool) -> AbstractContextManager[None]:
        """An ``flock`` on ``.lumidb-backup.lock`` in the folder, holding the holder's pid.

        ``flock`` locks of one process on two descriptors exclude each other too: do not
        take the same folder's lock twice.
        """
        return _folder_lock(self._path(folder), wait)


def _make_dir(path: Path) -> None:
    """Create a backup folder (and its parents) with mode 0700, whatever the umask."""
    try:
        path.mkdir(parents=True, mode=DIR_MODE)
        path.chmod(DIR_MODE)
    except OSError as exc:
        raise UsageError(
            f"cannot create backup directory {path}: {exc.strerror or exc}",
            hint="set LUMIDB_BACKUP_DIR to a folder you can write",
        ) from None


def _open_lock_file(folder: Path) -> int:
    """Open (or create) the folder's lock file, never through a link.

    The lock file is truncated to hold the holder's pid, so a symbolic or hard link
    planted at its name would truncate another file: both are refused (exit 2).
    """
    lock = folder / LOCK_NAME
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, FILE_MODE)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UsageError(
                f"the lock file {lock} is a symbolic link; lumidb never writes through one",
                hint=f"remove it (rm {lock}) and check who put it there",
            ) from None
        raise UsageError(
            f"cannot use backup directory {folder}: {exc.strerror or exc}",
            hint="set LUMIDB_BACKUP_DIR to a folder you can write",
        ) from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        os.close(fd)
        what = "is not a regular file" if not stat.S_ISREG(info.st_mode) else "has other links"
        raise UsageError(
            f"the lock file {lock} {what}; lumidb never writes through one",
            hint=f"remove it (rm {lock}) and check who put it there",
        )
    return fd


@contextmanager
def _folder_lock(folder: Path, wait: bool) -> Iterator[None]:
    fd = _open_lock_file(folder)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
            who = f" (pid {holder})" if holder.isdigit() else ""
            raise RefusedError(
                f"another lumidb backup is running in {folder}{who}",
                hint="use --wait to wait for it",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
