"""The demo gateway, live on 127.0.0.1: the three services and the fake
provider as real uvicorn processes (examples/gateway/run.py's `Demo`), their
spans exported over real OTLP/HTTP to a local receiver that decodes the
protobuf, their JSON log lines read from the files they write and passed
through the Promtail pipeline harness, their /metrics parsed by
prometheus_client. Bounded in time; every process is stopped by PID, also
when a test fails.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from examples.gateway.otlp_receiver import OtlpReceiver
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from promtail_pipeline import run_stream

from examples.gateway.common import DEFAULT_PORTS, PROVIDERS
from examples.gateway.run import REPO_ROOT, Demo, DemoError, free_ports
from gateway_telemetry import contract
from stack.components.promtail import pipeline_stages
from stack.settings import parse_settings

SERVICES = ("unified-llm-api", "intelligent-router", "optimization-service")
# Secrets a caller may send: an OpenAI-style key in the Authorization header
# and a (test) Visa number in the prompt. Neither may reach a log line or span.
API_KEY = "sk-proj-" + "Zx9" * 12
CARD = "4111 1111 1111 1111"
OPENMETRICS = "application/openmetrics-text; version=1.0.0"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("demo-logs")
    with OtlpReceiver() as receiver:
        env = {
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": receiver.traces_endpoint,
            "OTEL_TRACES_SAMPLER": "always_on",
            "OTEL_BSP_SCHEDULE_DELAY": "200",  # ms: spans arrive within the test's patience
            "DEMO_LOG_LEVEL": "DEBUG",
        }
        running = Demo(ports=dict(zip(DEFAULT_PORTS, free_ports(len(DEFAULT_PORTS)))), log_dir=log_dir, env=env, capture=True)
        try:
            running.start(ready_timeout=60)
            yield running, receiver
        finally:
            running.stop()
            assert all(p.poll() is not None for p in running.processes.values()), "a demo process survived stop()"


def chat(demo: Demo, content: str, *, model: str = "auto", headers: dict | None = None) -> httpx.Response:
    return httpx.post(
        f"{demo.url('unified-llm-api')}/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": content}]},
        headers={"authorization": f"Bearer {API_KEY}", **(headers or {})},
        timeout=30,
    )


def traced_chat(demo: Demo, content: str, **kwargs) -> tuple[httpx.Response, str]:
    """A chat request under a trace id of our own (W3C traceparent, sampled)."""
    trace_id = secrets.token_hex(16)
    headers = {"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"}
    return chat(demo, content, headers=headers, **kwargs), trace_id


def spans_of(receiver: OtlpReceiver, trace_id: str, done, timeout: float = 15) -> list:
    deadline = time.monotonic() + timeout
    while True:
        spans = [s for s in list(receiver.spans) if s.trace_id == trace_id]
        if done(spans) or time.monotonic() > deadline:
            return spans
        time.sleep(0.2)


def log_records(demo: Demo) -> list[tuple[str, str]]:
    """(service, raw line) of every line the services wrote to their JSON log files."""
    return [
        (service, line)
        for service in SERVICES
        for line in (demo.log_dir / f"{service}.jsonl").read_text().splitlines()
        if line.strip()
    ]


def everything_written(demo: Demo) -> str:
    """Every byte the demo's processes wrote: JSON log files and captured stdout/stderr."""
    return "".join(p.read_text(errors="replace") for p in sorted(demo.log_dir.iterdir()))


def scrape(demo: Demo, service: str) -> dict:
    response = httpx.get(f"{demo.url(service)}/metrics", headers={"accept": OPENMETRICS}, timeout=5)
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    families = text_string_to_metric_families(response.text)
    return {f"{f.name}_total" if f.type == "counter" else f.name: f for f in families}


