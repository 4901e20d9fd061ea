"""Artifact I/O shared by every step: content hashes and all-or-nothing writes."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

# Bookkeeping files that Spark and Parquet writers add; they carry no data and vary run to run.
_IGNORED_PREFIXES = ("_", ".")


def content_hash(path: str | os.PathLike) -> str:
    """sha256 of a file, or of a directory's data files (names ignored: Spark's part names are random)."""
    path = Path(path)
    if path.is_file():
        return "sha256:" + _file_digest(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such file or directory to hash")
    digests = sorted(
        _file_digest(p)
        for p in path.rglob("*")
        if p.is_file() and not p.name.startswith(_IGNORED_PREFIXES) and not p.name.endswith(".crc")
    )
    return "sha256:" + hashlib.sha256("\n".join(digests).encode()).hexdigest()


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def atomic_output(final_path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `final_path`; move it into place only if the block succeeds.

    A step that fails or is killed leaves nothing at `final_path` that a later step could read.
    Two writers of the same path at once (two first runs sharing a run directory's copies) each
    stage their own and each result is whole; which one stands depends on the order they finish.
    """
    final_path = Path(final_path)
    final_path.parent.mkdir(parents=True, exist_ok=True)
    staging = final_path.with_name(f".{final_path.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        yield staging
        # A reader finds the earlier result or the new one, never neither: a file is replaced in one
        # step, and a folder is swapped with the earlier one in one step where Linux can.
        if final_path.is_dir() and not final_path.is_symlink() and _exchange(staging, final_path):
            return  # the earlier result is at `staging` now, removed below
        try:
            if staging.is_dir() or final_path.is_dir():  # os.replace takes a file over a file only
                _remove(final_path)
            os.replace(staging, final_path)
        except OSError as exc:  # ENOTEMPTY: another writer's whole result just took the path
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST) or not final_path.exists():
                raise
    finally:
        _remove(staging)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux's renameat2 with RENAME_EXCHANGE); False where that is not
    available or `b` is gone, for the caller's two-step replace."""
    import ctypes

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOENT, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _remove(path: Path) -> None:
    """Remove a file or directory; what another process removed meanwhile is not an error."""
    def gone_already(function, _path, exc_info) -> None:
        if function is os.path.islink:  # the path was swapped for another writer's result mid-way
            raise OSError(errno.ENOTEMPTY, f"{path} was replaced while being removed")
        if not issubclass(exc_info[0], FileNotFoundError):
            raise exc_info[1]

    try:
        path.unlink()  # a file or a symbolic link
    except FileNotFoundError:
        pass
    except IsADirectoryError:
        shutil.rmtree(path, onerror=gone_already)


def portable_uri(path_or_uri: str) -> str:
    """A URI another process can open: object-store URIs as they are, local paths as `file://`."""
    if "://" in str(path_or_uri):
        return str(path_or_uri)
    return Path(path_or_uri).resolve().as_uri()
