"""deploy/grafana/stream-health.json: loads, every panel queries real metrics, PromQL parses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.metrics import metric_names
from tests.deploy.tools import DEPLOY, promtool

DASHBOARD = DEPLOY / "grafana" / "stream-health.json"
# Grafana's own variables, replaced by what Grafana would send.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}
# What the dashboard must show (the families, by the name the worker and api give them).
REQUIRED = {
    "stream_health_records_consumed",
    "stream_health_dead_letters",
    "stream_health_events_skipped",
    "stream_health_duplicates",
    "stream_health_transitions",
    "stream_health_streams_in_condition",
    "stream_health_consumer_lag",
    "stream_health_batch_transaction_seconds",
    "stream_health_outbox_published",
    "stream_health_outbox_backlog_rows",
    "stream_health_outbox_oldest_age_seconds",
    "stream_health_server_streams_in_condition",
    "stream_health_api_requests",
}


def _dashboard() -> dict[str, Any]:
    result: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return result


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    panels = []
    for panel in dashboard["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))  # collapsed rows hold their panels
    return panels


def _exprs(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in _panels(dashboard) for t in p.get("targets", [])]


def unknown_metrics(exprs: list[str], exported: dict[str, str]) -> dict[str, set[str]]:
    """Expressions that read a metric the services do not export, with those names."""
    unknown = {expr: metric_names(expr) - set(exported) for expr in exprs}
    return {expr: names for expr, names in unknown.items() if names}


def promql_errors(exprs: list[str], tmp_path: Path) -> str:
    """promtool's complaints about the expressions (as recording rules); empty when none."""
    rules = []
    for index, expr in enumerate(exprs):
        substituted = expr
        for variable, value in GRAFANA_VARIABLES.items():
            substituted = substituted.replace(variable, value)
        rules.append({"record": f"dashboard:expr_{index}", "expr": substituted})
    path = tmp_path / "dashboard-rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = promtool("check", "rules", "--lint=none", path)
    return "" if result.returncode == 0 else result.stdout + result.stderr


def test_every_panel_has_a_datasource_and_queries() -> None:
    dashboard = _dashboard()
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    ids = [p["id"] for p in _panels(dashboard)]

    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in _panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"].strip("${}") in variables, panel["title"]
        assert panel["targets"], panel["title"]
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        assert all(t["expr"].strip() for t in panel["targets"]), panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]


def test_the_dashboard_reads_only_metrics_the_services_export(exported: dict[str, str]) -> None:
    assert unknown_metrics(_exprs(_dashboard()), exported) == {}


def test_a_misspelt_metric_is_reported(exported: dict[str, str]) -> None:
    # the counter's family name without `_total`: not a series Prometheus stores
    exprs = ["sum(rate(stream_health_dead_letters[5m]))"]

    assert unknown_metrics(exprs, exported) == {exprs[0]: {"stream_health_dead_letters"}}


def test_the_dashboard_shows_the_operational_metrics(exported: dict[str, str]) -> None:
    shown = {exported[name] for expr in _exprs(_dashboard()) for name in metric_names(expr)}

    assert shown >= REQUIRED, f"missing: {sorted(REQUIRED - shown)}"


def test_every_expression_parses(tmp_path: Path) -> None:
    assert promql_errors(_exprs(_dashboard()), tmp_path) == ""


@pytest.mark.parametrize(
    "expr",
    [
        "sum(rate(stream_health_dead_letters_total[5m])",  # unbalanced parenthesis
        "rate(stream_health_dead_letters_total)",  # rate needs a range vector
    ],
)
def test_a_broken_expression_is_rejected(expr: str, tmp_path: Path) -> None:
    assert promql_errors([expr], tmp_path) != ""
