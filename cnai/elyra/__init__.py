"""Elyra's view of our components: an installable catalog connector and its metadata schema.

Elyra loads these through the entry points `elyra.component.catalog_types` and
`metadata.schemas_providers` declared in pyproject.toml. This sub-package imports only Elyra and the
standard library, because Elyra's environment cannot hold our other dependencies: there the
package is installed with `pip install --no-deps`, which is enough to read the shipped
`component.yaml` files.
"""
