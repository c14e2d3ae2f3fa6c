"""Helpers for the live tests: real Prometheus and Alertmanager (Debian's)
started on 127.0.0.1 with the rendered configuration, stand-in HTTP servers,
and bounded waiting. Used by test_live_alerting, test_verify and
test_live_gateway.

Only addresses and paths differ from what `pulumi up` deploys: container
hostnames become 127.0.0.1 ports and /etc paths become a temporary folder.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Callable

import yaml

from stack.alerting import rule_files
from stack.components.alertmanager import NOTIFICATION_TEMPLATE, render_alertmanager_config
from stack.components.prometheus import render_prometheus_config
from stack.settings import Settings


def serve(handler, port: int = 0) -> tuple[ThreadingHTTPServer, int]:
    """A ThreadingHTTPServer on 127.0.0.1 (any free port unless given), serving in a daemon thread."""
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def wait_for(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(url)


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def post_json(url: str, body: dict | list) -> dict | list | None:
    """POST `body` as JSON; the decoded answer (None when empty). urllib's HTTPError on 4xx/5xx."""
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        answer = response.read()
    return json.loads(answer) if answer else None


def query(prometheus: str, promql: str, at: float | None = None) -> list[dict]:
    """Prometheus' instant query API (`at`: Unix seconds, default now): the result list."""
    params = {"query": promql, **({"time": f"{at:.3f}"} if at is not None else {})}
    return get_json(f"{prometheus}/api/v1/query?{urllib.parse.urlencode(params)}")["data"]["result"]


def until(check, timeout: float, step: float = 0.5):
    """Poll `check` until it returns something truthy, bounded in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(step)
    return check()


def write_alertmanager_files(settings: Settings, am_dir: Path, secrets: dict[str, str]) -> Path:
    """The rendered alertmanager.yml, template and receiver secrets, with the
    config's /etc paths moved into am_dir; returns the config file's path."""
    (am_dir / "templates").mkdir(parents=True)
    (am_dir / "secrets").mkdir()
    for name, value in secrets.items():
        (am_dir / "secrets" / name).write_text(value)
    (am_dir / "templates/gateway.tmpl").write_text(NOTIFICATION_TEMPLATE)
    config = am_dir / "alertmanager.yml"
    config.write_text(render_alertmanager_config(settings).replace("/etc/alertmanager/", f"{am_dir}/"))
    return config


def write_prometheus_files(settings: Settings, prom_dir: Path, edit: Callable[[dict], None]) -> Path:
    """The rendered prometheus.yml and rule files in prom_dir; `edit` changes
    the parsed config (addresses) before it is written. Returns the config's path."""
    (prom_dir / "rules").mkdir(parents=True)
    for name, text in rule_files(settings).items():
        (prom_dir / "rules" / name).write_text(text)
    config = yaml.safe_load(render_prometheus_config(settings))
    edit(config)
    path = prom_dir / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def start_alertmanager(binary: str, config: Path, port: int, log, extra: tuple[str, ...] = ()) -> subprocess.Popen:
    """One Alertmanager on 127.0.0.1:`port`; alone (clustering off) unless
    `extra` gives its own --cluster.* flags."""
    alone = () if any(flag.startswith("--cluster.listen-address=") for flag in extra) else ("--cluster.listen-address=",)
    return subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.path={config.parent / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            *alone,
            *extra,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def start_prometheus(binary: str, config: Path, port: int, log, extra: tuple[str, ...] = ()) -> subprocess.Popen:
    return subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={config.parent / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--enable-feature=exemplar-storage",
            # Test speed only: alerts fired before Alertmanager was discovered are
            # re-sent after 5s instead of the default minute.
            "--rules.alert.resend-delay=5s",
            *extra,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def stop(processes: list[subprocess.Popen]) -> None:
    """Terminate by PID, then wait (bounded) for each."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        process.wait(timeout=20)
