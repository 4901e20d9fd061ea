"""Package layout only; all metadata lives in pyproject.toml.

The repository root follows Kubeflow's community component layout (components/, pipelines/ and
feature_repo/ at the top), and each of those folders installs as a sub-package of the one `cnai`
package, so nothing claims a generic top-level import name such as `components`.
"""

from setuptools import find_packages, setup

PACKAGE_ROOTS = {
    "cnai": "cnai",
    "cnai.components": "components",
    "cnai.pipelines": "pipelines",
    "cnai.feature_repo": "feature_repo",
}

packages = []
for package, folder in PACKAGE_ROOTS.items():
    packages.append(package)
    packages += [f"{package}.{sub}" for sub in find_packages(folder, exclude=["tests", "*.tests", "*.tests.*"])]

setup(packages=packages, package_dir=PACKAGE_ROOTS)
