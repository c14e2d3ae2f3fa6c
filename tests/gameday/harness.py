"""One live incident on 127.0.0.1: its own real Prometheus and Alertmanager
(Debian's) running the rendered rules and routing for the game day's
settings, the demo gateway (extra replicas where the incident needs them)
under a steady load, contract-shaped stand-ins for what cannot run here
(Kong, Loki, Promtail, Jaeger, Grafana), and webhook receivers that record
every notification with its arrival time.

What differs from `pulumi up` is what the live tests change: addresses
(127.0.0.1 ports), /etc paths, and the settings an operator would tune for
a drill: 5 s scrape and evaluation intervals, a 5 s group wait, a 10 s
pending period for every alert and a 10 s heartbeat. Everything else is the
rendered configuration.

An incident runs in four steps (`Incident.play`): start (the gateway
first, then Prometheus and Alertmanager), wait until the stack is quiet
(every target scraped, every rule group evaluated since, no alert but the
Watchdog, none fired or paged yet), inject the fault, then watch for `horizon` seconds:
long enough for every alert that could fire to have fired, so an extra page
is seen as surely as a missing one.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.error
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Callable

import httpx
import yaml
from live import get_json, post_json, query, start_alertmanager, start_prometheus, stop, until, wait_for, write_alertmanager_files, write_prometheus_files
from standins import Handler, StandIn
from standins.exporter import ContractExporter

from examples.gateway.layout import DEFAULT_PORTS, url_variable
from examples.gateway.run import Demo, free_ports
from gateway_telemetry import contract
from stack.alert_names import ALERT_NAMES, WATCHDOG
from stack.alerting import rule_groups
from stack.components.alertmanager import render_alertmanager_config
from stack.components.prometheus import SPANMETRICS_JOB
from stack.settings import Duration, Settings, parse_settings
from stack.settings.alerting import deep_merge

KIT_SERVICES = ("unified-llm-api", "intelligent-router", "optimization-service")
RECEIVERS = ("pager", "chat", "tickets", "heartbeat")
ENVIRONMENT = "gameday"
# A drill's timings: the settings' shortest intervals, and every alert's
# pending period shortened alike (the Watchdog takes none).
PENDING = "10s"
DRILL = {
    "scrapeInterval": "5s",
    "scrapeTimeout": "4s",
    "evaluationInterval": "5s",
    "alerting": {
        "forDurations": {name: PENDING for name in ALERT_NAMES if name != WATCHDOG},
        "routing": {
            "critical": ["pager", "chat"],
            "warning": ["chat"],
            "info": ["tickets"],
            "heartbeat": "heartbeat",
            "groupWait": "5s",
            "heartbeatInterval": "10s",
            # Tickets are held outside business hours; a drill runs at any hour.
            "businessHours": {"weekdays": "sunday:saturday", "start": "00:00", "end": "24:00"},
        },
    },
}
# Prometheus' --rules.alert.resend-delay in tests/live.py: an alert Prometheus
# stops sending stays in Alertmanager for 4 x max(resend delay, evaluation interval).
RESEND_DELAY_SECONDS = 5
# Stand-ins for the scrape jobs of components that cannot run here.
STANDIN_METRICS = {
    "loki": contract.STACK_METRICS["loki"],
    "promtail": contract.STACK_METRICS["promtail"],
    "jaeger": tuple(m for m in contract.STACK_METRICS["jaeger"] if m.name.startswith("otelcol_")),
    SPANMETRICS_JOB: tuple(m for m in contract.STACK_METRICS["jaeger"] if m.name.startswith("traces_")),
    "grafana": contract.STACK_METRICS["grafana"],
}


@dataclass(frozen=True, order=True)
class Page:
    """A notification as the on-call engineer sees it: which receiver, which alert, how severe."""

    receiver: str
    alertname: str
    severity: str

    def __str__(self) -> str:
        return f"{self.receiver}: {self.alertname} ({self.severity})"


class ReceiverHandler(Handler):
    def do_POST(self):  # noqa: N802 (http.server's naming)
        arrived = time.monotonic()
        scenario, _, receiver = self.path.strip("/").partition("/")
        self.state.record(scenario, receiver, arrived, json.loads(self.body()))
        self.reply(200, {})


class Receivers(StandIn):
    """Webhook receivers for every scenario at once: POST /<scenario>/<receiver>."""

    handler = ReceiverHandler

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.received: list[tuple[str, str, float, dict]] = []

    def record(self, scenario: str, receiver: str, arrived: float, body: dict) -> None:
        with self._lock:
            self.received.append((scenario, receiver, arrived, body))

    def notifications(self, scenario: str) -> list[tuple[str, float, dict]]:
        """(receiver, arrival, body) for the scenario, in arrival order."""
        with self._lock:
            return [(r, at, body) for s, r, at, body in self.received if s == scenario]

    def pages(self, scenario: str, since: float = 0.0) -> dict[Page, float]:
        """Every firing page of the scenario after `since` (monotonic), with its first arrival.
        The heartbeat's Watchdog is the switch's business, not a page."""
        first: dict[Page, float] = {}
        for receiver, at, body in self.notifications(scenario):
            if at < since or body["status"] != "firing":
                continue
            for alert in body["alerts"]:
                if alert["status"] == "firing" and alert["labels"]["alertname"] != WATCHDOG:
                    page = Page(receiver, alert["labels"]["alertname"], alert["labels"].get("severity", ""))
                    first.setdefault(page, at)
        return first

    def heartbeats(self, scenario: str) -> list[float]:
        return [at for receiver, at, body in self.notifications(scenario) if receiver == "heartbeat" and body["status"] == "firing"]


class Load:
    """Chat requests to the Unified LLM API at a fixed rate, on a thread;
    every prompt new while `fresh` (the cache answers a repeated one without
    a provider call, and without spend). `stream` asks for server-sent events."""

    def __init__(self, url: str, rate: float, models: tuple[str, ...], stream: bool = False, fresh: bool = True) -> None:
        self.url, self.period, self.models, self.stream, self.fresh = url, 1 / rate, models, stream, fresh
        self.answers: Counter = Counter()  # status or exception name -> count
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="load", daemon=True)

    def start(self) -> "Load":
        self._thread.start()
        return self

    def _send(self, client: httpx.Client, sent: int) -> None:
        body = {
            "model": self.models[sent % len(self.models)],
            "messages": [{"role": "user", "content": f"Game day request {sent if self.fresh else 0}: what pages whom?"}],
            "stream": self.stream,
        }
        try:
            answer = client.post(f"{self.url}/v1/chat/completions", json=body, headers={"authorization": "Bearer gameday-key"})
            self.answers[answer.status_code] += 1
        except httpx.HTTPError as exc:
            self.answers[type(exc).__name__] += 1

    def _run(self) -> None:
        # Each request on its own thread: a stalled gateway must not slow the arrivals down.
        with httpx.Client(timeout=httpx.Timeout(30, connect=2)) as client:
            due, sent = time.monotonic(), 0
            while not self._stop.is_set():
                threading.Thread(target=self._send, args=(client, sent), daemon=True).start()
                sent, due = sent + 1, due + self.period
                self._stop.wait(max(0.0, due - time.monotonic()))

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(15)


@dataclass
class Setup:
    """What an incident needs besides the defaults: settings merged over the
    drill's, a load, extra replicas of demo services, Kong instances."""

    settings: dict = field(default_factory=dict)
    rate: float = 3.0
    models: tuple[str, ...] = ("gpt-4o-mini", "claude-3-5-haiku")
    stream: bool = False
    replicas: dict[str, int] = field(default_factory=dict)  # kit service -> extra replicas
    kong_instances: int = 1
    # False: one prompt over and over until the fault (answered from the cache).
    fresh_prompts: bool = True
    # Several: replicas evaluating the same rules, each scraping every one and
    # sending to every Alertmanager; peers gossiping as one cluster.
    prometheus_replicas: int = 1
    alertmanager_peers: int = 1


