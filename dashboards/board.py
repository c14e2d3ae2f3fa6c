"""What every board shares: datasources by fixed UID, the template variables,
the cross-links, and a Board that lays panels on Grafana's 24-column grid.

Panels are built with grafana-foundation-sdk (pinned in requirements.txt to
the release built for Grafana 12 and later); this module only adds the
project's conventions on top: every panel has a description, a unit,
decimals and thresholds; Prometheus targets over latency histograms carry
exemplars; queries filter on `$environment` wherever the series carry it
(the recorded SLO series keep it). The alert lists read the rule sources
themselves, not Prometheus' ALERTS series (which Loki's ruler never writes).
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass, field
from typing import Any, Optional

from grafana_foundation_sdk.builders import (
    bargauge,
    common as common_builders,
    dashboard,
    logs,
    loki,
    prometheus,
    stat,
    table,
    timeseries,
)
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DashboardLinkType,
    DataSourceRef,
    GridPos,
    Threshold,
    ThresholdsMode,
    VariableRefresh,
    VariableSort,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from gateway_telemetry.contract import FAILED_REQUEST_MATCHER
from stack.alerting.recording import PROVIDER_ERRORS
from stack.settings import Settings

# Dashboards and links reference datasources by these UIDs, never by name
# (stack/components/grafana.py provisions them).
DATASOURCE_UIDS = {"prometheus": "prometheus", "loki": "loki", "jaeger": "jaeger", "alertmanager": "alertmanager"}
# Their names: what Grafana's alerting pages and the alert list take instead
# of a UID (an Alertmanager is chosen by name: `?alertmanager=<name>`).
DATASOURCE_NAMES = {"prometheus": "Prometheus", "loki": "Loki", "jaeger": "Jaeger", "alertmanager": "Alertmanager"}
PROMETHEUS = DataSourceRef(type_val="prometheus", uid=DATASOURCE_UIDS["prometheus"])
LOKI = DataSourceRef(type_val="loki", uid=DATASOURCE_UIDS["loki"])

# Fixed UIDs: links between boards and bookmarks survive every deploy.
UIDS = {
    "overview": "gateway-overview",
    "providers": "gateway-llm-providers",
    "routing": "gateway-router-optimization",
    "slo": "gateway-slo",
    "logs": "gateway-logs-traces",
    "stack": "obs-stack-health",
}
TAG = "ai-gateway"
GRID_COLUMNS = 24

# Selectors every gateway query starts from.
ENV = 'environment=~"$environment"'
SERVICE = 'service=~"$service"'
PROVIDER_MODEL = 'gen_ai_provider_name=~"$provider", gen_ai_request_model=~"$model"'
RATE = "$__rate_interval"
# A kit service's failed requests (the contract's one definition: 5xx,
# exceptions, streams broken after their 200), and a provider's failed calls
# less those the caller's own request caused (the recording rules' selector).
FAILED = FAILED_REQUEST_MATCHER
PROVIDER_FAILED = PROVIDER_ERRORS.strip("{}")
# Grafana's custom unit `count:<unit>`: the value scaled (K, M ...) and the
# unit after it (getValueFormat, packages/grafana-data/src/valueFormats/valueFormats.ts).
TOKENS_PER_SECOND = "count:tokens/s"


# --- template variables ----------------------------------------------------------


def _query_variable(name: str, label: str, query: str, *, multi: bool = True) -> dashboard.QueryVariable:
    variable = (
        dashboard.QueryVariable(name)
        .label(label)
        .datasource(PROMETHEUS)
        .query(query)
        .definition(query)
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(multi)
        .include_all(multi)
        .allow_custom_value(False)
    )
    if multi:
        variable = variable.all_value(".*")  # one regex for every value, not a long alternation
    return variable


def environment_variable() -> dashboard.QueryVariable:
    """Every environment some target reports (the scrape configs add the label)."""
    return _query_variable("environment", "Environment", "label_values(up, environment)", multi=False)


def service_variable(metric: str = "http_server_request_duration_seconds_count") -> dashboard.QueryVariable:
    """Services of the chosen environment that expose `metric`."""
    return _query_variable("service", "Service", f"label_values({metric}{{{ENV}}}, service)")


def gateway_service_variable(settings: Settings) -> dashboard.QueryVariable:
    """The gateway's services of the chosen environment, Kong among them:
    those Prometheus scrapes and Promtail tails (settings.gatewayServices,
    each labelled `service` with its name by both). `up` lists a service
    even while it is down, when its logs matter most; Kong exposes none of
    the kit's HTTP metrics, so service_variable() would leave it out."""
    names = "|".join(service.name for service in settings.gateway_services)
    return _query_variable("service", "Service", f'label_values(up{{{ENV}, service=~"{names}"}}, service)')


