"""Where a table comes from: a path or URI as given, or a file shipped inside an installed Python
package (`package:<module>/<path in it>`, e.g. `package:palmerpenguins/data/penguins.csv`), unpacked
into the run directory once when it is zipped (or gzipped, and small)."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import zipfile
import zlib
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path
from typing import BinaryIO

from cnai.core.errors import DataError

PACKAGE_PREFIX = "package:"


def package_file(source: str) -> Path:
    """The file `package:<module>/<path>` names, inside the installed module's folder."""
    module, _, inside = source.removeprefix(PACKAGE_PREFIX).partition("/")
    if not module or not inside:
        raise DataError(f"{source}: expected package:<module>/<path inside it>, e.g. package:palmerpenguins/data/penguins.csv")
    # Located without importing the module: a package's own import can fail (or be slow) where its files are fine.
    spec = find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"{source}: no installed package {module!r} (pip install it, or give a path)")
    path = Path(next(iter(spec.submodule_search_locations))) / inside
    if not path.is_file():
        listing = sorted(str(p.relative_to(path.parents[len(Path(inside).parts) - 1])) for p in path.parent.glob("*"))[:10]
        raise DataError(f"{source}: {module} has no file {inside!r}" + (f"; beside it: {listing}" if listing else ""))
    return path


def as_package_file(path: Path) -> str | None:
    """`package:<module>/<path in it>` for a file inside an installed package, else None: a new
    user's `cnai init .../site-packages/plotly/package_data/datasets/tips.csv.gz` wrote
    `../../../work/main/.venv/...`, a path that breaks as soon as the project or the environment
    moves."""
    import sysconfig

    path = Path(path).resolve()
    for root in {Path(sysconfig.get_paths()[key]).resolve() for key in ("purelib", "platlib")}:
        try:
            inside = path.relative_to(root)
        except ValueError:
            continue
        if len(inside.parts) < 2 or not inside.parts[0].isidentifier():
            continue
        named = f"{PACKAGE_PREFIX}{inside.parts[0]}/{Path(*inside.parts[1:]).as_posix()}"
        try:
            if package_file(named).resolve() == path:
                return named
        except DataError:
            continue
    return None


