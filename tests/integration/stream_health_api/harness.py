"""Feed the real worker's batch code and query the real api, over one fresh database."""

from __future__ import annotations

import hashlib
import itertools
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson

from stream_health.config.conditions import load_conditions
from stream_health.config.settings import Settings
from stream_health.db.engine import driver_connection, make_engine, make_sessions
from stream_health.domain.stream import Rules
from stream_health_api.app import build_app
from stream_health_worker.ingest import WorkerContext, apply_batch, flush_listing
from stream_health_worker.outputs import iso_ms
from stream_health_worker.owner import WindowOwner
from stream_health_worker.records import topic_roles
from tests.conftest import base_settings, unique_topics
from tests.records import Record
from tests.seeds import seed_000

JWT_SECRET = "list-tests-hs256-secret-of-enough-length"
SERVICE_TOKEN = "list-tests-service-token"
SORT_DOMAIN, FILTER_DOMAIN = "sort.vms.local", "Filter.VMS.local"
HOUR_MS = 3_600_000
CONDITIONS = """
stream_conditions:
  incorrect:   {reconnects: 1, period: 24h}
  problematic: {reconnects: 3, period: 1h}
  disabled:    {stream_state: disabled}
"""


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def bearer(**claims: Any) -> dict[str, str]:
    """An Authorization header with an HS256 JWT (valid for an hour unless `exp` is given)."""
    body = {"sub": "admin", "exp": int(time.time()) + 3600, **claims}
    return {"Authorization": f"Bearer {jwt.encode(body, JWT_SECRET, algorithm='HS256')}"}


class Fleet:
    """Inventory and media-server events, applied by the worker's own batch transaction."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topics = settings.topics
        self.engine = make_engine(settings.database_url, pool_size=2)
        self.sessions = make_sessions(self.engine)
        rules = Rules(load_conditions(settings.conditions))
        self.ctx = WorkerContext(
            consumer_group=f"list-{uuid.uuid4().hex[:8]}",
            topics=self.topics,
            roles=topic_roles(self.topics),
            owner=WindowOwner(rules=rules, owned_topics=self.topics.owned_by_stream),
        )
        self._offsets: dict[str, itertools.count[int]] = {}
        self._seq = itertools.count(1)

    def _record(self, topic: str, key: bytes | None, value: bytes | None) -> Record:
        offsets = self._offsets.setdefault(topic, itertools.count())
        return Record(topic, 0, next(offsets), key, value)

    async def apply(self, records: Iterable[Record]) -> None:
        if not self.ctx.owner.owned:  # as the consumer's assignment would: partition 0 is ours
            async with self.sessions() as session, session.begin():
                await self.ctx.owner.assigned(await driver_connection(session), [0])
        await apply_batch(self.sessions, ctx=self.ctx, records=list(records), now_ms=now_ms())
        await self._deliver_signals()
        await self.flush()

    async def flush(self, at_ms: int | None = None) -> None:
        """The owner's list flush, as its timer would run it next (or at `at_ms`)."""
        await flush_listing(
            self.sessions, ctx=self.ctx, now_ms=now_ms() if at_ms is None else at_ms
        )

    async def _deliver_signals(self) -> None:
        # No relay runs here: the re-check signals the batch queued are applied directly.
        async with self.sessions() as session, session.begin():
            conn = await driver_connection(session)
            rows = await conn.fetch(
                "DELETE FROM outbox WHERE topic = $1 RETURNING id, key, value", self.topics.signals
            )
        signals = [self._record(self.topics.signals, r["key"], r["value"]) for r in rows]
        if signals:
            await apply_batch(self.sessions, ctx=self.ctx, records=signals, now_ms=now_ms())

    def snapshot(self, kind: str, object_id: int, document: dict[str, Any] | None) -> Record:
        topic = getattr(self.topics, f"inventory_{kind}")
        value = None if document is None else orjson.dumps(document)
        return self._record(topic, str(object_id).encode(), value)

    def job(self, job_uid: str, document: dict[str, Any] | None) -> Record:
        value = None if document is None else orjson.dumps(document)
        return self._record(self.topics.orchestrator_jobs, job_uid.encode(), value)

    def callback(self, job_uid: str, status: int | str, received_ms: int) -> Record:
        body = {"streamUid": job_uid, "status": status, "received_at": iso_ms(received_ms)}
        return self._record(
            self.topics.orchestrator_callbacks, job_uid.encode(), orjson.dumps(body)
        )

    async def changes(self, uid: str) -> list[dict[str, Any]]:
        """The state changes queued for `uid` (no relay runs here), oldest first."""
        async with self.sessions() as session:
            conn = await driver_connection(session)
            rows = await conn.fetch(
                "SELECT value FROM outbox WHERE topic = $1 ORDER BY id", self.topics.changes
            )
        changes = [orjson.loads(row["value"]) for row in rows]
        return [change for change in changes if change["stream_uid"] == uid]

    def event(
        self,
        kind: str,
        uid: str | None,
        *,
        server: str,
        at_ms: int | None = None,
        data: dict[str, Any] | None = None,
    ) -> Record:
        body = {
            "event": kind,
            "device": "mediaserver",
            "server": server,
            "pid": 1,
            "seq": next(self._seq),
            "timestamp": iso_ms(now_ms() if at_ms is None else at_ms),
            "data": (data or {}) if uid is None else {"uid": uid, **(data or {})},
        }
        key = (uid or server).encode()
        return self._record(self.topics.media_events, key, orjson.dumps(body))

    async def close(self) -> None:
        await self.engine.dispose()


