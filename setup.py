"""Package layout only; all metadata lives in pyproject.toml.

`cnai/` holds the library, its components (`cnai/components/<category>/<name>/`) and pipelines;
the example project's Feast repo (`feature_repo/`) installs beside them as `cnai.feature_repo`.
"""

from setuptools import find_packages, setup

PACKAGE_ROOTS = {"cnai": "cnai", "cnai.feature_repo": "feature_repo"}

packages = []
for package, folder in PACKAGE_ROOTS.items():
    packages.append(package)
    packages += [f"{package}.{sub}" for sub in find_packages(folder, exclude=["tests", "*.tests", "*.tests.*"])]

setup(packages=packages, package_dir=PACKAGE_ROOTS)