def provider_variable() -> dashboard.QueryVariable:
    """Providers the Unified LLM API has called in the chosen environment."""
    return _query_variable(
        "provider", "Provider", f"label_values(gen_ai_client_operation_duration_seconds_count{{{ENV}}}, gen_ai_provider_name)"
    )


def model_variable() -> dashboard.QueryVariable:
    """Models of the chosen providers only."""
    return _query_variable(
        "model",
        "Model",
        f'label_values(gen_ai_client_operation_duration_seconds_count{{{ENV}, gen_ai_provider_name=~"$provider"}}, gen_ai_request_model)',
    )


def level_variable() -> dashboard.CustomVariable:
    """The contract's log levels (contract.LOG_FIELDS `level`; a Loki label)."""
    return (
        dashboard.CustomVariable("level")
        .label("Level")
        .values("debug,info,warning,error,critical")
        .multi(True)
        .include_all(True)
        .all_value(".*")
    )


# --- links ----------------------------------------------------------------------


def data_link(title: str, key: str, **variables: str) -> dashboard.DashboardLink:
    """A link from a series to another board with the time range and
    environment kept, setting that board's variables: a value as it is
    (`service="unified-llm-api"`) or a series label
    (`service="${__field.labels.service}"`)."""
    params = "".join(f"&var-{name}={value}" for name, value in variables.items())
    return dashboard.DashboardLink(title).url(f"/d/{UIDS[key]}?${{__url_time_range}}&${{environment:queryparam}}{params}")


# --- targets ----------------------------------------------------------------------


def quantile(q: float, histogram: str, selector: str, by: str) -> str:
    """The q-quantile of a histogram (its name without _bucket) over RATE, per `by`."""
    return f"histogram_quantile({q}, sum by ({by}, le) (rate({histogram}_bucket{selector}[{RATE}])))"


def promql(
    expr: str, legend: str = "", *, exemplar: bool = False, instant: bool = False, table_format: bool = False
) -> prometheus.Dataquery:
    """A Prometheus target: a range query unless `instant`; `legend` in
    Grafana's {{label}} syntax (Grafana's automatic legend when empty)."""
    query = prometheus.Dataquery().datasource(PROMETHEUS).expr(expr).legend_format(legend or "__auto").exemplar(exemplar)
    if instant:
        query = query.instant()
    else:
        query = query.range()
    if table_format:
        query = query.format(PromQueryFormat.TABLE)
    return query


def logql(expr: str, legend: str = "", *, max_lines: Optional[int] = None) -> loki.Dataquery:
    """A Loki target: log lines, or a metric query with `legend`."""
    query = loki.Dataquery().datasource(LOKI).expr(expr).legend_format(legend)
    return query.max_lines(max_lines) if max_lines else query


def thresholds(*steps: tuple[float, str], base: str = "green") -> dashboard.ThresholdsConfig:
    """Absolute thresholds: `base` below the first step, then each (value, colour)."""
    return (
        dashboard.ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps([Threshold(value=None, color=base), *(Threshold(value=value, color=color) for value, color in steps)])
    )


NEUTRAL = thresholds(base="blue")


# --- panels ----------------------------------------------------------------------


def _legend() -> common_builders.VizLegendOptions:
    return (
        common_builders.VizLegendOptions()
        .show_legend(True)
        .display_mode(common.LegendDisplayMode.TABLE)
        .placement(common.LegendPlacement.BOTTOM)
        .calcs(["mean", "max", "lastNotNull"])
    )


def _finish(
    panel: Any, title: str, description: str, unit: str, decimals: int, limits: dashboard.ThresholdsConfig, targets: list
) -> Any:
    assert len(targets) <= len(string.ascii_uppercase), title
    panel = panel.title(title).description(description).unit(unit).decimals(decimals).thresholds(limits)
    for ref_id, target in zip(string.ascii_uppercase, targets):
        panel = panel.with_target(target.ref_id(ref_id))
    return panel


# Panels: a title, a description (what it shows, what to do when it looks
# wrong), a Grafana unit id, then the targets; decimals and thresholds as named.


