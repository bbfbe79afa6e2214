"""JSON log lines: stable event names, and no credential in any line, whatever logged it."""

import ast
import asyncio
import io
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson
import pytest
from fastapi import FastAPI

from stream_health.config.conditions import load_conditions
from stream_health.config.settings import TopicNames
from stream_health.credentials import redact
from stream_health.domain.stream import Rules
from stream_health.logs import EVENT_NAME, JsonFormatter
from stream_health_api.analytics import analytics_router
from stream_health_api.auth import Authenticator
from stream_health_worker import relay as relay_module
from stream_health_worker import runtime as runtime_module
from stream_health_worker.gate import CommitGate
from stream_health_worker.ingest import WorkerContext
from stream_health_worker.metrics import WorkerMetrics
from stream_health_worker.owner import WindowOwner
from stream_health_worker.records import topic_roles
from stream_health_worker.relay import Relay
from stream_health_worker.runtime import Runtime

ROOT = Path(__file__).resolve().parents[3]
JWT_KEY = "an-hs256-secret-that-is-at-least-32-bytes-long"
CAMERA_PASSWORD = "cam3ra-Pa55"
DB_PASSWORD = "db-Pa55word"
STREAM_URL = f"rtsp://admin:{CAMERA_PASSWORD}@10.0.0.7:554/live"
DSN = f"postgresql+asyncpg://stream_health:{DB_PASSWORD}@db:5432/stream_health"
TOKEN = jwt.encode({"sub": "ops", "exp": int(time.time()) - 60}, JWT_KEY, "HS256")
SECRETS = (JWT_KEY, CAMERA_PASSWORD, DB_PASSWORD, TOKEN, TOKEN.rsplit(".", 1)[1])


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Every logger at DEBUG, through the service's formatter, into a buffer."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter(secrets=[JWT_KEY]))
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG)
    try:
        yield buffer
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


def _lines(buffer: io.StringIO, event: str | None = None) -> list[dict[str, Any]]:
    lines = [orjson.loads(line) for line in buffer.getvalue().splitlines()]
    return [line for line in lines if event is None or line["event"] == event]


class _Seen(logging.Handler):
    """Sets an event when a line with the given event is logged."""

    def __init__(self, event: str) -> None:
        super().__init__()
        self.event, self.seen = event, asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == self.event:
            self.seen.set()


def _assert_no_secret(buffer: io.StringIO) -> None:
    text = buffer.getvalue()
    assert text  # something was logged: the paths ran
    for secret in SECRETS:
        assert secret not in text


# --- the formatter ---------------------------------------------------------------------------


def test_a_stable_event_is_the_event_and_extras_are_fields(captured: io.StringIO) -> None:
    logging.getLogger("stream_health_worker.x").info("worker.started", extra={"group": "g"})

    [line] = _lines(captured, "worker.started")
    assert (line["event"], line["group"], line["level"]) == ("worker.started", "g", "info")
    assert line["logger"] == "stream_health_worker.x"
    assert "message" not in line


def test_free_text_from_a_library_is_an_unstructured_event(captured: io.StringIO) -> None:
    logging.getLogger("aiokafka.consumer").warning("Received %s", "message")

    [line] = _lines(captured, "log.unstructured")
    assert (line["event"], line["message"]) == ("log.unstructured", "Received message")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (STREAM_URL, "rtsp://admin:***@10.0.0.7:554/live"),
        (DSN, "postgresql+asyncpg://stream_health:***@db:5432/stream_health"),
        (
            "{'url': 'rtsp://u:p@ss@h/x', 'n': 1}",
            "{'url': 'rtsp://u:***@h/x', 'n': 1}",
        ),  # '@' in a password
        (f"Authorization: Bearer {TOKEN}", "Authorization: Bearer ***"),
        (f"token {TOKEN} refused", "token *** refused"),  # a JWT anywhere
        ("host=db password=hunter2 user=x", "host=db password=*** user=x"),
        ('{"jwt_key": "abc"}', '{"jwt_key": "***"}'),
        (f"key was {JWT_KEY}!", "key was ***!"),  # configured secrets, verbatim
        (
            "mail ops@example.com about stream_health.worker",
            "mail ops@example.com about stream_health.worker",
        ),
    ],
)
def test_redact_masks_credentials_in_free_text(text: str, shown: str) -> None:
    assert redact(text, secrets=(JWT_KEY,)) == shown


