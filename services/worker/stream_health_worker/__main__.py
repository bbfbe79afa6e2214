"""`python -m stream_health_worker`: run the worker with settings from the environment."""

from __future__ import annotations

import uvicorn

from stream_health.config.settings import load_settings
from stream_health.logs import configure_logging
from stream_health_worker.app import build_app
from stream_health_worker.tuning import tune_allocator, tune_collector


def main() -> None:
    """Serve the worker (consumer plus /healthz, /readyz, /metrics)."""
    settings = load_settings()
    configure_logging(settings.log_level, secrets=settings.secret_values())
    app = build_app(settings)
    tune_collector()
    tune_allocator()
    uvicorn.run(
        app,
        host=settings.worker_host,
        port=settings.worker_port,
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main()