def list_settings(database_url: str, tmp: Path, **overrides: Any) -> Settings:
    conditions = tmp / "conditions.yaml"
    conditions.write_text(CONDITIONS)
    values: dict[str, Any] = {
        "database_url": database_url,
        "conditions": conditions,
        "topics": unique_topics(),  # never the demo's topics, even when nothing is published
        "jwt_key": JWT_SECRET,
        "service_tokens": hashlib.sha256(SERVICE_TOKEN.encode()).hexdigest(),
        "list_cache_ttl": 0,  # these tests read the list right after changing it
    }
    return base_settings(**(values | overrides))


@asynccontextmanager
async def api_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The api in process (its lifespan too), addressed as https://vms.local."""
    app = build_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://vms.local") as client:
            yield client


def stream_doc(
    id_: int, uid: str, *, camera_id: int, server_id: int, **fields: Any
) -> dict[str, Any]:
    return {
        "id": id_,
        "type": "high",
        "camera_id": camera_id,
        "status": "active",
        "url": f"rtsp://admin:pw{id_}@10.0.{id_ % 250}.1/live",
        "uuid": uid,
        "created_at": "2024-01-01 00:00:00",
        "updated_at": "2024-06-01 00:00:00",
        "is_enabled": True,
        "server_id": server_id,
        "sub_server_ids": [],
        **fields,
    }


def server_doc(id_: int, domain: str) -> dict[str, Any]:
    return {"id": id_, "domain": domain, "updated_at": "2024-01-01 00:00:00", "extra": {}}


def seed_inventory(fleet: Fleet) -> list[Any]:
    item = seed_000()["data"][0]
    shown = {"reconnect_attempt", "reconnect_total", "reconnect_time", "disconnections_count"}
    joins = {"camera", "server", "sub_servers", "is_actual"}
    stream = {k: v for k, v in item.items() if k not in shown | joins}
    stream |= {"server_id": item["server"]["id"], "sub_server_ids": []}
    return [
        fleet.snapshot("servers", item["server"]["id"], item["server"]),
        fleet.snapshot("cameras", item["camera"]["id"], item["camera"]),
        fleet.snapshot("streams", item["id"], stream),
    ]


async def populate(fleet: Fleet) -> dict[str, Any]:
    """Three sets told apart by server domain: the seed's row, a sort set, a filter set."""
    at = now_ms()
    seed_item = seed_000()["data"][0]
    seed_server = seed_item["server"]
    records = seed_inventory(fleet)
    records += [fleet.snapshot("servers", 1, server_doc(1, SORT_DOMAIN))]
    records += [fleet.snapshot("servers", 2, server_doc(2, FILTER_DOMAIN))]
    sort_uids = [str(uuid.uuid4()) for _ in range(9)]
    for n, uid in enumerate(sort_uids):
        fields: dict[str, Any] = {
            "bitrate": (n * 37) % 5 * 100,  # ties, broken by list key
            "output_rate": 1000 - n * 10,
            "created_at": f"2023-0{1 + n % 9}-0{1 + (n * 5) % 9} 10:00:00",
            "updated_at": f"2024-0{1 + (n * 4) % 9}-01 12:00:00",
        }
        if n == 4:
            del fields["bitrate"]  # sorts as null
        records.append(fleet.snapshot("cameras", 300 + (n * 7) % 9, {"id": 300 + (n * 7) % 9}))
        stream = stream_doc(100 + (n * 5) % 9, uid, camera_id=300 + (n * 7) % 9, server_id=1)
        records.append(fleet.snapshot("streams", stream["id"], stream | fields))
    filter_streams = {
        "gate": ("Gate North", "rtsp://admin:s3cret@10.1.2.3/live", "10.1.2.3"),
        "parking": ("Parking 100%", "rtsp://cam.example/park", "192.168.7.7"),
        "lobby": ("lobby_cam", "rtsp://viewer:hidden@lobby.example/1", "10.1.20.30"),
    }
    filter_uids = {}
    for n, (label, (name, url, ip)) in enumerate(filter_streams.items()):
        uid = filter_uids[label] = str(uuid.uuid4())
        records.append(fleet.snapshot("cameras", 400 + n, {"id": 400 + n, "name": name}))
        stream = stream_doc(200 + n, uid, camera_id=400 + n, server_id=2, url=url, ip=ip)
        records.append(fleet.snapshot("streams", 200 + n, stream))
    await fleet.apply(records)

    events = [
        fleet.event("service:pulse", None, server=seed_server["domain"], data=seed_server["extra"]),
        fleet.event(
            "stream:state",
            seed_item["uuid"],
            server=seed_server["domain"],
            data={"state": "disabled", "reconnects": {"attempt": 0, "limit": 10, "total": 1}},
        ),
        fleet.event("service:pulse", None, server=SORT_DOMAIN),
    ]
    for n, uid in enumerate(sort_uids):
        for k in range(1 + (n * 3) % 5):  # 1..5 reconnections within the hour
            events.append(
                fleet.event(
                    "stream:reconnect",
                    uid,
                    server=SORT_DOMAIN,
                    at_ms=at - HOUR_MS // 2 + n * 60_000 + k * 1000,
                    data={
                        "reconnects": {
                            "attempt": (n * 7) % 4,
                            "limit": 10,
                            "total": 10 + (n * 5) % 7,
                        }
                    },
                )
            )
    for uid in filter_uids.values():
        events.append(fleet.event("stream:reconnect", uid, server=FILTER_DOMAIN))
    unknown = str(uuid.uuid4())
    events.append(fleet.event("stream:reconnect", unknown, server="nowhere.vms.local"))
    await fleet.apply(events)
    return {"sort": sort_uids, "filter": filter_uids, "unknown": unknown}
