"""The PromQL reading that the dashboard and alert checks rely on."""

from __future__ import annotations

import pytest

from tests.deploy.metrics import metric_names


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        # labels, ranges and grouping clauses are not metrics
        ('sum by (topic) (rate(a_total{topic="x"}[$__rate_interval]))', {"a_total"}),
        # functions are not metrics, even when a name is also a function's prefix
        ("histogram_quantile(0.9, sum by (le) (rate(b_bucket[5m])))", {"b_bucket"}),
        # binary operators, keywords and offsets
        ("a and on () b or vector(0) > 0 unless bool c offset 5m", {"a", "b", "c"}),
        # subqueries and postfix grouping
        ("deriv(sum(max by (p) (lag))[15m:1m]) > 0 / sum(d) by (le)", {"lag", "d"}),
        # a label value that looks like a call
        ('x{route="f(y)"}', {"x"}),
    ],
)
def test_metric_names_are_the_selected_series(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_exported_names_include_each_type_suffix(exported: dict[str, str]) -> None:
    # a counter, a gauge, a histogram of the worker, and the api's counter
    assert exported["stream_health_records_consumed_total"] == "stream_health_records_consumed"
    assert "stream_health_consumer_lag" in exported
    assert "stream_health_batch_transaction_seconds_bucket" in exported
    assert "stream_health_api_requests_total" in exported
    # the family name of a counter is not a series Prometheus stores
    assert "stream_health_records_consumed" not in exported
