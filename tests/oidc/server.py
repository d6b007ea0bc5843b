"""Start the loopback OpenID Connect provider (tests/oidc/provider.mjs, npm's oidc-provider) for a test."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.processes import REPO_ROOT, stop_process

PROVIDER_SCRIPT = REPO_ROOT / "tests" / "oidc" / "provider.mjs"
CLIENT_ID = "docent"
CLIENT_SECRET = "docent-test-secret"


@dataclass
class OidcProvider:
    issuer: str
    accounts_path: Path
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET

    def set_accounts(self, accounts: dict[str, dict[str, Any]]) -> None:
        """Replace the IdP's directory; the provider reads it on every sign-in."""
        self.accounts_path.write_text(json.dumps(accounts))


@contextmanager
def running_oidc_provider(
    *, redirect_uri: str, accounts: dict[str, dict[str, Any]], workdir: Path, groups_claim: str = "groups"
) -> Iterator[OidcProvider]:
    node = shutil.which("node")
    if node is None or not (REPO_ROOT / "node_modules" / "oidc-provider").is_dir():
        raise RuntimeError("The OIDC tests need node and `npm install` (make test runs it).")
    accounts_path = workdir / "idp-accounts.json"
    accounts_path.write_text(json.dumps(accounts))
    log_path = workdir / "oidc-provider.log"
    command = [
        node, str(PROVIDER_SCRIPT), "--port", "0", "--redirect-uri", redirect_uri, "--accounts", str(accounts_path),
        "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET, "--groups-claim", groups_claim,
    ]  # fmt: skip
    with log_path.open("w") as log:
        proc = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=log, text=True)
        try:
            assert proc.stdout is not None
            ready: list[str] = []
            reader = threading.Thread(target=lambda: ready.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
            reader.start()
            reader.join(timeout=30)
            if not ready or not ready[0].startswith("READY "):
                raise RuntimeError(f"oidc-provider did not start: {ready} {log_path.read_text()}")
            yield OidcProvider(issuer=ready[0].split()[1], accounts_path=accounts_path)
        finally:
            stop_process(proc)  # type: ignore[arg-type]
