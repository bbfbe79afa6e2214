"""The list benchmark's data set, built in SQL into a fresh, migrated database.

Every value derives from (seed, row number) through md5, so a given (seed, sizes) builds the
same rows whatever the order PostgreSQL produces them in. The list rows (`stream_list`) are
written by the product's own `save_listing`, from the windows and inventory built here.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from typing import Any

import orjson

from stream_health.credentials import mask_password
from stream_health.db.listing import ListedStream, save_listing
from stream_health.db.windows import add_condition_counts
from stream_health.domain.stream import ANY_CONDITION

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
PARTITIONS = 12
MAX_ENTRIES = 15  # the shipped conditions' window capacity (problematic, increased: 15)
LISTING_CHUNK = 5_000  # streams per save_listing call (one transaction each)
BUILD_FORMAT = 2  # bump when a build no longer matches what the product keeps (--reuse-db)

# Camera names are "Camera <n> <word>": one word in 100, so a word matches ~1% of cameras.
# No word is a substring of another word, of "camera" or of the masked url.
WORDS = [
    "lobby",
    "parking",
    "garage",
    "entrance",
    "exit",
    "roof",
    "basement",
    "corridor",
    "stairs",
    "elevator",
    "kitchen",
    "office",
    "warehouse",
    "loading",
    "dock",
    "north",
    "south",
    "east",
    "west",
    "gatehouse",
    "reception",
    "cashier",
    "vault",
    "atrium",
    "hallway",
    "courtyard",
    "platform",
    "tunnel",
    "bridge",
    "plaza",
    "fountain",
    "market",
    "pharmacy",
    "bakery",
    "library",
    "museum",
    "stadium",
    "arena",
    "terminal",
    "hangar",
    "runway",
    "pier",
    "harbor",
    "marina",
    "depot",
    "factory",
    "boiler",
    "canteen",
    "gym",
    "sauna",
    "laundry",
    "nursery",
    "clinic",
    "theatre",
    "chapel",
    "cellar",
    "attic",
    "balcony",
    "terrace",
    "pantry",
    "foyer",
    "vestibule",
    "mezzanine",
    "loft",
    "studio",
    "workshop",
    "forge",
    "mill",
    "barn",
    "stable",
    "silo",
    "orchard",
    "vineyard",
    "greenhouse",
    "meadow",
    "quarry",
    "mine",
    "jetty",
    "wharf",
    "lighthouse",
    "beacon",
    "tower",
    "spire",
    "dome",
    "crypt",
    "bunker",
    "shelter",
    "kiosk",
    "booth",
    "counter",
    "checkout",
    "aisle",
    "shelf",
    "freezer",
    "cooler",
    "furnace",
    "substation",
    "transformer",
    "pump",
    "annex",
]
SEARCH_WORD = "Lobby"  # searched in this case: the list matches any case
IP_FILTER = "10.1."
DOMAIN_SERVER = 17  # the domain filter names this server, in upper case

R = "pg_temp.r"  # r(salt, n): a uniform double in [0, 1) from md5(salt || n)
_FUNCTION = f"""
CREATE FUNCTION {R}(salt text, n bigint) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT ('x' || substr(md5(salt || ':' || n::text), 1, 13))::bit(52)::bigint
          / 4503599627370496.0 $$
"""


@dataclass(frozen=True, slots=True)
class DataSpec:
    """What to build."""

    streams: int
    in_conditions: int
    servers: int
    seed: int
    problematic_share: float = 0.3
    disabled_share: float = 0.1
    out_of_conditions_share: float = 0.1  # windows of streams in no condition, per listed one

    @property
    def database_suffix(self) -> str:
        """Names the database for these sizes (so --reuse-db finds it)."""
        return f"{self.streams}_{self.in_conditions}_{self.servers}_s{self.seed}"

    def filters(self) -> dict[str, str]:
        """The filter values of the matrix."""
        return {"search": SEARCH_WORD, "ip": IP_FILTER, "domain": server_domain(DOMAIN_SERVER)}


def server_domain(n: int) -> str:
    """Server n's domain as the domain filter gives it: upper case (the list ignores case)."""
    return f"ms{n}.vms.local".upper()


def _stored_domain(n: int) -> str:
    # every fourth server's domain is stored in mixed case
    return f"MS{n}.Vms.Local" if n % 4 == 0 else f"ms{n}.vms.local"


