"""Where the demo's processes live and how they find each other: plain
constants (standard library only), read by the demo itself and by the stack's
Docker target (stack/components/demo.py), so neither side retypes them."""

from __future__ import annotations

# The ports of stack/settings/model.py's default gatewayServices, so Prometheus'
# default scrape targets match a demo started with the defaults.
DEFAULT_PORTS = {
    "unified-llm-api": 8000,
    "intelligent-router": 8001,
    "optimization-service": 8002,
    "fake-provider": 8003,
}
# uvicorn --factory targets, one per service.
FACTORIES = {
    "unified-llm-api": "examples.gateway.unified_llm_api:create_app",
    "intelligent-router": "examples.gateway.intelligent_router:create_app",
    "optimization-service": "examples.gateway.optimization_service:create_app",
    "fake-provider": "examples.gateway.fake_provider:create_app",
}
PROVIDER = "fake-provider"
# Steady requests through Kong on the dev target (examples/gateway/traffic.py):
# not a gateway service, and not started by `make demo` (loadgen is the tool there).
TRAFFIC = "traffic"
TRAFFIC_FACTORY = "examples.gateway.traffic:create_app"
TRAFFIC_PORT = 8004
# Every demo process answers GET /healthz once it is ready.
HEALTH_PATH = "/healthz"


def url_variable(service: str) -> str:
    """The environment variable holding `service`'s base URL: DEMO_<SERVICE>_URL."""
    return f"DEMO_{service.upper().replace('-', '_')}_URL"