def test_one_request_is_one_trace_through_every_service_with_gen_ai_attributes(demo):
    running, receiver = demo
    response, trace_id = traced_chat(running, f"Summarise trace {trace_id_hint()} please.")
    assert response.status_code == 200, response.text

    routes = {"unified-llm-api": "/v1/chat/completions", "intelligent-router": "/v1/route", "optimization-service": "/v1/cache/lookup"}

    def servers_of(spans) -> dict:
        return {s.resource["service.name"]: s for s in spans
                if s.kind == "SPAN_KIND_SERVER" and routes.get(s.resource.get("service.name")) == s.attributes.get("http.route")}

    # The root server span ends last, after the response: wait for it too.
    spans = spans_of(receiver, trace_id, lambda spans: len(servers_of(spans)) == 3 and any(s.name.startswith("chat ") for s in spans))
    by_service = {s: [x for x in spans if x.resource.get("service.name") == s] for s in SERVICES}
    servers = servers_of(spans)
    assert set(servers) == set(SERVICES), {s: [x.name for x in v] for s, v in by_service.items()}
    # The peers' server spans are children of the Unified LLM API's outgoing calls, in the same trace.
    client_ids = {x.span_id for x in by_service["unified-llm-api"] if x.kind == "SPAN_KIND_CLIENT"}
    assert servers["intelligent-router"].parent_span_id in client_ids
    assert servers["optimization-service"].parent_span_id in client_ids

    (llm,) = [x for x in spans if x.name.startswith("chat ")]
    assert llm.kind == "SPAN_KIND_CLIENT" and llm.resource["service.name"] == "unified-llm-api"
    gen_ai = {k: v for k, v in llm.attributes.items() if k.startswith(("gen_ai.", "gateway."))}
    assert gen_ai["gen_ai.operation.name"] == "chat"
    assert gen_ai["gen_ai.provider.name"] in PROVIDERS
    assert gen_ai["gen_ai.request.model"] == gen_ai["gen_ai.response.model"] == response.json()["model"]
    assert gen_ai["gen_ai.usage.input_tokens"] > 0 and gen_ai["gen_ai.usage.output_tokens"] > 0
    assert gen_ai["gateway.virtual_key.id"] == "vk_" + hashlib.sha256(API_KEY.encode()).hexdigest()[:16]
    assert API_KEY not in repr(spans)


def trace_id_hint() -> str:
    return secrets.token_hex(4)


def test_the_requests_log_lines_carry_its_trace_id_through_promtail_without_secrets(demo):
    running, receiver = demo
    response, trace_id = traced_chat(running, f"My card is {CARD}, what is RAG? ({trace_id_hint()})")
    assert response.status_code == 200, response.text
    spans_of(receiver, trace_id, lambda spans: len({s.resource.get("service.name") for s in spans}) == 3)

    ours = [(service, line) for service, line in log_records(running) if trace_id in line]
    assert {service for service, _ in ours} == set(SERVICES)
    messages = {json.loads(line)["message"] for _, line in ours}
    assert {"chat request", "llm call", "http request"} <= messages
    request_ids = {json.loads(line)["request_id"] for _, line in ours}
    assert request_ids == {response.headers["x-request-id"]}, "one request id through every service"

    settings = parse_settings({"target": "docker"}, "dev", "test")
    events = [(i * 0.001, {"service": service, "environment": "dev"}, line) for i, (service, line) in enumerate(ours)]
    pipeline = run_stream(pipeline_stages(settings), events)
    assert not pipeline.dropped and len(pipeline.output) == len(ours), "every line of the request reaches Loki"
    for entry in pipeline.output:
        assert entry.metadata["trace_id"] == trace_id
        assert entry.labels["level"] in ("debug", "info", "warning", "error", "critical")
        assert CARD not in entry.line and API_KEY not in entry.line
    # Masked at source by the kit, before Promtail: the line as the service wrote it.
    (prompt_line,) = [json.loads(line) for _, line in ours if json.loads(line)["message"] == "chat request"]
    assert "[REDACTED:card_number]" in prompt_line["prompt_preview"]
    written = everything_written(running)
    assert CARD not in written and API_KEY not in written


def test_a_rejected_request_logs_its_headers_with_the_key_masked(demo):
    running, _ = demo
    response = chat(running, "hello", model="no-such-model")

    assert response.status_code == 400 and "no-such-model" in response.json()["detail"]
    (line,) = [json.loads(raw) for _, raw in log_records(running) if "request rejected by the router" in raw
               and json.loads(raw)["request_id"] == response.headers["x-request-id"]]
    assert line["level"] == "warning"
    assert line["request_headers"]["authorization"].startswith("[REDACTED")
    assert API_KEY not in everything_written(running)