def coprime_multiplier(n: int, start: int) -> int:
    """The smallest m >= start with gcd(m, n) == 1: i -> i * m mod n permutes 0..n-1."""
    m = start
    while math.gcd(m, n) != 1:
        m += 1
    return m


def _server_extra(n: int) -> dict[str, Any]:
    domain = f"ms{n}.vms.local"
    drive = {"fs": "ext4", "mount": "/storage", "inode_free": 503178863, "inode_total": 503316480}
    return {
        "io": {"read_rate": 0, "read_bytes": 0, "write_rate": 0, "write_bytes": 0},
        "cpu": {"total": 28, "usage": 20 + n % 60, "stime_sec": 120406, "utime_sec": 120406},
        "mem": {"rss": 1583718400, "share": 9453568, "usage": 3413516288},
        "net": {"in_bitrate": 66834240 + n, "out_bitrate": 484941112 + n},
        "drives": {
            "/": {"fs": "ext4", "mount": "/", "inode_free": 3151247, "inode_total": 3276800},
            "/storage": drive | {"capacity_free": 10929798352896},
        },
        "server": {
            "ip4": "",
            "name": "NSMS-21.03-lts",
            "build": "8ffb5b2",
            "uptime": 607663,
            "startat": 1655211499,
            "version": "21.03",
            "hostname": domain,
            "revision": "lts",
            "timestamp": "20220526082547",
        },
        "cluster": {"id": "100", "node": str(100 + n), "enable": "true", "hostname": domain},
        "license": {"own": "Vms", "type": "enterprise", "issued": 1687355162},
        "streams": {"total": 5000, "active": 4700, "clients": 988},
        "storages": {"/storage": drive | {"err": 0, "name": "default"}},
    }


def _server_doc(n: int) -> dict[str, Any]:
    domain = _stored_domain(n)
    return {
        "id": n,
        "type": "media_server_v2",
        "schema": "https",
        "domain": domain,
        "internal": "8080",
        "external": "8443",
        "m4f": "8443",
        "rtsp": "5554",
        "publish": "7554",
        "traffic_in": 65268 + n,
        "traffic_out": 473575 + n,
        "status": 1,
        "is_enabled": 1,
        "is_main": 1,
        "has_cache": 0,
        "proxy": domain,
        "created_at": "2022-01-27 17:16:16",
        "updated_at": "2022-06-21 16:46:02",
        "group_type": "all",
        "can_delete": False,
        "streams_limit": 10000,
        "bitrate_limit": 1000000,
        "extra": _server_extra(n),
    }


_CAMERAS = f"""
INSERT INTO inventory_cameras (id, is_increased_reconnect, name, updated_at, doc)
SELECT n, false, name, upd, json_build_object(
    'id', n, 'group_id', 1 + n % 997, 'status', 'active', 'type', 'media_server_v2',
    'pretty_text', 'Cameras', 'short_pretty', 'Cameras',
    'start_at', to_char(upd AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'),
    'created_at', to_char(upd AT TIME ZONE 'UTC' - interval '400 days', 'YYYY-MM-DD HH24:MI:SS'),
    'name', name, 'csas', '[]'::json, 'can_edit', true, 'origin', null, 'group_type', 'public',
    'shared_from', null, 'ip', '', 'lat', null, 'lng', null, 'azimuth', null, 'is_sensitive', 0,
    'is_public', 1, 'is_ip_reserved', false, 'count_issues', n % 7, 'source', 'manual',
    'archive_storage_days', 15, 'is_archive_recording', true,
    'archive_recording_type', 'fulltime', 'is_increased_reconnect', 0, 'is_sound_enabled', false,
    'is_bridge', false, 'is_auto_create_streams', false, 'is_provisioning_enable', false)
FROM (
    SELECT n,
           'Camera ' || n || ' '
             || ($2::text[])[1 + floor({R}($1 || 'word', n) * $3::int)::int] AS name,
           timestamptz '2024-01-01 00:00:00+00'
             + make_interval(secs => floor({R}($1 || 'cam-upd', n) * 63072000)) AS upd
    FROM generate_series(1, $4::bigint) AS n
) g
"""

