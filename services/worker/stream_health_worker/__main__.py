"""`python -m stream_health_worker`: run the worker with settings from the environment."""

from __future__ import annotations

import gc

import uvicorn

from stream_health.config.settings import load_settings
from stream_health.logs import configure_logging
from stream_health_worker.app import build_app

# What is built at start (modules, the app, the settings) is never garbage: frozen, the
# collector stops walking it on every full collection. The thresholds stay Python's: larger
# ones were measured (1M-event benchmark, three repeats each) at up to 24% more events/s
# for up to 32% more peak memory per stream (each batch's cyclic garbage lives longer), and
# memory per stream is a target too (bench/RESULTS.md, 16:22).


def main() -> None:
    """Serve the worker (consumer plus /healthz, /readyz, /metrics)."""
    settings = load_settings()
    configure_logging(settings.log_level, secrets=settings.secret_values())
    app = build_app(settings)
    gc.collect()
    gc.freeze()
    uvicorn.run(
        app,
        host=settings.worker_host,
        port=settings.worker_port,
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main()
