"""`check-config`: every setting and the conditions file, judged before anything starts."""

from __future__ import annotations

from sqlalchemy.engine import make_url

from stream_health.config.conditions import ConditionsError
from stream_health.config.settings import Settings
from stream_health.credentials import redact


def _auth(settings: Settings) -> str:
    # The api's own validation, so check-config can never pass a key the api refuses.
    from stream_health_api.auth import Authenticator  # noqa: PLC0415

    return repr(Authenticator.from_settings(settings))


def _tracing(settings: Settings) -> str:
    if not settings.tracing_enabled:
        return "off"
    endpoint = redact(settings.otlp_endpoint or "the exporter's default, http://localhost:4318")
    return f"on, OTLP/HTTP to {endpoint}"


def check_config(settings: Settings) -> tuple[list[str], list[str]]:
    """(problems naming the variable, summary lines); nothing secret in either."""
    problems: list[str] = []
    summary: list[str] = []
    try:
        conditions = settings.load_conditions()
    except ConditionsError as exc:
        problems.append(f"STREAM_HEALTH_CONDITIONS: {exc}")
    else:
        summary.append(
            f"{len(conditions.conditions)} conditions: {', '.join(conditions.names)}"
            f" (from {settings.conditions or 'the shipped defaults'})"
        )
    try:
        auth = _auth(settings)
    except ValueError as exc:
        problems.append(f"STREAM_HEALTH_JWT_KEY: {exc}")
    else:
        summary.append(f"auth: {auth}")
    database = make_url(settings.database_url).render_as_string(hide_password=True)
    summary += [
        f"kafka: {settings.kafka_bootstrap}, consumer group {settings.consumer_group}",
        f"database: {database}",
        f"topics: {', '.join(settings.topics.inputs)} -> "
        f"{settings.topics.changes}, {settings.topics.dlq}",
        f"callbacks allowed from: {', '.join(str(n) for n in settings.callback_allow)}",
        f"tracing: {_tracing(settings)}",
    ]
    return problems, summary