_STREAMS = f"""
INSERT INTO inventory_streams (id, uuid, camera_id, server_id, is_enabled, url, ip, bitrate,
                               output_rate, created_at, url_masked, sub_server_ids, updated_at,
                               doc)
SELECT n, uuid, cam, srv, enabled, 'rtsp://admin:' || pw || '@' || ip || ':554/live', ip,
       bitrate, output_rate, created, 'rtsp://admin:***@' || ip || ':554/live',
       CASE WHEN {R}($1 || 'sub', n) < 0.1 THEN ARRAY[1 + (srv % $3::int)] ELSE '{{}}' END,
       updated,
       json_build_object(
         'id', n, 'type', CASE WHEN {R}($1 || 'type', n) < 0.5 THEN 'high' ELSE 'low' END,
         'camera_id', cam, 'status', 'active',
         'url', 'rtsp://admin:' || pw || '@' || ip || ':554/live', 'bitrate', bitrate,
         'resolution', CASE WHEN {R}($1 || 'res', n) < 0.7 THEN '1920x1080' ELSE '1280x720' END,
         'output_rate', output_rate, 'ip', ip, 'uuid', uuid, 'sound', 'tracks-v1',
         'streams_count', 0,
         'created_at', to_char(created AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'),
         'updated_at', to_char(updated AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'),
         'is_preview_from_server', true, 'is_archive_from_server', null, 'is_enabled', enabled,
         'source', 'manual', 'is_sound_enabled', false,
         'reconnect_attempt', floor({R}($1 || 'doc-ra', n) * 10)::int,
         'reconnect_total', floor({R}($1 || 'doc-rt', n) * 200)::int,
         'server_id', srv,
         'sub_server_ids', CASE WHEN {R}($1 || 'sub', n) < 0.1
                                THEN json_build_array(1 + (srv % $3::int)) ELSE '[]'::json END)
FROM (
    SELECT n,
           md5($1 || ':uuid:' || n)::uuid::text AS uuid,
           1 + (n * $4::bigint) % $2::bigint AS cam,
           1 + floor({R}($1 || 'srv', n) * $3::int)::bigint AS srv,
           {R}($1 || 'enabled', n) < 0.95 AS enabled,
           floor({R}($1 || 'pw', n) * 100000)::int AS pw,
           '10.' || floor({R}($1 || 'ip1', n) * 64)::int || '.'
             || floor({R}($1 || 'ip2', n) * 256)::int || '.'
             || (1 + floor({R}($1 || 'ip3', n) * 254)::int) AS ip,
           CASE WHEN {R}($1 || 'br-null', n) < 0.01 THEN NULL
                ELSE 256 + floor({R}($1 || 'br', n) * 8000)::bigint END AS bitrate,
           CASE WHEN {R}($1 || 'or-null', n) < 0.01 THEN NULL
                ELSE floor({R}($1 || 'or', n) * 10000)::bigint END AS output_rate,
           timestamptz '2020-01-01 00:00:00+00'
             + make_interval(secs => floor({R}($1 || 'created', n) * 126144000)) AS created,
           timestamptz '2024-01-01 00:00:00+00'
             + make_interval(secs => floor({R}($1 || 'updated', n) * 63072000)) AS updated
    FROM generate_series(1, $2::bigint) AS n
) g
"""

