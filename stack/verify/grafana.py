"""Grafana, asked over its HTTP API: /api/health, and each provisioned
datasource (fixed UIDs, stack.components.grafana) healthy through
/api/datasources/uid/<uid>/health with the admin credentials.

Datasource plugins without a backend health check (Alertmanager's is
frontend-only) answer that endpoint 404 (Grafana up to 11) or 501; for those
the check does what the UI's "Save & test" does: a request through
Grafana's datasource proxy to the datasource's own status path.

The admin password comes from GRAFANA_ADMIN_PASSWORD, else from the stack's
output `grafanaAdminPassword`, read with the Pulumi CLI on the project's local
backend exactly as scripts/local-backend.sh sets it up.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Callable

from stack.components.grafana import ADMIN_USER, DATASOURCE_UIDS
from stack.verify.client import CheckFailed, basic_auth, excerpt, get_json, request
from stack.verify.report import Check

ROOT = Path(__file__).resolve().parents[2]
PASSWORD_ENV = "GRAFANA_ADMIN_PASSWORD"
PULUMI_TIMEOUT_SECONDS = 30
# Datasource type -> path asked through the proxy when the plugin has no health check.
PROXY_PROBES = {"alertmanager": "/api/v2/status"}


class PasswordUnavailable(CheckFailed):
    """Neither the environment nor the Pulumi stack gave the admin password."""


def pulumi_environment(root: Path = ROOT) -> dict[str, str]:
    """The variables scripts/local-backend.sh exports (use_local_backend)."""
    state_dir = Path(os.environ.get("PULUMI_STATE_DIR") or root / ".pulumi-state")
    return {
        "PULUMI_BACKEND_URL": f"file://{state_dir}",
        "PULUMI_CONFIG_PASSPHRASE_FILE": str(state_dir / "passphrase"),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
    }


def admin_password(stack: str, root: Path = ROOT) -> str:
    """GRAFANA_ADMIN_PASSWORD, else `pulumi stack output grafanaAdminPassword
    --show-secrets` for `stack`. Raises PasswordUnavailable saying what to do."""
    given = os.environ.get(PASSWORD_ENV)
    if given:
        return given
    hint = f"set {PASSWORD_ENV} or run from the machine that ran `make up`"
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        raise PasswordUnavailable(f"no admin password: {PASSWORD_ENV} is unset and the Pulumi CLI is not installed; {hint}")
    env = {**os.environ, **pulumi_environment(root)}
    if not Path(env["PULUMI_CONFIG_PASSPHRASE_FILE"]).is_file():
        raise PasswordUnavailable(f"no admin password: no Pulumi state passphrase at {env['PULUMI_CONFIG_PASSPHRASE_FILE']}; {hint}")
    try:
        done = subprocess.run(
            [pulumi, "stack", "output", "grafanaAdminPassword", "--show-secrets", "--stack", stack],
            cwd=root, env=env, capture_output=True, text=True, timeout=PULUMI_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired:
        raise PasswordUnavailable(f"no admin password: `pulumi stack output` took over {PULUMI_TIMEOUT_SECONDS}s; {hint}") from None
    except OSError as error:
        raise PasswordUnavailable(f"no admin password: cannot run pulumi ({error.strerror or error}); {hint}") from None
    password = done.stdout.strip()
    if done.returncode != 0 or not password:
        why = excerpt(done.stderr) or "no output"
        raise PasswordUnavailable(f"no admin password: `pulumi stack output grafanaAdminPassword` failed ({why}); {hint}")
    return password


def check_health(base: str) -> str:
    health = get_json(f"{base}/api/health")
    if health.get("database") != "ok":
        raise CheckFailed(f"/api/health says database {health.get('database')!r}")
    return f"Grafana {health.get('version', '?')} up, database ok"


def check_datasource(base: str, uid: str, password: Callable[[], str]) -> str:
    auth = {"Authorization": basic_auth(ADMIN_USER, password())}
    url = f"{base}/api/datasources/uid/{uid}"
    answer = request("GET", url, headers=auth)
    if answer.status == 401:
        raise CheckFailed(f"Grafana refused the {ADMIN_USER} credentials (401); is {PASSWORD_ENV} the stack's password?")
    if answer.status == 404:
        raise CheckFailed(f"no datasource with uid {uid!r}: provisioning did not load it")
    if answer.status != 200:
        raise CheckFailed(f"{url} answered {answer.status}: {excerpt(answer.body)}")
    kind = answer.json(url).get("type", "?")
    health = request("GET", f"{url}/health", headers=auth)
    if health.status in (404, 501) and kind in PROXY_PROBES:
        probe = f"{base}/api/datasources/proxy/uid/{uid}{PROXY_PROBES[kind]}"
        proxied = request("GET", probe, headers=auth)
        if proxied.status != 200:
            raise CheckFailed(f"Grafana cannot reach the {kind} datasource: proxy answered {proxied.status}: {excerpt(proxied.body)}")
        return f"{kind} reachable through Grafana's proxy ({PROXY_PROBES[kind]}; the plugin has no health check)"
    body = health.json(f"{url}/health") if health.body else {}
    if health.status == 200 and str(body.get("status", "")).upper() == "OK":
        return f"{kind}: {body.get('message') or 'OK'}"
    raise CheckFailed(f"{kind} unhealthy ({health.status}): {body.get('message') or excerpt(health.body)}")


def checks(urls: dict[str, str], password: Callable[[], str]) -> list[Check]:
    base = urls["grafana"]
    found: dict[str, str] = {}

    def once() -> str:
        # Asked once (pulumi may take seconds), shared by every datasource check.
        if "password" not in found:
            try:
                found["password"] = password()
            except CheckFailed as error:
                found["error"] = str(error)
                found["password"] = ""
        if found.get("error"):
            raise CheckFailed(found["error"])
        return found["password"]

    result: list[Check] = [("grafana health", lambda: check_health(base))]
    for name, uid in DATASOURCE_UIDS.items():
        result.append((f"grafana datasource {name}", lambda uid=uid: check_datasource(base, uid, once)))
    return result
