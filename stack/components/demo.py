"""The demo gateway on the dev target (settings `demo`): the services of
examples/gateway/ and its fake LLM provider, built into one image from this
repository, and Kong 3.9 in DB-less mode in front, loading the Kong config
this stack renders (stack/components/kong.py) plus one route to the Unified
LLM API. A traffic container (examples/gateway/traffic.py) sends a steady
request a second through Kong, so the dashboards are live from the start;
Kong's proxy is also published on the bind address, where the demo's load
generator (loopback only, by design) sends bursts from the host.

The containers standing for the gateway's services take the hosts and ports
of their gatewayServices entries (`kong`, `unified-llm-api`, ...), so
Prometheus scrapes them and Promtail keeps their logs exactly as it would the
real gateway's: no other setting changes when the demo is on.

How the demo's programs are started and find each other (uvicorn factories,
ports, DEMO_<SERVICE>_URL, the probe path) is read from
examples/gateway/layout.py, the one module of the demo that needs nothing but
the standard library, so the Pulumi program can import it without the kit's
runtime.
"""

from __future__ import annotations

from stack import topology
from stack.components.kong import kong_status_port, render_kong_declarative, render_kong_env
from stack.generated_yaml import render_yaml
from stack.settings import GatewayService, Settings
from stack.spec import HttpProbe, ImageBuild, Port, ServiceSpec
from stack.versions import DEMO_KONG_IMAGE

from examples.gateway.layout import (
    DEFAULT_PORTS,
    FACTORIES,
    HEALTH_PATH,
    PROVIDER,
    TRAFFIC,
    TRAFFIC_FACTORY,
    TRAFFIC_PORT,
    url_variable,
)
from examples.gateway.traffic import RATE_VARIABLE, TARGET_VARIABLE

# Build context: the repository root, because the image installs telemetry/
# and copies examples/gateway/ (the Dockerfile is the demo's own).
DEMO_BUILD = ImageBuild(context=".", dockerfile="examples/gateway/Dockerfile")
# The demo's processes (examples/gateway/layout.py, read by the demo too).
PROVIDER_PORT = DEFAULT_PORTS[PROVIDER]
KONG = "kong"
KONG_PROXY_PORT = 8000
# The official image's own example path for a DB-less config (Kong/docker-kong README).
KONG_DECLARATIVE_PATH = "/kong/declarative/kong.yml"
# Everything the Unified LLM API serves to clients is under /v1; the path is
# passed on as it came (strip_path off).
API_SERVICE = "unified-llm-api"
API_PATH_PREFIX = "/v1"
# Small on purpose: the demo shares a laptop with the whole stack.
APP_MEMORY_BYTES, APP_CPUS = 256 * 2**20, 0.25
KONG_MEMORY_BYTES, KONG_CPUS = 512 * 2**20, 0.5
# Enough for every panel to have data, little enough to leave the laptop alone.
TRAFFIC_RATE = 1.0


def demo_image(settings: Settings) -> str:
    """The local tag of the demo's image; built, never pulled or pushed."""
    return f"{settings.name_prefix}-demo-gateway:{settings.environment}"


def _gateway_service(settings: Settings, name: str) -> GatewayService:
    # Settings refuse demo.enabled when a demo service has no entry (stack.settings.demo).
    return next(s for s in settings.gateway_services if s.name == name)


def _port_of(service: GatewayService) -> int:
    return int(service.address.rpartition(":")[2])


def _demo_host(settings: Settings, program: str) -> str:
    # The fake provider and the traffic are no gateway services: named like the stack's own containers.
    return f"{settings.name_prefix}-demo-{program}"


def peer_urls(settings: Settings) -> dict[str, str]:
    """DEMO_<SERVICE>_URL -> base URL of every demo program another one calls
    (examples/gateway/layout.py url_variable): the three services at their
    gatewayServices addresses, the fake provider at its own host."""
    urls = {name: f"http://{_gateway_service(settings, name).address}" for name in FACTORIES if name != PROVIDER}
    urls[PROVIDER] = f"http://{_demo_host(settings, PROVIDER)}:{PROVIDER_PORT}"
    return {url_variable(name): url for name, url in sorted(urls.items())}


def _python_probe(probe: HttpProbe) -> tuple[str, ...]:
    # The demo image is a Python image with neither wget nor curl; urlopen
    # fails (exit 1) on a refused connection or any non-2xx answer.
    url = f"http://127.0.0.1:{probe.port}{probe.path}"
    return ("python", "-c", f"import urllib.request; urllib.request.urlopen({url!r}, timeout=4)")


