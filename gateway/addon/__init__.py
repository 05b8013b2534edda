"""`flowgate addon`: installs what OLM cannot install from a bundle (manifests.yaml)."""