def failing_then_succeeding_seed() -> int:
    """A seed for which the fake provider fails the first call and serves the second at error_rate 0.5."""
    return next(s for s in range(1000) if (r := random.Random(s)).random() < 0.5 <= r.random())


def test_a_rate_limited_provider_falls_back_and_every_service_exposes_the_contract(demo):
    running, _ = demo
    provider = running.url("fake-provider")
    faults = {"error_rate": 0.5, "error_status": 429, "seed": failing_then_succeeding_seed()}
    assert httpx.post(f"{provider}/admin/faults", json=faults, timeout=5).status_code == 200
    try:
        fallback = chat(running, f"fallback please {trace_id_hint()}", model="gpt-4o-mini")
        # Then every provider refuses: the chain is exhausted and the client gets the last 429.
        httpx.post(f"{provider}/admin/faults", json={"error_rate": 1.0}, timeout=5)
        exhausted = chat(running, f"nobody answers {trace_id_hint()}", model="gpt-4o-mini")
    finally:
        httpx.post(f"{provider}/admin/faults", json={"error_rate": 0, "seed": 0}, timeout=5)
    assert fallback.status_code == 200 and fallback.json()["provider"] == "anthropic", fallback.text
    assert exhausted.status_code == 429, exhausted.text
    prompt = f"cache me {trace_id_hint()}"
    assert chat(running, prompt).headers["x-gateway-cache"] == "miss"
    assert chat(running, prompt.upper() + "!").headers["x-gateway-cache"] == "hit"

    for service in SERVICES:
        families = scrape(running, service)
        wanted = {m.name: m for m in (*contract.service_contract(service).metrics, *contract.KIT_METRICS)}
        assert sorted(families) == sorted(wanted), f"{service}: metric names differ from the contract"
        for name, metric in wanted.items():
            family = families[name]
            assert family.type == metric.type, f"{service} {name}"
            assert family.samples, f"{service} {name}: no samples after the traffic above"
            labels = {k for s in family.samples for k in s.labels if k != "le"}
            assert labels == set(metric.labels), f"{service} {name}: labels {labels} != {metric.labels}"

    router = scrape(running, "intelligent-router")["gateway_router_fallbacks_total"]
    assert [(s.labels, s.value) for s in router.samples if s.name.endswith("_total")] == [
        ({"from_provider": "openai", "to_provider": "anthropic", "reason": "rate_limit"}, 2.0)
    ]
    api = scrape(running, "unified-llm-api")
    failed = [s for s in api["gen_ai_client_operation_duration_seconds"].samples if s.name.endswith("_count") and s.labels["error_type"]]
    assert sorted((s.labels["gen_ai_provider_name"], s.labels["error_type"], s.labels["error_source"], s.value) for s in failed) == [
        ("anthropic", "rate_limit_exceeded", "rate_limit", 1.0),
        ("openai", "rate_limit_exceeded", "rate_limit", 2.0),
    ]
    assert [(s.labels, s.value) for s in api["gateway_llm_fallback_exhausted_total"].samples if s.name.endswith("_total")] == [
        ({"gen_ai_provider_name": "anthropic", "error_source": "rate_limit"}, 1.0)
    ]
    errors = [json.loads(raw) for _, raw in log_records(running) if '"llm call failed"' in raw]
    assert [(e["level"], e["provider"], e["upstream_status"], e["error_source"]) for e in errors] == [
        ("error", provider_name, 429, "rate_limit") for provider_name in ("openai", "openai", "anthropic")
    ]


