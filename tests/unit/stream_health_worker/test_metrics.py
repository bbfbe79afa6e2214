from stream_health_worker.metrics import WorkerMetrics


def test_the_server_gauge_shows_exactly_the_latest_series() -> None:
    metrics = WorkerMetrics()

    metrics.show_server_streams({("problematic", "a"): 3, ("problematic", "b"): 1})
    metrics.show_server_streams({("problematic", "a"): 4, ("incorrect", "b"): 2})

    def value(condition: str, server: str) -> float | None:
        labels = {"condition": condition, "server": server}
        return metrics.registry.get_sample_value(
            "stream_health_server_streams_in_condition", labels
        )

    assert value("problematic", "a") == 4
    assert value("problematic", "b") is None  # no longer in the condition: the series goes
    assert value("incorrect", "b") == 2