class Incident:
    """One scenario's stack; `play` runs it and returns the Outcome."""

    def __init__(self, key: str, setup: Setup, receivers: Receivers, binaries: dict[str, str], work: Path) -> None:
        self.key, self.setup, self.receivers, self.binaries = key, setup, receivers, binaries
        self.work = work / key
        self.work.mkdir(parents=True)
        self.ports: dict[str, int] = {}
        self.replica_ports: dict[str, list[int]] = {}
        self.kong = [ContractExporter(contract.KONG.metrics) for _ in range(setup.kong_instances)]
        self.standins = {job: ContractExporter(metrics) for job, metrics in STANDIN_METRICS.items()}
        self.processes: dict[str, tuple[subprocess.Popen, IO]] = {}
        self.demo: Demo | None = None
        self.replica_demos: dict[str, list[Demo]] = {}
        self.load: Load | None = None
        self.settings: Settings | None = None

    # --- the stack --------------------------------------------------------------------------

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def _settings(self) -> Settings:
        kit = [{"name": s, "address": f"127.0.0.1:{self.ports[s]}"} for s in KIT_SERVICES]
        config = deep_merge(
            deep_merge({"target": "docker"}, DRILL),
            {
                "gatewayServices": [{"name": "kong", "address": self.kong[0].address}, *kit],
                "alerting": {
                    "routing": {
                        "receivers": [{"name": r, "webhook": {"url": f"{self.receivers.url}/{self.key}/{r}"}} for r in RECEIVERS]
                    }
                },
            },
        )
        return parse_settings(deep_merge(config, self.setup.settings), ENVIRONMENT, f"game day {self.key}")

    def instances(self, component: str) -> list[str]:
        """The process names of a component: `prometheus`, `prometheus-1`, ..."""
        count = self.setup.prometheus_replicas if component == "prometheus" else self.setup.alertmanager_peers
        return [component if i == 0 else f"{component}-{i}" for i in range(count)]

    def _local_addresses(self, config: dict) -> None:
        alertmanagers = [f"127.0.0.1:{self.ports[name]}" for name in self.instances("alertmanager")]
        config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = alertmanagers
        targets = {
            **{job: [e.address] for job, e in self.standins.items()},
            "kong": [k.address for k in self.kong],
            **{c: [f"127.0.0.1:{self.ports[name]}" for name in self.instances(c)] for c in ("prometheus", "alertmanager")},
            **{s: [f"127.0.0.1:{self.ports[s]}", *(f"127.0.0.1:{p}" for p in self.replica_ports.get(s, []))] for s in KIT_SERVICES},
        }
        for job in config["scrape_configs"]:
            if job["job_name"] in targets:
                job["static_configs"][0]["targets"] = targets[job["job_name"]]

    def start_process(self, name: str) -> None:
        """Start `prometheus`, `alertmanager` or one of their replicas (`prometheus-1`)."""
        component = name.split("-")[0]
        log = open(self.work / f"{name}.log", "a")  # closed by stop_process
        config = self.work / name / f"{component}.yml"
        if component == "prometheus":
            process = start_prometheus(self.binaries[component], config, self.ports[name], log)
        else:
            process = start_alertmanager(self.binaries[component], config, self.ports[name], log, self._cluster_flags(name))
        self.processes[name] = (process, log)
        wait_for(f"{self.url(name)}/-/ready")

    def _cluster_flags(self, name: str) -> tuple[str, ...]:
        """Alertmanager 0.25's gossip flags when there are peers (every peer
        joins every peer, as the Kubernetes target renders them); none alone."""
        peers = self.instances("alertmanager")
        if len(peers) == 1:
            return ()
        listen = f"127.0.0.1:{self.ports[f'{name}-gossip']}"
        return (
            f"--cluster.listen-address={listen}",
            f"--cluster.advertise-address={listen}",
            *(f"--cluster.peer=127.0.0.1:{self.ports[f'{peer}-gossip']}" for peer in peers),
        )

    def stop_process(self, name: str) -> None:
        process, log = self.processes.pop(name)
        stop([process])
        log.close()

    def _pick_ports(self) -> None:
        """Ports picked right before they are bound: incidents run at once, and
        a port picked long before could be another's by then."""
        peers = self.instances("alertmanager")
        names = (*DEFAULT_PORTS, *self.instances("prometheus"), *peers, *(f"{p}-gossip" for p in peers if len(peers) > 1))
        ports = free_ports(len(names) + sum(self.setup.replicas.values()))
        self.ports = dict(zip(names, ports))
        self.replica_ports = {s: [ports.pop() for _ in range(n)] for s, n in self.setup.replicas.items()}

    def start(self) -> None:
        self._pick_ports()
        for exporter in (*self.kong, *self.standins.values()):
            exporter.start()
        self.settings = self._settings()
        # tests/live.py writes <folder>/<component>.yml, where start_process looks.
        for name in self.instances("alertmanager"):
            write_alertmanager_files(self.settings, self.work / name, {})
        for name in self.instances("prometheus"):
            write_prometheus_files(self.settings, self.work / name, self._local_addresses)
        self._start_gateway()
        # Prometheus only once every target answers: a target still starting
        # would raise GatewayServiceDown, and the page it sent would make
        # Alertmanager hold the incident's own page back by its group_interval (5m).
        for name in (*self.instances("alertmanager"), *self.instances("prometheus")):
            self.start_process(name)
        self.load = Load(self.demo.url("unified-llm-api"), self.setup.rate, self.setup.models, self.setup.stream, self.setup.fresh_prompts).start()

    def _start_gateway(self) -> None:
        """The demo gateway and the incident's extra replicas, each ready."""
        env = {"OTEL_TRACES_SAMPLER": "always_off", "DEMO_ENVIRONMENT": ENVIRONMENT, "DEMO_LOG_LEVEL": "WARNING"}
        self.demo = Demo(ports={s: self.ports[s] for s in DEFAULT_PORTS}, log_dir=self.work / "demo", env=env, capture=True)
        self.demo.start(ready_timeout=90)
        # A replica reaches its peers where the demo's own do (Demo sets only its own services' URLs).
        peers = {url_variable(s): self.demo.url(s) for s in DEFAULT_PORTS}
        for service, ports in self.replica_ports.items():
            self.replica_demos[service] = []
            for port in ports:
                replica = Demo(ports={service: port}, log_dir=self.work / f"demo-{port}", env={**env, **peers}, capture=True)
                replica.start(ready_timeout=90)
                self.replica_demos[service].append(replica)

    def stop(self) -> None:
        if self.load:
            self.load.stop()
        for demo in [self.demo, *(d for ds in self.replica_demos.values() for d in ds)]:
            if demo is not None:
                demo.stop()
        for name in list(self.processes):
            self.stop_process(name)
        for exporter in (*self.kong, *self.standins.values()):
            exporter.stop()

    # --- what the tests read ------------------------------------------------------------------

    def prometheus_alerts(self) -> list[dict]:
        return get_json(f"{self.url('prometheus')}/api/v1/alerts")["data"]["alerts"]

    def am_alerts(self) -> list[dict]:
        return get_json(f"{self.url('alertmanager')}/api/v2/alerts")

    def noise(self, since: datetime) -> list[str]:
        """What keeps the stack from being quiet: targets not up, rule groups
        not evaluated after `since`, alerts other than the Watchdog."""
        prometheus = self.url("prometheus")
        targets = get_json(f"{prometheus}/api/v1/targets")["data"]["activeTargets"]
        groups = get_json(f"{prometheus}/api/v1/rules")["data"]["groups"]
        return (
            [f"target {t['labels'].get('job')} {t['scrapeUrl']}: {t['health']} {t['lastError']}" for t in targets if t["health"] != "up"]
            # The SLO board's window group runs once a minute and feeds no alert.
            + [
                f"group {g['name']} not evaluated yet"
                for g in groups
                if g["interval"] <= self.settings.evaluation_interval.seconds and datetime.fromisoformat(g["lastEvaluation"]) <= since
            ]
            + [f"alert {a['labels']['alertname']} {a['state']}" for a in self.prometheus_alerts() if a["labels"]["alertname"] != WATCHDOG]
            # The alerting path works end to end once the Watchdog reached the heartbeat.
            + ([] if self.receivers.heartbeats(self.key) else ["no heartbeat received yet"])
        )

    def provider_faults(self, **faults) -> None:
        post_json(f"{self.demo.url('fake-provider')}/admin/faults", faults)

    def router_faults(self, **faults) -> None:
        post_json(f"{self.demo.url('intelligent-router')}/admin/faults", faults)

    # --- the incident ---------------------------------------------------------------------------

    def play(self, fault: Callable[["Incident"], None], horizon: float, check: Callable[["Incident"], str | None] | None = None) -> "Outcome":
        """Start, wait for quiet, inject `fault`, watch for `horizon` s, run
        `check` (its message is a failure); always stop."""
        try:
            self.start()
            started = datetime.now(timezone.utc)
            # Two scrapes of every target, then an evaluation of every group after them.
            time.sleep(2 * self.settings.scrape_interval.seconds)
            if not until(lambda: not self.noise(started), timeout=60, step=1):
                return Outcome({}, {}, f"never quiet before the fault: {self.noise(started)}", Counter())
            # A page before the fault (or one still in its group_wait: an alert that fired at all)
            # would have Alertmanager hold the incident's page for that group back by its group_interval.
            early = [str(p) for p in self.receivers.pages(self.key)] + [
                f"{a['metric']['alertname']} fired" for a in query(self.url("prometheus"), f'ALERTS{{alertstate="firing", alertname!="{WATCHDOG}"}}[1h]')
            ]
            if early:
                return Outcome({}, {}, f"paged before the fault: {', '.join(early)}", Counter())
            injected = time.monotonic()
            fault(self)
            time.sleep(horizon)
            suppressed = {
                a["labels"]["alertname"]: a["status"]["inhibitedBy"] for a in self.am_alerts() if a["status"]["state"] == "suppressed"
            }
            pages = {page: at - injected for page, at in self.receivers.pages(self.key, since=injected).items()}
            heartbeats = [at - injected for at in self.receivers.heartbeats(self.key)]
            answers = Counter(self.load.answers) if self.load else Counter()
            return Outcome(pages, suppressed, "", answers, heartbeats, check(self) if check else None)
        except (OSError, urllib.error.URLError, subprocess.SubprocessError) as exc:
            return Outcome({}, {}, f"{type(exc).__name__}: {exc}", Counter())
        finally:
            self.stop()

    def floor(self, page: Page) -> dict[str, int]:
        """Seconds the configuration allows from a fault to this page: scrape
        interval + evaluation interval + the alert's `for` (as rendered, the
        shortest of its rules of the page's severity) + the group wait (as rendered)."""
        return floor_terms(self.settings, page.alertname, page.severity)


def floor_terms(settings: Settings, alertname: str, severity: str) -> dict[str, int]:
    """The terms of an alert's time-to-notify floor under `settings` (see Incident.floor)."""
    rules = [
        r
        for groups in rule_groups(settings).values()
        for g in groups
        for r in g["rules"]
        if r.get("alert") == alertname and r["labels"]["severity"] == severity
    ]
    config = yaml.safe_load(render_alertmanager_config(settings))
    return {
        "scrape_interval": settings.scrape_interval.seconds,
        "evaluation_interval": settings.evaluation_interval.seconds,
        "for": min(Duration.parse(r.get("for", "0s")).seconds for r in rules) if rules else 0,
        "group_wait": Duration.parse(config["route"]["group_wait"]).seconds,
    }


@dataclass
class Outcome:
    """What a played incident delivered: each page with its time to notify
    (seconds after the fault), the alerts Alertmanager held back by
    inhibition (alertname -> the fingerprints muting it), and any error."""

    pages: dict[Page, float]
    suppressed: dict[str, list[str]]
    error: str
    answers: Counter
    heartbeats: list[float] = field(default_factory=list)
    check_failed: str | None = None