def test_every_log_call_in_the_code_names_a_stable_event() -> None:
    calls = 0
    for path in [*ROOT.joinpath("shared").rglob("*.py"), *ROOT.joinpath("services").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "log"
                and node.func.attr in {"debug", "info", "warning", "error", "exception"}
            ):
                continue
            calls += 1
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            first = node.args[0] if node.args else None
            assert isinstance(first, ast.Constant), f"{where}: the event is a literal"
            assert EVENT_NAME.fullmatch(str(first.value)), f"{where}: {first.value!r}"
            assert len(node.args) == 1, f"{where}: details go in extra, not %-arguments"
    assert calls >= 10


# --- representative paths: nothing secret reaches a line ------------------------------------


@dataclass(frozen=True)
class _Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class _FailingSessions:
    """A database whose error quotes what it was given, as drivers do."""

    def __call__(self) -> "_FailingSessions":
        return self

    async def __aenter__(self) -> None:
        raise RuntimeError(
            f"connection to {DSN} failed; DETAIL: Failing row contains "
            f'(7, {{"url": "{STREAM_URL}", "jwt_key": "{JWT_KEY}"}})'
        )

    async def __aexit__(self, *exc: object) -> None:
        return None


async def test_a_failed_batch_logs_no_database_or_camera_password(
    captured: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime_module, "RETRY_BACKOFF_S", 0.0)
    topics = TopicNames()
    owner = WindowOwner(rules=Rules(load_conditions(None)), owned_topics=topics.owned_by_stream)
    ctx = WorkerContext(consumer_group="g", topics=topics, roles=topic_roles(topics), owner=owner)
    sessions: Any = _FailingSessions()
    runtime = Runtime(
        sessions=sessions,
        ctx=ctx,
        metrics=WorkerMetrics(),
        gate=CommitGate(),
        relay=Relay(sessions, bootstrap="127.0.0.1:1"),
        subscriber=type("Subscriber", (), {"consumer": None})(),
    )
    snapshot = orjson.dumps({"id": 7, "uuid": "u", "url": STREAM_URL})
    message: Any = type("Message", (), {})()
    message.raw_message = (_Record(topics.inventory_streams, 0, 0, b"7", snapshot),)

    await runtime.consume(message)  # prepared: the inventory record waits for its transaction
    await runtime.settle()

    [line] = _lines(captured, "worker.batch_failed")
    assert line["partitions"] == [f"{topics.inventory_streams}/0"]
    assert "rtsp://admin:***@10.0.0.7" in line["exc"]  # the line still says what failed
    _assert_no_secret(captured)


async def test_a_failing_relay_logs_no_database_password(
    captured: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(relay_module, "RETRY_S", 0.0)
    relay = Relay(_FailingSessions(), bootstrap="127.0.0.1:1")  # type: ignore[arg-type]
    seen = _Seen("relay.failed")
    logging.getLogger().addHandler(seen)
    task = asyncio.create_task(relay.run())
    await asyncio.wait_for(seen.seen.wait(), timeout=5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    _assert_no_secret(captured)


async def test_refused_tokens_and_unpublished_callbacks_log_no_token(
    captured: io.StringIO,
) -> None:
    authenticator = Authenticator(jwt_key=JWT_KEY, service_token_digests=[])

    async def publish(job_uid: str, value: bytes) -> None:
        raise ConnectionError(f"kafka refused; Authorization: Bearer {TOKEN}; key {JWT_KEY}")

    app = FastAPI()
    app.include_router(
        analytics_router(
            pool=lambda: None, authenticator=authenticator, publish=publish, callback_allow=[]
        )
    )
    assert authenticator.authenticate(f"Bearer {TOKEN}") is None  # expired: refused, logged
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        allowed = await client.post(
            "/api/v1/orchestrator/callback",
            json={"streamUid": "job-1", "status": "DOWN"},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
    assert allowed.status_code == 403  # no network is allowed: nothing published

    events = [line["event"] for line in _lines(captured)]
    assert "api.jwt_refused" in events
    _assert_no_secret(captured)


def test_library_lines_and_tracebacks_are_masked_too(captured: io.StringIO) -> None:
    logging.getLogger("sqlalchemy.engine").error("parameters: %r", {"url": STREAM_URL})
    logging.getLogger("uvicorn.error").warning("auth header Bearer %s with %s", TOKEN, JWT_KEY)
    try:
        raise ValueError(f"cannot connect to {DSN}")
    except ValueError:
        logging.getLogger("aiokafka").exception("Unexpected error")

    assert len(_lines(captured, "log.unstructured")) == 3
    _assert_no_secret(captured)