def graph(
    title: str,
    description: str,
    unit: str,
    *targets,
    decimals: int = 2,
    limits=NEUTRAL,
    stacked: bool = False,
    datasource=PROMETHEUS,
) -> timeseries.Panel:
    """A time series; `limits` other than NEUTRAL are drawn as lines."""
    panel = timeseries.Panel().datasource(datasource).legend(_legend()).fill_opacity(10).line_width(1)
    if stacked:
        panel = panel.stacking(common_builders.StackingConfig().mode(common.StackingMode.NORMAL)).fill_opacity(60)
    if limits is not NEUTRAL:
        panel = panel.thresholds_style(common_builders.GraphThresholdsStyleConfig().mode(common.GraphThresholdsStyleMode.LINE))
    return _finish(panel, title, description, unit, decimals, limits, list(targets))


def single_stat(title: str, description: str, unit: str, *targets, decimals: int = 2, limits=NEUTRAL) -> stat.Panel:
    """One number, coloured by `limits`, over a sparkline."""
    panel = (
        stat.Panel()
        .datasource(PROMETHEUS)
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .color_mode(common.BigValueColorMode.BACKGROUND)
        .graph_mode(common.BigValueGraphMode.AREA)
    )
    return _finish(panel, title, description, unit, decimals, limits, list(targets))


def bars(title: str, description: str, unit: str, *targets, decimals: int = 2, limits=NEUTRAL) -> bargauge.Panel:
    """Horizontal bars, one per series, of its last value."""
    panel = (
        bargauge.Panel()
        .datasource(PROMETHEUS)
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .display_mode(common.BarGaugeDisplayMode.GRADIENT)
        .orientation(common.VizOrientation.HORIZONTAL)
        .min(0)
    )
    return _finish(panel, title, description, unit, decimals, limits, list(targets))


def grid(title: str, description: str, unit: str, *targets, decimals: int = 2, limits=NEUTRAL) -> table.Panel:
    """A table (give the targets instant=True, table_format=True)."""
    panel = table.Panel().datasource(PROMETHEUS).show_header(True)
    return _finish(panel, title, description, unit, decimals, limits, list(targets))


def log_lines(title: str, description: str, *targets) -> logs.Panel:
    """Loki's lines, newest first, with their fields on a click."""
    panel = (
        logs.Panel()
        .datasource(LOKI)
        .show_time(True)
        .wrap_log_message(True)
        .enable_log_details(True)
        .prettify_log_message(False)
        .sort_order(common.LogsSortOrder.DESCENDING)
    )
    return _finish(panel, title, description, "none", 0, NEUTRAL, list(targets))


# Grafana's alert list panel (`alertlist`): what Grafana's source shows it
# can do, read at the newest revision of grafana/grafana the reference index
# holds (the repository is too large to fetch here, so not at the pinned
# v13.2.0 tag itself): public/app/plugins/panel/alertlist/module.tsx and
# types.ts give its options; public/app/features/alerting/unified/utils/
# datasource.ts says it reads Grafana's own rules and every rules datasource
# (types prometheus and loki, unless jsonData.manageAlerts is false) through
# their rules APIs, so Loki ruler alerts are listed beside Prometheus' ones.
# No panel Grafana serves by default reads an Alertmanager: its datasource's
# query() returns no data (public/app/plugins/datasource/alertmanager/
# DataSource.ts: "we actually don't use it, just need this data source to
# proxy requests"). The `alertGroups` panel that did (plugins/panel/
# alertGroups) is alpha and unmaintained: Grafana serves no alpha panel
# without [plugins] enable_alpha (pkg/api: `ReleaseStateAlpha &&
# !PluginsEnableAlpha`), it is absent from recent builds' plugin lists, and
# Grafana points to its alert groups page instead (grafana/grafana#70944).
# That page shows what Alertmanager holds (grouped, silenced, inhibited) for
# the datasource chosen by name (ALERTMANAGER_NAME_QUERY_KEY 'alertmanager',
# features/alerting/unified/utils/constants.ts): each alert list links there.
ALERT_LIST = "alertlist"
ALERT_LIST_SORT_BY_IMPORTANCE = 3  # SortOrder.Importance: firing first
ALERTMANAGER_GROUPS_URL = f"/alerting/groups?alertmanager={DATASOURCE_NAMES['alertmanager']}"