# The streams with a window: rank j = id * m mod N; j < K are in conditions, the next
# K * share have a window but no condition. Per listed stream: n1 reconnections in the last
# hour (5..15 when problematic, else 0..4) and n_old earlier that day (total 1..15).
_WINDOW_PLAN = f"""
CREATE TEMP TABLE bench_window_plan AS
SELECT s.id AS n, s.uuid AS uid, s.camera_id, s.server_id, s.is_enabled, p.listed,
       p.listed AND {R}($1 || 'problematic', s.id) < $5 AS problematic,
       p.listed AND {R}($1 || 'disabled', s.id) < $6 AS disabled
FROM inventory_streams s
CROSS JOIN LATERAL (SELECT (s.id * $2::bigint) % $3::bigint < $4::bigint AS listed) p
WHERE (s.id * $2::bigint) % $3::bigint < $4::bigint + $7::bigint
"""
_WINDOW_N1 = f"""
UPDATE bench_window_plan SET
  n1 = CASE WHEN NOT listed THEN 0
            WHEN problematic THEN 5 + floor({R}($1 || 'n1', n) * 11)::int
            ELSE floor({R}($1 || 'n1', n) * 5)::int END
"""
_WINDOW_N_OLD = f"""
UPDATE bench_window_plan SET
  n_old = CASE WHEN NOT listed THEN 0
               ELSE greatest(floor({R}($1 || 'nold', n) * ({MAX_ENTRIES} + 1 - n1))::int,
                             CASE WHEN n1 = 0 THEN 1 ELSE 0 END) END
"""
_WINDOWS = f"""
INSERT INTO stream_windows (uid, partition, stamps, conditions, seq, drain_at_ms,
    last_reconnect_ms, server_state, present, deleted_ms, reconnect_attempt, reconnect_total,
    versions, stream_id, camera_id, server_id, enabled, increased, managed)
SELECT p.uid, (p.n % {PARTITIONS})::int, coalesce(e.stamps, ''::bytea),
       CASE WHEN p.listed THEN array_remove(ARRAY[
              CASE WHEN p.disabled THEN 'disabled' END, 'incorrect',
              CASE WHEN p.problematic THEN 'problematic' END], NULL)
            ELSE '{{}}'::text[] END,
       p.n1 + p.n_old,
       CASE WHEN p.listed THEN e.oldest + {DAY_MS} END,
       e.newest,
       CASE WHEN p.disabled THEN 'disabled' ELSE 'active' END,
       true, 0,
       CASE WHEN {R}($1 || 'ra-null', p.n) < 0.1 THEN NULL
            ELSE floor({R}($1 || 'ra', p.n) * 20)::bigint END,
       CASE WHEN {R}($1 || 'rt-null', p.n) < 0.1 THEN NULL
            ELSE floor({R}($1 || 'rt', p.n) * 500)::bigint END,
       decode(repeat('00', 48), 'hex'),
       p.n, p.camera_id, p.server_id, p.is_enabled, false, true
FROM bench_window_plan p
LEFT JOIN LATERAL (
    SELECT string_agg(int8send(x.ms) || int8send(x.eid), ''::bytea ORDER BY x.ms DESC) AS stamps,
           max(x.ms) AS newest, min(x.ms) AS oldest
    FROM (
        SELECT $2::bigint - i * ({HOUR_MS} / (p.n1 + 1)) AS ms, p.n * 100 + i AS eid
        FROM generate_series(1, p.n1) AS i
        UNION ALL
        SELECT $2::bigint - {HOUR_MS} - i * ({DAY_MS - HOUR_MS} / (p.n_old + 1)),
               p.n * 100 + 50 + i
        FROM generate_series(1, p.n_old) AS i
    ) x
) e ON true
"""
# What the worker's listed_counts gives these windows at build time: the longest window (24 h)
# holds every entry; `problematic` counts the last hour's (no camera has increased reconnect).
_COUNTS = f"""
SELECT p.uid, c.condition, c.disconnections,
       w.reconnect_attempt, w.reconnect_total, w.last_reconnect_ms
FROM bench_window_plan p
JOIN stream_windows w ON w.uid = p.uid
CROSS JOIN LATERAL (VALUES ('{ANY_CONDITION}', p.n1 + p.n_old, true),
                           ('incorrect', p.n1 + p.n_old, true),
                           ('problematic', p.n1, p.problematic),
                           ('disabled', p.n1 + p.n_old, p.disabled))
           AS c(condition, disconnections, held)
WHERE p.listed AND c.held
ORDER BY p.uid, c.condition
"""


def say(message: str) -> None:
    """One progress line."""
    print(f"bench: {message}", flush=True)


async def _timed(conn: Any, what: str, sql: str, *args: Any) -> None:
    started = time.perf_counter()
    await conn.execute(sql, *args)
    say(f"  {what}: {time.perf_counter() - started:.1f} s")


