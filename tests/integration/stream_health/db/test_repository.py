import uuid

from stream_health.db import repository
from stream_health.db.engine import make_engine, make_sessions


async def test_offsets_are_written_and_read_back_per_group(migrated_database_url: str) -> None:
    engine = make_engine(migrated_database_url, pool_size=1)
    sessions = make_sessions(engine)
    group, other = f"g-{uuid.uuid4().hex}", f"g-{uuid.uuid4().hex}"
    try:
        async with sessions() as session, session.begin():
            await repository.save_offsets(
                session, consumer_group=group, offsets={("a", 0): 10, ("a", 1): 3, ("b", 0): 7}
            )
            await repository.save_offsets(session, consumer_group=other, offsets={("a", 0): 99})
        async with sessions() as session, session.begin():
            await repository.save_offsets(session, consumer_group=group, offsets={("a", 0): 12})

        async with sessions() as session:
            stored = await repository.load_offsets(session, consumer_group=group, topics=["a"])

        assert stored == {("a", 0): 12, ("a", 1): 3}
    finally:
        await engine.dispose()


async def test_consumed_counters_add_up(migrated_database_url: str) -> None:
    engine = make_engine(migrated_database_url, pool_size=1)
    sessions = make_sessions(engine)
    topic = f"t-{uuid.uuid4().hex}"
    try:
        for _ in range(3):
            async with sessions() as session, session.begin():
                await repository.add_consumed(
                    session, counts={(topic, "stream:reconnect"): 5, (topic, "snapshot"): 1}
                )
        async with sessions() as session:
            counts = await repository.consumed_counts(session)

        assert counts[(topic, "stream:reconnect")] == 15
        assert counts[(topic, "snapshot")] == 3
    finally:
        await engine.dispose()
