"""The deploy files are valid: Kubernetes manifests against the API schemas, the Compose file against the
compose-spec, the Dockerfile through hadolint. (Docker itself cannot run on the CI machines.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.processes import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy"
BIN = Path(sys.executable).parent
K8S_MANIFESTS = sorted((DEPLOY / "k8s").glob("*.yaml"))


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("manifest", [m for m in K8S_MANIFESTS if m.name != "kustomization.yaml"], ids=lambda p: p.name)
def test_kubernetes_manifest_validates_strictly(manifest: Path) -> None:
    result = _run(str(BIN / "kubernetes-validate"), "--strict", "--quiet", "-k", "1.31.0", str(manifest))
    assert result.returncode == 0, result.stdout + result.stderr


def test_kustomization_lists_every_applied_manifest() -> None:
    kustomization = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    on_disk = {m.name for m in K8S_MANIFESTS} - {"kustomization.yaml", "secret.example.yaml"}
    assert listed == on_disk


def test_workloads_have_probes_limits_and_run_unprivileged() -> None:
    for manifest in K8S_MANIFESTS:
        for doc in yaml.safe_load_all(manifest.read_text()):
            if not doc or doc["kind"] not in {"Deployment", "Job"}:
                continue
            pod = doc["spec"]["template"]["spec"]
            assert pod["securityContext"]["runAsNonRoot"] is True, doc["metadata"]["name"]
            for container in pod["containers"]:
                assert container["resources"]["limits"] and container["resources"]["requests"]
                assert container["securityContext"]["allowPrivilegeEscalation"] is False
            if doc["metadata"]["name"] == "docent-web":
                (container,) = pod["containers"]
                assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
                assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_compose_file_matches_the_compose_spec() -> None:
    result = _run(
        str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(DEPLOY / "compose.yaml")
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_runs_web_both_worker_queues_and_one_beat() -> None:
    services = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    assert {"web", "worker-ingestion", "worker-default", "beat", "postgres", "redis", "minio"} <= set(services)


def test_dockerfile_passes_hadolint() -> None:
    result = _run(str(BIN / "hadolint"), "--failure-threshold", "info", str(DEPLOY / "Dockerfile"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_broken_manifest_is_rejected(tmp_path: Path) -> None:
    """The validator must be able to fail: a wrongly typed field is refused."""
    broken = tmp_path / "web.yaml"
    broken.write_text((DEPLOY / "k8s" / "web.yaml").read_text().replace("containerPort: 8000", 'containerPort: "x"'))
    result = _run(str(BIN / "kubernetes-validate"), "--strict", "--quiet", "-k", "1.31.0", str(broken))
    assert result.returncode != 0
    assert "containerPort" in result.stdout + result.stderr