async def build(conn: Any, spec: DataSpec) -> dict[str, Any]:
    """Fill a freshly migrated database; return what was built (stored in bench_meta too)."""
    if spec.in_conditions > spec.streams:
        raise ValueError("--in-conditions must not exceed --streams")
    started = time.perf_counter()
    built_ms = time.time_ns() // 1_000_000
    salt = f"bench-list-{spec.seed}"
    await conn.execute("SET synchronous_commit = off")
    await conn.execute(_FUNCTION)
    await _servers(conn, spec)
    await _timed(
        conn, f"{spec.streams:,} cameras", _CAMERAS, salt, list(WORDS), len(WORDS), spec.streams
    )
    multiplier = coprime_multiplier(spec.streams, 7919)
    await _timed(
        conn,
        f"{spec.streams:,} streams",
        _STREAMS,
        salt,
        spec.streams,
        spec.servers,
        multiplier,
    )
    ranks = coprime_multiplier(spec.streams, 104729)
    extra = min(
        int(spec.in_conditions * spec.out_of_conditions_share), spec.streams - spec.in_conditions
    )
    await _timed(
        conn,
        "window plan",
        _WINDOW_PLAN,
        salt,
        ranks,
        spec.streams,
        spec.in_conditions,
        spec.problematic_share,
        spec.disabled_share,
        extra,
    )
    await conn.execute("ALTER TABLE bench_window_plan ADD COLUMN n1 int, ADD COLUMN n_old int")
    await conn.execute(_WINDOW_N1, salt)
    await conn.execute(_WINDOW_N_OLD, salt)
    await _timed(conn, "windows", _WINDOWS, salt, built_ms)
    listed = await _listing(conn)
    await _activity(conn, spec, built_ms)
    meta = {
        "format": BUILD_FORMAT,
        "spec": asdict(spec),
        "built_ms": built_ms,
        "words": len(WORDS),
        "windows": int(await conn.fetchval("SELECT count(*) FROM stream_windows")),
        "listed_streams": listed,
        "list_rows": int(await conn.fetchval("SELECT count(*) FROM stream_list")),
    }
    await conn.execute("CREATE TABLE bench_meta (key text PRIMARY KEY, value json NOT NULL)")
    await conn.execute(
        "INSERT INTO bench_meta VALUES ('build', $1::json)", json.dumps(meta, default=str)
    )
    await _timed(conn, "vacuum analyze", "VACUUM ANALYZE")
    meta["build_s"] = round(time.perf_counter() - started, 1)
    await conn.execute(
        "UPDATE bench_meta SET value = $1::json WHERE key = 'build'", json.dumps(meta)
    )
    return meta


async def _servers(conn: Any, spec: DataSpec) -> None:
    rows = []
    for n in range(1, spec.servers + 1):
        doc = _server_doc(n)
        rows.append((n, doc["domain"], True, orjson.dumps(doc).decode()))
    await conn.executemany(
        "INSERT INTO inventory_servers (id, domain, is_stream_condition_management_enabled, "
        "updated_at, doc) VALUES ($1, $2, $3, timestamptz '2022-06-21 16:46:02+00', $4::json)",
        rows,
    )


async def _listing(conn: Any) -> int:
    """Write stream_list with the product's save_listing, LISTING_CHUNK streams at a time, and
    move condition_counts by what it reports, as the worker's list flush does."""
    started = time.perf_counter()
    counts = await conn.fetch(_COUNTS)
    shown: dict[str, dict[str, int]] = {}
    registers: dict[str, tuple[Any, Any, Any]] = {}
    for row in counts:
        shown.setdefault(row["uid"], {})[row["condition"]] = int(row["disconnections"])
        registers[row["uid"]] = (
            row["reconnect_attempt"],
            row["reconnect_total"],
            row["last_reconnect_ms"],
        )
    by_uid = {
        uid: ListedStream(
            uid, tuple(shown[uid]), tuple(shown[uid].values()), *registers[uid], facts=True
        )
        for uid in shown
    }
    uids = sorted(by_uid)
    for start in range(0, len(uids), LISTING_CHUNK):
        chunk = uids[start : start + LISTING_CHUNK]
        async with conn.transaction():
            moved = await save_listing(conn, streams=[by_uid[uid] for uid in chunk])
            await add_condition_counts(conn, deltas=moved)
    say(
        f"  stream_list via save_listing: {len(counts):,} rows for {len(uids):,} streams in "
        f"{time.perf_counter() - started:.1f} s"
    )
    return len(uids)