def test_trace_one_prints_the_trace_tree_and_the_log_lines_of_one_request():
    # Its own demo and receiver on free ports: independent of the fixture's.
    process = subprocess.Popen(
        [sys.executable, "-m", "examples.gateway.trace_one", "--timeout", "30"],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=150)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)  # the group this test started: trace_one and its demo
            process.wait()
    assert process.returncode == 0, output
    header, _, rest = output.partition("\n")
    assert header.startswith("HTTP 200") and len(header.split("trace ")[1]) == 32
    tree, _, logs = rest.partition("log lines with trace_id")
    roots = [line for line in tree.splitlines() if line and not line.startswith(" ")]
    assert roots == ["unified-llm-api: POST /v1/chat/completions [server] http.route=/v1/chat/completions http.response.status_code=200"]
    for service in SERVICES:
        assert f"  {service}: " in tree
    assert "gen_ai.provider.name=" in tree and "gateway.virtual_key.id=vk_" in tree
    assert {json.loads(line)["service"] for line in logs.splitlines()[1:] if line.startswith("{")} == set(SERVICES)


def test_the_traffic_app_keeps_requests_flowing_and_reports_them(demo, monkeypatch):
    """What the dev stack's traffic container runs (examples/gateway/traffic.py),
    pointed at the live demo: requests arrive, /healthz counts their answers,
    and leaving the app stops the sending."""
    from fastapi.testclient import TestClient

    from examples.gateway.traffic import create_app

    running, _ = demo
    monkeypatch.setenv("DEMO_TRAFFIC_TARGET", running.url("unified-llm-api"))
    monkeypatch.setenv("DEMO_TRAFFIC_RATE", "20")
    with TestClient(create_app()) as client:
        deadline = time.monotonic() + 20
        while (body := client.get("/healthz").json())["statuses"].get("200", 0) < 10 and time.monotonic() < deadline:
            time.sleep(0.2)
    assert body["statuses"].get("200", 0) >= 10, body
    assert body["rate"] == 20 and body["target"] == running.url("unified-llm-api")


@pytest.mark.parametrize("rate", ["0", "51", "fast", "nan"])
def test_the_traffic_app_refuses_a_rate_out_of_range(rate, monkeypatch):
    from examples.gateway.traffic import create_app

    monkeypatch.setenv("DEMO_TRAFFIC_TARGET", "http://kong:8000")
    monkeypatch.setenv("DEMO_TRAFFIC_RATE", rate)
    with pytest.raises(ValueError, match=rf"DEMO_TRAFFIC_RATE: given '{rate}'; must be a number of requests per second from 0.1 to 50"):
        create_app()


def test_ports_picked_together_are_distinct_and_free():
    """Picked one at a time, a released port may come back at the next pick:
    CI once gave the Unified LLM API and the fake provider the same one."""
    ports = free_ports(64)
    assert len(set(ports)) == 64
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))  # still free


def test_ports_picked_in_parallel_threads_are_never_shared_and_never_ephemeral():
    """CI: a game-day incident found its picked port 34917 taken before its
    service bound it. Ports from the kernel's ephemeral range can become any
    outgoing connection's; ports picked by threads at once must differ."""
    from concurrent.futures import ThreadPoolExecutor

    first_ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    with ThreadPoolExecutor(8) as pool:
        batches = list(pool.map(free_ports, [16] * 32))
    picked = [port for batch in batches for port in batch]
    assert len(set(picked)) == len(picked) == 16 * 32
    assert max(picked) < first_ephemeral
    assert min(picked) >= 10000


def test_the_demo_refuses_two_services_on_one_port(tmp_path):
    ports = dict(zip(DEFAULT_PORTS, free_ports(len(DEFAULT_PORTS))))
    ports["fake-provider"] = ports["unified-llm-api"]
    running = Demo(ports=ports, log_dir=tmp_path)
    with pytest.raises(DemoError) as caught:
        running.start()
    assert str(caught.value) == f"port {ports['unified-llm-api']} is given to unified-llm-api and fake-provider: each service needs its own"
    assert running.processes == {}  # refused before anything started


def test_trace_one_with_a_malformed_port_range_says_so_in_one_line():
    env = {**os.environ, "DEMO_PORT_RANGE": "20000"}
    result = subprocess.run([sys.executable, "-m", "examples.gateway.trace_one"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr == "trace_one: DEMO_PORT_RANGE='20000': expected LOW-HIGH, two ports from 1024 to 65535 with LOW below HIGH (e.g. 20000-20999)\n"
