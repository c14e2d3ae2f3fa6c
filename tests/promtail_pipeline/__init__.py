r"""Runs log lines through the Promtail pipeline this stack renders, the way
Promtail 3.6.15 would.

Promtail cannot run here (no package), so this interprets the stage types and
the relabelling the rendered config uses, following the Promtail 3.6.15 source
(grafana/loki at tag v3.6.15, under clients/pkg/): every regex runs on RE2
(google-re2, the engine family of Go's regexp), Go's own semantics are kept
where Python's differ. A stage type, stage option, template construct,
JMESPath construct or selector form it does not know fails loudly, so the
config cannot drift away from what is tested.

Each module names the Go source it follows:
- go.py: Go's strconv.Unquote, regexp FindAll and ExpandString, encoding/json,
  time.ParseDuration and Promtail's getString;
- relabel.py: Prometheus relabelling and the Docker target's labels;
- gotemplate.py: text/template with Promtail's template functions;
- selector.py: the `match` stage's LogQL selector;
- jmespath.py: the `json` stage's JMESPath;
- stages.py: the entry and the per-entry stages; multiline.py: `multiline`;
  cri.py: `cri` (the kubelet's CRI log lines);
- pipeline.py: the pipeline, the `match` stage and the runners;
- errors.py: GoSyntaxError (Promtail would refuse) and NotTaught (this
  interpreter would have to learn something first).

Left out, on purpose: the targets themselves (tailing, positions, the Docker
API, Kubernetes discovery beyond relabelling), the client (batching,
retries, Loki's answers), rate limits and metrics stages; JMESPath beyond
fields and `||`, text/template beyond if/else and function pipelines (both
raise NotTaught rather than guess); Go's regexp is stood in for by RE2
(google-re2), which shares its syntax but not every corner (\C, some
Unicode classes). A model is not the program: the selector parser once
followed Loki's LogQL and accepted `or`, which the real Promtail refuses.
Where this interpreter and the real Promtail 3.6.15 were run side by side
on the development machine (every selector in test_promtail_harness.py,
every input of test_log_sources.py), they agreed on every line and label.
"""

from .errors import GoSyntaxError, NotTaught
from .go import go_duration, go_find_all, go_json_marshal, go_json_object, go_string, go_unquote
from .gotemplate import MISSING, TEMPLATE_FUNCTIONS, GoTemplate, TemplateExecError
from .jmespath import JmesPath
from .pipeline import STAGES, Pipeline, run_pipeline, run_stream
from .relabel import docker_entry_labels, relabel
from .selector import Selector
from .stages import Entry

__all__ = [
    "Entry",
    "GoSyntaxError",
    "GoTemplate",
    "JmesPath",
    "MISSING",
    "NotTaught",
    "Pipeline",
    "STAGES",
    "Selector",
    "TEMPLATE_FUNCTIONS",
    "TemplateExecError",
    "docker_entry_labels",
    "go_duration",
    "go_find_all",
    "go_json_marshal",
    "go_json_object",
    "go_string",
    "go_unquote",
    "relabel",
    "run_pipeline",
    "run_stream",
]
