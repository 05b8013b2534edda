"""The OLM bundle's image, built from bundle/bundle.Containerfile with the real buildah (the
project's own image store): its labels are the bundle's metadata/annotations.yaml, which is how
OLM and opm read a bundle image, and it holds exactly bundle/manifests and bundle/metadata."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml

from tests.fixtures.image import buildah
from tests.fixtures.manifests import ROOT

pytestmark = [pytest.mark.slow]
BUNDLE = ROOT / "bundle"


def run(*args: str, timeout: float = 300) -> str:
    result = subprocess.run(buildah(*args), capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"buildah {' '.join(args)}: {result.stderr}"
    return result.stdout


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_bundle_image_carries_the_bundle_and_its_annotations_as_labels(tmp_path: Path) -> None:
    if shutil.which("buildah") is None:
        pytest.skip("buildah is not installed; `make test` installs it (hack/install-system-deps.sh image)")
    tag = f"localhost/flowgate-bundle:test-{uuid.uuid4().hex[:8]}"
    run("bud", "--quiet", "--isolation", "chroot", "-f", str(BUNDLE / "bundle.Containerfile"), "-t", tag, str(BUNDLE))
    container = ""
    try:
        labels = json.loads(run("inspect", "--type", "image", tag))["OCIv1"]["config"]["Labels"]
        annotations = yaml.safe_load((BUNDLE / "metadata" / "annotations.yaml").read_text())["annotations"]
        assert {k: v for k, v in labels.items() if k.startswith("operators.operatorframework.io.")} == annotations
        container = run("from", "--quiet", tag).strip()
        mount = Path(run("mount", container).strip())
        assert files(mount / "manifests") == files(BUNDLE / "manifests")
        assert files(mount / "metadata") == files(BUNDLE / "metadata")
        assert sorted(p.name for p in mount.iterdir()) == ["manifests", "metadata"]
    finally:
        if container:
            subprocess.run(buildah("rm", container), capture_output=True, timeout=60)
        subprocess.run(buildah("rmi", tag), capture_output=True, timeout=60)
