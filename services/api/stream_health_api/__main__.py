"""`python -m stream_health_api`: serve the api with settings from the environment."""

from __future__ import annotations

import uvicorn

from stream_health.config.settings import load_settings
from stream_health.logs import configure_logging
from stream_health_api.app import build_app


def main() -> None:
    """Serve the HTTP api."""
    settings = load_settings()
    configure_logging(settings.log_level, secrets=settings.secret_values())
    uvicorn.run(
        build_app(settings), host=settings.api_host, port=settings.api_port, log_config=None
    )


if __name__ == "__main__":
    main()
