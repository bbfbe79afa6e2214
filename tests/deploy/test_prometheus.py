"""deploy/prometheus/alerts.yaml: promtool accepts it, its unit tests pass, real metrics only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.deploy.metrics import metric_names
from tests.deploy.tools import DEPLOY, promtool

ALERTS = DEPLOY / "prometheus" / "alerts.yaml"
ALERT_TESTS = DEPLOY / "prometheus" / "alerts.test.yaml"
# What must be alerted on (metric families): the outbox's backlog, streams per server.
REQUIRED = {
    "stream_health_outbox_oldest_age_seconds",
    "stream_health_outbox_backlog_rows",
    "stream_health_server_streams_in_condition",
    "stream_health_consumer_lag",
    "stream_health_batch_failures",
    "stream_health_dead_letters",
    "stream_health_api_requests",
}


def _rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"]]


def rule_file_errors(path: Path) -> str:
    """`promtool check rules` output when it rejects the file (lint included); else empty."""
    result = promtool("check", "rules", "--lint=all", "--lint-fatal", path)
    return "" if result.returncode == 0 else result.stdout + result.stderr


def test_promtool_accepts_the_rules() -> None:
    assert rule_file_errors(ALERTS) == ""


def test_promtool_rejects_a_broken_rule(tmp_path: Path) -> None:
    broken = ALERTS.read_text(encoding="utf-8").replace(
        "expr: absent(stream_health_windows_held)", "expr: absent(stream_health_windows_held"
    )
    path = tmp_path / "alerts.yaml"
    path.write_text(broken, encoding="utf-8")

    assert "unclosed left parenthesis" in rule_file_errors(path)


def test_each_alert_fires_on_its_case_and_not_on_the_near_miss() -> None:
    result = promtool("test", "rules", ALERT_TESTS)

    assert result.returncode == 0, result.stdout + result.stderr


def test_alerts_read_only_metrics_the_services_export(exported: dict[str, str]) -> None:
    unknown = {r["alert"]: metric_names(r["expr"]) - set(exported) for r in _rules()}

    assert {alert: names for alert, names in unknown.items() if names} == {}


def test_the_alerts_cover_the_operational_metrics(exported: dict[str, str]) -> None:
    alerted = {exported[name] for rule in _rules() for name in metric_names(rule["expr"])}

    assert alerted >= REQUIRED, f"missing: {sorted(REQUIRED - alerted)}"


def test_every_alert_has_a_severity_a_summary_a_description_and_a_duration() -> None:
    for rule in _rules():
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert {"summary", "description"} <= set(rule["annotations"]), rule["alert"]
        assert rule.get("for"), rule["alert"]


def test_every_alert_has_a_unit_test() -> None:
    tests = yaml.safe_load(ALERT_TESTS.read_text(encoding="utf-8"))["tests"]
    tested = {case["alertname"] for test in tests for case in test["alert_rule_test"]}

    assert {rule["alert"] for rule in _rules()} == tested