def _service_env(settings: Settings, name: str) -> dict[str, str]:
    return {
        **peer_urls(settings),
        "DEMO_ENVIRONMENT": settings.environment,
        # OTLP/HTTP to Jaeger; the SDK appends /v1/traces to this base URL.
        "OTEL_EXPORTER_OTLP_ENDPOINT": topology.gateway_url(settings, "jaeger", "otlp-http"),
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_SERVICE_NAME": name,
    }


def _traffic_env(settings: Settings) -> dict[str, str]:
    kong_host = _gateway_service(settings, KONG).host
    return {TARGET_VARIABLE: f"http://{kong_host}:{KONG_PROXY_PORT}", RATE_VARIABLE: str(TRAFFIC_RATE)}


def _app(settings: Settings, name: str, host: str, port: int) -> ServiceSpec:
    readiness = HttpProbe(port, HEALTH_PATH)
    # The fake provider stands for a third party and the traffic for clients:
    # no kit, no peers, no telemetry to send.
    env = {} if name == PROVIDER else _traffic_env(settings) if name == TRAFFIC else _service_env(settings, name)
    factory = TRAFFIC_FACTORY if name == TRAFFIC else FACTORIES[name]
    return ServiceSpec(
        name=name,
        hostname=host,
        image=demo_image(settings),
        build=DEMO_BUILD,
        args=("python", "-m", "uvicorn", factory, "--factory", "--host", "0.0.0.0", "--port", str(port)),
        ports=(Port("http", port, published=False),),
        readiness=readiness,
        health_command=_python_probe(readiness),
        memory_bytes=APP_MEMORY_BYTES,
        cpus=APP_CPUS,
        env=env,
    )


def render_demo_kong_config(settings: Settings) -> str:
    """Kong's declarative config for the demo: kong-telemetry.yml as rendered
    for the gateway (its global plugins and their notes, untouched) with a
    `services` section appended that sends /v1 to the Unified LLM API at its
    gatewayServices address."""
    api = _gateway_service(settings, API_SERVICE)
    services = {
        "services": [
            {
                "name": API_SERVICE,
                "url": f"http://{api.address}",
                "routes": [{"name": API_SERVICE, "paths": [API_PATH_PREFIX], "strip_path": False}],
            }
        ]
    }
    # Appended as text, not merged as data: re-dumping would drop the plugins' notes.
    body = render_yaml(services, "stack/components/demo.py").partition("\n")[2]
    return f"{render_kong_declarative(settings)}# The demo gateway's route (stack/components/demo.py).\n{body}"


def kong_env_variables(settings: Settings) -> dict[str, str]:
    """The variables of kong.env (stack/components/kong.py), as a mapping."""
    lines = render_kong_env(settings).splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def _kong(settings: Settings) -> ServiceSpec:
    status_port = kong_status_port(settings)
    return ServiceSpec(
        name=KONG,
        hostname=_gateway_service(settings, KONG).host,
        image=DEMO_KONG_IMAGE,
        # The image's own entrypoint and `kong docker-start`; it runs as its
        # non-root `kong` user, which file-log to /dev/stdout needs.
        args=(),
        ports=(Port("proxy", KONG_PROXY_PORT), Port("status", status_port, published=False)),
        readiness=HttpProbe(status_port, "/status/ready"),
        health_command=("kong", "health"),
        memory_bytes=KONG_MEMORY_BYTES,
        cpus=KONG_CPUS,
        files={KONG_DECLARATIVE_PATH: render_demo_kong_config(settings)},
        env={
            **kong_env_variables(settings),
            "KONG_DATABASE": "off",
            "KONG_DECLARATIVE_CONFIG": KONG_DECLARATIVE_PATH,
        },
    )


def demo_services(settings: Settings) -> list[ServiceSpec]:
    """The demo gateway's specs when `demo.enabled`, else none: Kong, the three
    services, the fake provider and the traffic."""
    if not settings.demo.enabled:
        return []
    apps = [
        _app(settings, name, (service := _gateway_service(settings, name)).host, _port_of(service))
        for name in FACTORIES
        if name != PROVIDER
    ]
    provider = _app(settings, PROVIDER, _demo_host(settings, PROVIDER), PROVIDER_PORT)
    traffic = _app(settings, TRAFFIC, _demo_host(settings, TRAFFIC), TRAFFIC_PORT)
    return [_kong(settings), *apps, provider, traffic]

