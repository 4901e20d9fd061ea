"""Resources for a Kubeflow cluster, built with the official SDKs' models (nothing hand-written as YAML)."""
