"""`stream-health worker|api|migrate|topics|simulate|status|check-config|rebuild|docs`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from stream_health.config.conditions import ConditionsError
from stream_health.config.settings import SettingsError, load_settings
from stream_health_cli import rebuild


def _worker(_: argparse.Namespace) -> int:
    from stream_health_worker.__main__ import main  # noqa: PLC0415  (services load on demand)

    main()
    return 0


def _api(_: argparse.Namespace) -> int:
    from stream_health_api.__main__ import main  # noqa: PLC0415

    main()
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from stream_health.db.migrate import database_revision, upgrade  # noqa: PLC0415

    url = load_settings().database_url
    upgrade(url, args.revision)
    # Alembic upgrades only: a database already past the revision asked for stays where it is.
    current = asyncio.run(database_revision(url))
    if args.revision not in ("head", current):
        print(
            f"stream-health: the database is at {current}, past {args.revision}: "
            "migrate only upgrades, nothing was changed",
            file=sys.stderr,
        )
        return 1
    print(f"database migrated to {current}")
    return 0


def _topics(_: argparse.Namespace) -> int:
    from stream_health.kafka.topics import ensure_topics, topic_specs  # noqa: PLC0415

    settings = load_settings()
    specs = topic_specs(settings.topics, partitions=settings.topic_partitions)
    created = asyncio.run(ensure_topics(settings.kafka_bootstrap, specs))
    print(f"topics: {len(created)} created, {len(specs) - len(created)} already there")
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from stream_health_sim.run import SimOptions, simulate  # noqa: PLC0415

    options = SimOptions(
        cameras=args.cameras,
        servers=args.servers,
        flapping_share=args.flapping,
        history_s=args.history,
        seed=args.seed,
    )
    return asyncio.run(simulate(load_settings(), options, Console()))


def _status(_: argparse.Namespace) -> int:
    from stream_health.db import repository  # noqa: PLC0415
    from stream_health.db.engine import make_engine, make_sessions  # noqa: PLC0415

    async def counts() -> dict[tuple[str, str], int]:
        engine = make_engine(load_settings().database_url, pool_size=1)
        try:
            async with make_sessions(engine)() as session:
                return await repository.consumed_counts(session)
        finally:
            await engine.dispose()

    for (topic, kind), n in sorted(asyncio.run(counts()).items()):
        print(f"{topic:28} {kind:20} {n:>10}")
    return 0


def _check_config(_: argparse.Namespace) -> int:
    from stream_health_cli.checks import check_config  # noqa: PLC0415

    problems, summary = check_config(load_settings())
    if problems:
        print("stream-health: invalid configuration:", file=sys.stderr)
        for line in problems:
            print(f"  {line}", file=sys.stderr)
        return 2
    print("ok: " + summary[0])
    for line in summary[1:]:
        print(f"  {line}")
    return 0


def _docs(args: argparse.Namespace) -> int:
    from stream_health_cli.docs import write_documents  # noqa: PLC0415

    for path in write_documents(args.out):
        print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The command-line grammar."""
    parser = argparse.ArgumentParser(prog="stream-health", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("worker", help="run the Kafka worker").set_defaults(run=_worker)
    commands.add_parser("api", help="run the HTTP api").set_defaults(run=_api)
    migrate = commands.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("--revision", default="head")
    migrate.set_defaults(run=_migrate)
    commands.add_parser("topics", help="create missing Kafka topics").set_defaults(run=_topics)
    sim = commands.add_parser("simulate", help="publish a simulated fleet")
    sim.add_argument("--cameras", type=int, default=2000)
    sim.add_argument("--servers", type=int, default=8)
    sim.add_argument("--flapping", type=float, default=0.1, help="share of flapping streams")
    sim.add_argument("--history", type=int, default=3600, help="seconds of history to replay")
    sim.add_argument("--seed", type=int, default=7)
    sim.set_defaults(run=_simulate)
    commands.add_parser("status", help="records the worker applied").set_defaults(run=_status)
    commands.add_parser(
        "check-config", help="validate settings and stream_conditions"
    ).set_defaults(run=_check_config)
    rebuild.add_parser(commands)
    docs = commands.add_parser("docs", help="write the api's OpenAPI and worker's AsyncAPI")
    docs.add_argument("--out", type=Path, default=Path("docs"), help="directory to write into")
    docs.set_defaults(run=_docs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `stream-health` command."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except SettingsError as exc:
        print("stream-health: invalid settings:", file=sys.stderr)
        for line in str(exc).split("; "):
            print(f"  {line}", file=sys.stderr)
        return 2
    except ConditionsError as exc:
        print(f"stream-health: invalid conditions: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