async def _activity(conn: Any, spec: DataSpec, now_ms: int) -> None:
    """Every server's latest event: most recent, every tenth stale (so is_actual varies)."""
    await conn.executemany(
        "INSERT INTO server_activity (domain, last_event_ms, last_event_type, extra) "
        "VALUES ($1, $2, 'service:pulse', $3::json)",
        [
            (f"ms{n}.vms.local", now_ms, orjson.dumps(_server_extra(n)).decode())
            for n in range(1, spec.servers + 1)
        ],
    )
    await refresh_activity(conn, now_ms)


async def refresh_activity(conn: Any, now_ms: int) -> None:
    """Make the servers' activity recent again (every tenth server stays an hour stale)."""
    await conn.execute(
        "UPDATE server_activity SET last_event_ms = CASE WHEN "
        "substring(domain from 'ms([0-9]+)')::int % 10 = 0 THEN $1::bigint - 3600000 "
        "ELSE $1::bigint END",
        now_ms,
    )


async def stored_meta(conn: Any) -> dict[str, Any] | None:
    """What an earlier build stored, or None (no bench_meta: not a finished build)."""
    if not await conn.fetchval("SELECT to_regclass('bench_meta') IS NOT NULL"):
        return None
    value = await conn.fetchval("SELECT value::text FROM bench_meta WHERE key = 'build'")
    return None if value is None else dict(json.loads(value))


async def facts(conn: Any, spec: DataSpec) -> dict[str, Any]:
    """Row counts, sizes, and how many rows each filter matches under `*` (for the report)."""
    f = spec.filters()
    tables = (
        *("inventory_servers", "inventory_cameras", "inventory_streams"),
        *("stream_windows", "stream_list", "stream_list_facts", "server_activity"),
    )
    out: dict[str, Any] = {
        "database_bytes": int(await conn.fetchval("SELECT pg_database_size(current_database())"))
    }
    for table in tables:
        out[f"rows.{table}"] = int(await conn.fetchval(f"SELECT count(*) FROM {table}"))
        out[f"bytes.{table}"] = int(
            await conn.fetchval("SELECT pg_total_relation_size($1::regclass)", table)
        )
    # Keyed by names before migration 0018, by numbers since: `--api-ref` builds and reads
    # the data with an older revision's schema.
    numbered = await conn.fetchval(
        "SELECT EXISTS (SELECT FROM information_schema.columns "
        "WHERE table_name = 'stream_list' AND column_name = 'condition_id')"
    )
    rows, condition = (
        ("stream_list l JOIN list_conditions c ON c.id = l.condition_id", "c.name")
        if numbered
        else ("stream_list l", "l.condition")
    )
    where = (
        "condition_id = (SELECT id FROM list_conditions WHERE name = $1)"
        if numbered
        else "condition = $1"
    )
    out["per_condition"] = {
        r["condition"]: int(r["n"])
        for r in await conn.fetch(
            f"SELECT {condition} AS condition, count(*) AS n FROM {rows} GROUP BY 1 ORDER BY 1"
        )
    }
    any_ = ANY_CONDITION
    out["matches_any"] = {
        "search": int(
            await conn.fetchval(
                f"SELECT count(*) FROM stream_list_facts WHERE {where} AND search LIKE $2",
                any_,
                f"%{f['search'].lower()}%",
            )
        ),
        "ip": int(
            await conn.fetchval(
                f"SELECT count(*) FROM stream_list_facts WHERE {where} AND ip LIKE $2",
                any_,
                f"%{f['ip'].lower()}%",
            )
        ),
        "domain": int(
            await conn.fetchval(
                f"SELECT count(*) FROM stream_list_facts WHERE {where} AND domain = $2",
                any_,
                f["domain"].lower(),
            )
        ),
    }
    sample = await conn.fetch("SELECT url, url_masked FROM inventory_streams LIMIT 100")
    out["url_masked_as_worker"] = all(mask_password(r["url"]) == r["url_masked"] for r in sample)
    return out


def check_words() -> None:
    """The camera-name words: distinct, none inside another, the camera label or the url."""
    url = "camera rtsp://admin:***@10.0.0.1:554/live"
    for word in WORDS:
        others = [w for w in WORDS if w != word and word in w]
        if others or word in url or WORDS.count(word) != 1:
            raise ValueError(f"camera word {word!r} also matches {others or 'the url'}")
    if SEARCH_WORD.lower() not in WORDS:
        raise ValueError("the search word must be one of WORDS")
