"""Where `python -m stack verify` finds each component: the published
addresses of the env's settings (stack.topology), or `--url name=URL`."""

from __future__ import annotations

import urllib.parse
from typing import Iterable

from stack import topology
from stack.settings import Settings

# --url name -> (component, port name in topology.PORTS)
ENDPOINTS = {
    "prometheus": ("prometheus", "http"),
    "alertmanager": ("alertmanager", "http"),
    "loki": ("loki", "http"),
    "grafana": ("grafana", "http"),
    "jaeger": ("jaeger", "ui"),  # the query API the UI uses
    "jaeger-otlp": ("jaeger", "otlp-http"),
}


class EndpointError(ValueError):
    """A bad --url option: the message names the value and what is allowed."""


def parse_url_option(text: str) -> tuple[str, str]:
    """'prometheus=http://127.0.0.1:19090' -> ('prometheus', 'http://127.0.0.1:19090').

    Raises EndpointError naming the option, the value and what is allowed."""
    name, equals, url = text.partition("=")
    allowed = ", ".join(ENDPOINTS)
    if not equals:
        raise EndpointError(f"--url {text!r}: expected NAME=URL with NAME one of {allowed}")
    if name not in ENDPOINTS:
        raise EndpointError(f"--url {text!r}: unknown endpoint {name!r}; expected one of {allowed}")
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise EndpointError(f"--url {text!r}: expected an http:// or https:// URL with a host, such as http://127.0.0.1:9090")
    try:
        parsed.port
    except ValueError:
        raise EndpointError(f"--url {text!r}: the port is not a number from 1 to 65535") from None
    return name, url.rstrip("/")


def endpoints(settings: Settings, overrides: Iterable[str] = ()) -> dict[str, str]:
    """Base URL of each ENDPOINTS name: the address published on the Docker host
    (bind address and port), unless a `name=URL` override names it. Raises EndpointError."""
    given = dict(parse_url_option(option) for option in overrides)
    return {
        name: given.get(name) or topology.published_url(settings, component, port_name)
        for name, (component, port_name) in ENDPOINTS.items()
    }
