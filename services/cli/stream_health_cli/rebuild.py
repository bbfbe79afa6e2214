"""`stream-health rebuild`: replay the input topics into fresh views, with a progress bar."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from stream_health.config.settings import Settings, load_settings
from stream_health.logs import configure_logging

if TYPE_CHECKING:
    from stream_health_worker.rebuild import Progress as Replayed


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `rebuild` command's grammar."""
    rebuild = commands.add_parser(
        "rebuild",
        help="replay the input topics into a fresh database",
        description="Replay every input topic from its start into another database, through "
        "the worker, up to the end offsets of now; then stop. State changes and dead letters "
        "are dropped unless a topic is given for them.",
    )
    target = rebuild.add_mutually_exclusive_group(required=True)
    target.add_argument("--database", help="a database on the configured server (created)")
    target.add_argument("--database-url", help="a database anywhere (must exist)")
    rebuild.add_argument("--changes-topic", help="publish the replay's state changes here")
    rebuild.add_argument("--dlq-topic", help="publish the replay's dead letters here")
    rebuild.add_argument("--log-level", default="WARNING", help="the worker's log level")
    rebuild.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Entry point of `stream-health rebuild`."""
    import asyncio  # noqa: PLC0415

    live = load_settings()
    configure_logging(args.log_level, secrets=live.secret_values())
    return asyncio.run(_rebuild(live, args))


async def _rebuild(live: Settings, args: argparse.Namespace) -> int:
    from stream_health.db.databases import beside, create_database, shown  # noqa: PLC0415
    from stream_health_worker.rebuild import RebuildError, plan_rebuild, run_rebuild  # noqa: PLC0415

    err = Console(stderr=True, soft_wrap=True)  # messages whole, only the bars fit the width
    if args.database is not None:
        target = beside(live.database_url, args.database)
        if await create_database(target):
            err.print(f"created database {args.database}", markup=False, highlight=False)
    else:
        target = load_settings(database_url=args.database_url).database_url
    try:
        plan = await plan_rebuild(
            live, target, changes_topic=args.changes_topic, dlq_topic=args.dlq_topic
        )
    except RebuildError as exc:
        err.print(f"stream-health rebuild: {exc}", markup=False, highlight=False)
        return 2
    topics = plan.settings.topics
    err.print(
        f"{'resuming' if plan.resumed else 'rebuilding'} {shown(target)} "
        f"as consumer group {plan.settings.consumer_group}; signals via {topics.signals}",
        markup=False,
        highlight=False,
    )
    err.print(
        f"state changes: {_fate(topics.changes, plan.discard)}; "
        f"dead letters: {_fate(topics.dlq, plan.discard)}",
        markup=False,
        highlight=False,
    )
    columns = (
        TextColumn("{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err) as bar:
        tasks = {t: bar.add_task(t, total=n or 1) for t, n in plan.totals().items()}
        signals = bar.add_task("signals", total=None, start=False, visible=False)

        def show(state: Replayed) -> None:
            for topic, done in state.done.items():
                total = state.totals[topic]
                bar.update(tasks[topic], completed=done if total else 1)
            if state.inputs_reached and not state.complete:
                bar.update(signals, visible=True, description="signals (waiting)")
            if state.complete:
                bar.update(signals, visible=True, description="signals applied", total=1)
                bar.update(signals, completed=1)

        final = await run_rebuild(plan, show)
    offsets = sum(final.done.values())
    print(
        f"rebuilt {shown(target)}: {offsets} offsets of {len(final.done)} topics replayed, up to"
        " the ends captured at the start.\n"
        f"A worker on it needs STREAM_HEALTH_CONSUMER_GROUP={plan.settings.consumer_group}"
        f" and STREAM_HEALTH_TOPICS__SIGNALS={topics.signals} (README: Rebuilding the views)."
    )
    return 0


def _fate(topic: str, discard: frozenset[str]) -> str:
    return "dropped (not published)" if topic in discard else f"published to {topic}"