def alert_list(title: str, description: str, *, labels: str = "") -> dashboard.Panel:
    """The alerts firing or pending now in every rule source (Prometheus,
    Loki's ruler), worst first, their instances shown; `labels` keeps the
    instances matching those matchers ('{service=~"loki|promtail"}')."""
    options = {
        "viewMode": "list",
        "groupMode": "default",
        "groupBy": [],
        "maxItems": 50,
        "sortOrder": ALERT_LIST_SORT_BY_IMPORTANCE,
        "dashboardAlerts": False,
        "alertName": "",
        "alertInstanceLabelFilter": labels,
        # No `datasource` and no `folder`: no filter, every rule source.
        "showInstances": True,
        "showInactiveAlerts": False,
        "stateFilter": {"firing": True, "pending": True, "recovering": True, "error": True, "noData": False, "normal": False},
    }
    link = dashboard.DashboardLink("Alertmanager: alert groups, silences, inhibitions").url(ALERTMANAGER_GROUPS_URL)
    # Unit "none": the list shows no numbers, yet every panel states its unit (stack/readme_tables.py's tables read it).
    panel = dashboard.Panel().type(ALERT_LIST).title(title).description(description).unit("none")
    return panel.options(options).links([link])


# --- the board ----------------------------------------------------------------------


@dataclass
class Board:
    """One dashboard: panels placed left to right, wrapping at 24 columns;
    `row()` starts a row, collapsed rows holding their panels (Grafana keeps
    a collapsed row's panels inside it). `failures_only` names the panels
    that are empty on a healthy gateway (tests/test_live_gateway.py injects
    the failure instead of expecting data)."""

    key: str
    title: str
    description: str
    variables: list = field(default_factory=list)
    failures_only: set[str] = field(default_factory=set)
    _panels: list = field(default_factory=list)
    _rows: list = field(default_factory=list)
    _x: int = 0
    _y: int = 0
    _line_height: int = 0
    _next_id: int = 1

    @property
    def uid(self) -> str:
        return UIDS[self.key]

    @property
    def filename(self) -> str:
        return f"{self.uid}.json"

    def _take_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def row(self, title: str, *, collapsed: bool = False) -> "Board":
        self._newline()
        row = dashboard.Row(title).id(self._take_id()).collapsed(collapsed).grid_pos(GridPos(h=1, w=GRID_COLUMNS, x=0, y=self._y))
        self._rows.append((row, collapsed))
        self._y += 1
        return self

    def _newline(self) -> None:
        if self._x:
            self._y, self._x, self._line_height = self._y + self._line_height, 0, 0

    def add(self, panel: Any, width: int = 12, height: int = 8, *, failures_only: bool = False) -> "Board":
        if self._x + width > GRID_COLUMNS:
            self._newline()
        panel = panel.id(self._take_id()).grid_pos(GridPos(h=height, w=width, x=self._x, y=self._y))
        self._x += width
        self._line_height = max(self._line_height, height)
        if failures_only:
            self.failures_only.add(panel.build().title)
        if self._rows and self._rows[-1][1]:  # inside a collapsed row
            self._rows[-1] = (self._rows[-1][0].with_panel(panel), True)
        else:
            self._panels.append((len(self._rows), panel))
        return self

    def build(self) -> dict:
        """The dashboard as Grafana's JSON model (a dict)."""
        board = (
            dashboard.Dashboard(self.title)
            .uid(self.uid)
            .description(self.description)
            .tags([TAG])
            .time("now-3h", "now")
            .refresh("30s")
            .timezone("browser")
            .tooltip(DashboardCursorSync.CROSSHAIR)
            .readonly()
            .link(
                dashboard.DashboardLink("AI gateway boards")
                .type(DashboardLinkType.DASHBOARDS)
                .tags([TAG])
                .as_dropdown(True)
                .include_vars(True)
                .keep_time(True)
                .placement(None)  # type: ignore[arg-type]  # shown beside the time picker
            )
        )
        for variable in self.variables:
            board = board.with_variable(variable)
        # Panels and rows in the order they were added: rows are their own entries.
        placed = 0
        for index, (row, _collapsed) in enumerate([(None, False), *self._rows]):
            if row is not None:
                board = board.with_row(row)
            while placed < len(self._panels) and self._panels[placed][0] == index:
                board = board.with_panel(self._panels[placed][1])
                placed += 1
        return json.loads(JSONEncoder(sort_keys=True).encode(board.build()))


def render(board: Board) -> str:
    """The board's JSON file: sorted keys, two-space indent, final newline."""
    return json.dumps(board.build(), indent=2, sort_keys=True) + "\n"
