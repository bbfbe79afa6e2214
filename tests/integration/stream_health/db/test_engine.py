import logging

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from stream_health.db.engine import make_engine, make_sessions
from stream_health.logs import JsonFormatter

STREAM_URL = "rtsp://admin:cam3ra-Pa55@10.0.0.7:554/live"


async def test_a_failed_statement_logs_neither_its_parameters_nor_a_password(
    migrated_database_url: str,
) -> None:
    engine = make_engine(migrated_database_url, pool_size=1)
    try:
        async with make_sessions(engine)() as session:
            with pytest.raises(DBAPIError) as caught:
                await session.execute(text("SELECT CAST(:doc AS int)"), {"doc": STREAM_URL})
    finally:
        await engine.dispose()
    record = logging.makeLogRecord({"msg": "worker.batch_failed", "levelno": logging.ERROR})
    record.exc_info = (caught.type, caught.value, caught.tb)

    line = JsonFormatter().format(record)

    assert "parameters hidden" in str(caught.value)  # SQLAlchemy does not list them
    assert "cam3ra-Pa55" in str(caught.value)  # but the driver's message quotes the value...
    assert "cam3ra-Pa55" not in line  # ...which the log line masks
    assert "rtsp://admin:***@10.0.0.7" in line