def resolve_source(source: str, cache_dir: Path) -> str:
    """A path Spark can read for `source`: a zipped file (packaged or not; Spark reads gzip but not
    zip) is unpacked into `cache_dir` once per version of it. So is a gzipped file that unpacks to
    at most `cnai.core.scale.SMALL_TABLE_BYTES`: such a table is typed without Spark, whose checks
    read the text itself (a larger one stays as it is, for Spark). The name as given decides (a
    link's target may be named otherwise); a version is the file's size and modification time."""
    if source.startswith(PACKAGE_PREFIX):
        packed, name, folder = package_file(source), source.removeprefix(PACKAGE_PREFIX), cache_dir / "packages"
    elif "://" in source or not Path(source).is_file():
        return source
    else:
        packed, name, folder = Path(source), Path(source).name, cache_dir / "unzipped"
    if not name.endswith((".zip", ".gz")):
        return str(packed)
    stat = packed.stat()
    version = hashlib.sha256(f"{packed.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    if name.endswith(".gz"):
        return str(_small_gunzipped(packed, folder / version / name.removesuffix(".gz")) or packed)
    return str(_unzipped(packed, folder / version / name.removesuffix(".zip")))


def _small_gunzipped(archive_path: Path, target: Path) -> Path | None:
    """`archive_path` unpacked to `target` when what it holds is at most SMALL_TABLE_BYTES; None when it
    holds more (remembered beside `target` for this limit, not unpacked again at each call) or is
    not gzip after all (Spark then reads it, and says what is wrong)."""
    import gzip

    from cnai.core import scale

    limit = scale.SMALL_TABLE_BYTES
    too_large = target.with_name(f"{target.name}.over-{limit}")
    if target.exists():
        return target
    if too_large.exists() or archive_path.stat().st_size > limit:
        return None
    try:
        with _staging(target) as staging:
            with gzip.open(archive_path, "rb") as packed, staging.open("wb") as out:
                while chunk := packed.read(1 << 20):
                    out.write(chunk)
                    if out.tell() > limit:
                        too_large.touch()
                        return None
            staging.replace(target)
    except (OSError, EOFError, zlib.error):  # gzip.BadGzipFile is an OSError
        return None
    return target


@contextlib.contextmanager
def _staging(target: Path) -> Iterator[Path]:
    """A file beside `target` to write it in, which the caller moves into place when complete (a
    step stopped halfway, or another process unpacking at once, never leaves `target` partial);
    removed afterwards, unless the process is killed first (its pid in the name: never read)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f"{target.name}.{os.getpid()}.partial")
    try:
        yield staging
    finally:
        staging.unlink(missing_ok=True)


def _unzipped(archive_path: Path, target: Path) -> Path:
    if target.exists():
        return target
    with zipfile.ZipFile(archive_path) as archive:
        members = [m for m in archive.namelist() if not m.endswith("/") and not m.startswith("__MACOSX/")]
        if len(members) != 1:
            raise DataError(f"{archive_path}: a zip of {len(members)} files ({members[:5]}); point the source at one "
                            "table (unzip it, or zip one file)")
        with _staging(target) as staging:
            with staging.open("wb") as out:
                out.write(archive.read(members[0]))
            staging.replace(target)
    return target


def undecodable_line(file: BinaryIO, encoding: str, limit_bytes: int) -> tuple[int, str] | None:
    """The first line of `file` that is not `encoding` text, within its first `limit_bytes`: its
    number and its text (what could not be read shown as U+FFFD); None when all of that reads.
    Spark reads such bytes as U+FFFD without a word: a Latin-1 file read as UTF-8 turns Privée into
    Priv\ufffde, a category the served model then never meets."""
    import codecs

    decoder, lines, read = codecs.getincrementaldecoder(encoding)(), 0, 0
    while read < limit_bytes and (chunk := file.read(1 << 20)):
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            buffer = exc.object  # what the decoder held back of the chunk before (no line break), then this chunk
            begins, ends = buffer.rfind(b"\n", 0, exc.start) + 1, buffer.find(b"\n", exc.start)
            line = bytes(buffer[begins:ends if ends >= 0 else len(buffer)]).decode(encoding, errors="replace")
            return lines + buffer.count(b"\n", 0, exc.start) + 1, line.rstrip("\r")[:200]
        lines, read = lines + chunk.count(b"\n"), read + len(chunk)
    return None


def single_byte_encoding(data: bytes) -> str:
    """Of the single-byte encodings Spark reads, the one `data` (not UTF-8) is in: windows-1252 where
    it holds bytes 0x80-0x9F and reads as it (Excel's ’, € and –, which Latin-1 reads as invisible
    control characters: a key then matches nothing), else ISO-8859-1, which reads any byte."""
    if any(0x80 <= byte <= 0x9F for byte in data):
        try:
            data.decode("cp1252")
            return "windows-1252"
        except UnicodeDecodeError:
            pass
    return "ISO-8859-1"


def source_bytes(path: str) -> int | None:
    """About how much reading a table at `path` takes: a CSV's bytes, a Parquet file's (or folder's)
    uncompressed size from its footers; None for a remote or compressed source (its size on disk
    says little of what it holds)."""
    if "://" in path or path.lower().endswith((".gz", ".bz2", ".zip", ".xz", ".zst", ".snappy", ".lz4")):
        return None
    files = [p for p in Path(path).rglob("*") if p.is_file()] if Path(path).is_dir() else [Path(path)]
    total = 0
    for file in files:
        if file.name.startswith((".", "_")):  # Spark's _SUCCESS and checksum files
            continue
        if file.suffix in (".parquet", ".pq") or Path(path).is_dir():
            import pyarrow.parquet as pq

            try:
                metadata = pq.ParquetFile(file).metadata
                total += sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))
                continue
            except Exception:  # noqa: BLE001 - not Parquet after all: its size on disk
                pass
        try:
            total += file.stat().st_size
        except OSError:
            return None
    return total


def is_parquet(path: Path) -> bool:
    """A Parquet file (its first bytes are PAR1), or a folder of Parquet files (Spark's, pandas' with
    partitions): whatever its name says."""
    if path.is_dir():  # its data files (Hive's and Athena's have no suffix: 000000_0), not _SUCCESS or .crc
        files = (f for f in path.rglob("*") if f.is_file() and not f.name.startswith(("_", ".")))
        return any(_parquet_bytes(f) for f in itertools.islice(files, 5))
    return _parquet_bytes(path)


def _parquet_bytes(path: Path) -> bool:
    try:
        with path.open("rb") as file:
            return file.read(4) == b"PAR1"
    except OSError:
        return False
