"""Every problem in one run: a stack file with one problem of every kind the
settings know (reading, field, section, across keys, secrets) gets one
SettingsError listing all of them, whichever stage finds each."""

from __future__ import annotations

import pytest

from stack.settings import SettingsError, load_from_stack_file

# Each line of the file below that holds a problem says which kind.
STACK_FILE = """\
config:
  target: docker                                     # reading: no project prefix
  gateway-observabilty:cluster: eu-1                 # reading: misspelled project prefix
  docker:host: unix:///var/run/docker.sock           # (another namespace: fine)
  gateway-observability:namePrefix: Obs!             # field: text of the wrong shape
  gateway-observability:retention: {metrics: 7}      # field: wrong type
  gateway-observability:resources:
    grafana: {cpus: 0}                               # field: number out of range
  gateway-observability:scrapeIntervall: 15s         # field: unknown key
  gateway-observability:images: {tempo: 2.0.0}       # field: mapping key not allowed
  gateway-observability:evaluationInterval: 2m       # field: duration out of range
  gateway-observability:traces: {storage: cassandra} # field: not one of the choices
  gateway-observability:scrapeTimeout: 20s           # across keys: timeout above the interval
  gateway-observability:gatewayServices:
    - {name: api, address: "api:8000"}
    - {name: api, address: "api-2:8000"}             # across keys: duplicate service
    - {name: router, address: router}                # field: not host:port
  gateway-observability:alerting:
    slos:
      billing: {availability: 0.999}                 # across keys: SLO of an unknown service
      api: {latencyThresholdSeconds: 0.3}            # across keys: threshold not on a bucket
    routing:
      receivers:
        - {name: pager, pagerduty: {}}
        - {name: pager, pagerduty: {}}               # across keys: duplicate receiver
        - {name: chat, slack: {channel: "#ops"}}     # secrets: credential missing
        - {name: both, slack: {channel: "#a"}, pagerduty: {}}  # section: two kinds
        - {slack: {channel: "#b"}}                   # field: required key missing
      critical: [pager, ghost]                       # across keys: unknown receiver
      teams: {team: ml}                              # field: a mapping where a list belongs
      businessHours: {start: "18:00", end: "09:00"}  # section: ends before it starts
  gateway-observability:logs:
    storage:                                         # secrets: object store keys missing
      type: s3
      s3: {endpoint: "http://minio:9000", bucket: gateway-logs}
  gateway-observability:grafanaAdminPassword: hunter2  # secrets: plain text
  gateway-observability:receiverSecrets:
    pager: {secure: v1:AAAA}
    both: {secure: v1:AAAA}
    nobody: {secure: v1:AAAA}                        # secrets: no receiver of that name
"""

# One fragment per problem, in the order they are reported.
EXPECTED = [
    "'target' has no project prefix; write gateway-observability:target",
    "'gateway-observabilty:cluster': 'gateway-observabilty' is not this project's namespace",
    "gateway-observability:namePrefix: given 'Obs!'; expected lower-case letters",
    "gateway-observability:gatewayServices[2].address: given 'router'; expected host:port",
    "gateway-observability:images.tempo: key not allowed; expected one of 'prometheus'",
    "gateway-observability:retention.metrics: given 7; expected a duration",
    "gateway-observability:evaluationInterval: given '2m'; expected a duration between 5s and 1m",
    "gateway-observability:resources.grafana.cpus: given 0; expected a number of at least 0.05",
    "gateway-observability:alerting.routing.receivers[3]: receiver 'both' must have exactly one of slack, pagerduty, email, webhook",
    "gateway-observability:alerting.routing.receivers[4].name: required but not set",
    "gateway-observability:alerting.routing.teams: given {team: ml}; expected a list",
    "gateway-observability:alerting.routing.businessHours: start (18:00) must be before end (09:00)",
    "gateway-observability:traces.storage: given 'cassandra'; expected one of 'badger', 'elasticsearch', 'opensearch'",
    "gateway-observability:scrapeIntervall: unknown key (given '15s')",
    "gateway-observability:gatewayServices: service names must be unique; repeated: api",
    "gateway-observability:alerting.slos.billing: no such gateway service (services: api, router)",
    "gateway-observability:alerting.slos.api.latencyThresholdSeconds: given 0.3; must be one of the SLI's histogram buckets",
    "gateway-observability:scrapeTimeout: given 20s; must not exceed scrapeInterval (15s)",
    "gateway-observability:alerting.routing.receivers: names must be unique; repeated: pager",
    "gateway-observability:alerting.routing.critical: names unknown receiver 'ghost' (defined: pager, chat, both)",
    "gateway-observability:grafanaAdminPassword: given in plain text",
    "gateway-observability:receiverSecrets.chat: required for the slack receiver 'chat'",
    "gateway-observability:receiverSecrets.nobody: no receiver needs a credential of that name",
    "gateway-observability:objectStoreAccessKeyId: required because logs.storage.type is s3",
    "gateway-observability:objectStoreSecretAccessKey: required because logs.storage.type is s3",
]


@pytest.fixture
def every_problem(tmp_path) -> SettingsError:
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text(STACK_FILE)
    with pytest.raises(SettingsError) as caught:
        load_from_stack_file(path)
    return caught.value


def test_one_run_reports_every_kind_of_problem(every_problem):
    for fragment in EXPECTED:
        assert any(fragment in p for p in every_problem.problems), f"missing: {fragment}\n{every_problem}"


def test_each_problem_is_reported_once_and_nothing_else(every_problem):
    assert len(every_problem.problems) == len(EXPECTED), str(every_problem)
    assert str(every_problem).startswith(f"Invalid configuration in Pulumi.prod.yaml ({len(EXPECTED)} problems):")


def test_the_other_namespace_and_the_valid_parts_raise_nothing(every_problem):
    message = str(every_problem)
    assert "docker:host" not in message
    # Neither the receivers that failed nor their credentials are reported twice.
    assert "receiverSecrets.both" not in message and "receiverSecrets.pager:" not in message
