"""A Kafka broker and a PostgreSQL server of the fault suite's own, which it may crash.

They are second instances of the local stack (deploy/local), on other ports and data
directories, so crashing them never disturbs the rest of the suite.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import ROOT

SCRIPTS = ROOT / "deploy" / "local"
PG_USER = PG_PASSWORD = "stream_health"


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _wait_port(port: int, *, is_open: bool, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while _port_open(port) != is_open:
        if time.monotonic() > deadline:
            state = "open" if is_open else "close"
            raise AssertionError(f"port {port} did not {state} within {timeout_s} s")
        time.sleep(0.2)


@dataclass(frozen=True)
class FaultStack:
    """Start, crash and restart the suite's own broker and database server."""

    stack_dir: Path
    kafka_port: int = 29092
    controller_port: int = 29093
    pg_port: int = 25432

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def database_url(self) -> str:
        return (
            f"postgresql+asyncpg://{PG_USER}:{PG_PASSWORD}@127.0.0.1:{self.pg_port}/stream_health"
        )

    @property
    def logs(self) -> Path:
        return self.stack_dir / "logs"

    def _run(self, script: str, verb: str) -> None:
        env = {
            **os.environ,
            "STREAM_HEALTH_STACK_DIR": str(self.stack_dir),
            "KAFKA_PORT": str(self.kafka_port),
            "KAFKA_CONTROLLER_PORT": str(self.controller_port),
            "PG_PORT": str(self.pg_port),
        }
        shared_jars = ROOT / ".stack" / "kafka"
        jars = sorted(shared_jars.glob("libs-*/.complete"))
        if jars:  # the main stack's jars: no second Maven resolution
            env["KAFKA_LIBS"] = str(jars[-1].parent)
        done = subprocess.run(
            ["bash", str(SCRIPTS / script), verb],
            env=env,
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            timeout=180,
        )
        if done.returncode:
            raise AssertionError(f"{script} {verb} failed: {done.stderr[-2000:]}")

    def start(self) -> None:
        self._run("postgres.sh", "start")
        self._run("kafka.sh", "start")

    def stop(self) -> None:
        self._run("kafka.sh", "stop")
        self._run("postgres.sh", "stop")

    def kill_kafka(self) -> None:
        """SIGKILL the broker: no controlled shutdown, logs recovered at the next start."""
        self._run("kafka.sh", "kill")
        _wait_port(self.kafka_port, is_open=False, timeout_s=30)

    def start_kafka(self) -> None:
        self._run("kafka.sh", "start")

    def crash_postgres(self) -> None:
        """An immediate shutdown: every connection is cut, WAL recovery at the next start."""
        self._run("postgres.sh", "crash")
        _wait_port(self.pg_port, is_open=False, timeout_s=30)

    def start_postgres(self) -> None:
        self._run("postgres.sh", "start")
