"""Run the services as real processes for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

from stream_health.config.settings import Settings, TopicNames


def free_port() -> int:
    """A TCP port on loopback nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def service_env(
    *, database_url: str, topics: TopicNames, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment that points a service at the test database and topics."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAM_HEALTH_")}
    env["STREAM_HEALTH_DATABASE_URL"] = database_url
    # The broker the tests use, not the default one: another stack may own 127.0.0.1:9092.
    env["STREAM_HEALTH_KAFKA_BOOTSTRAP"] = Settings().kafka_bootstrap
    for name, value in topics.model_dump().items():
        env[f"STREAM_HEALTH_TOPICS__{name.upper()}"] = value
    env.update(extra or {})
    return env


class Service:
    """A `stream-health <command>` process with its log captured to a file."""

    def __init__(self, command: str, env: dict[str, str], port: int, log_path: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "stream_health_cli.main", command],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout_s: float = 60.0, *, path: str = "/readyz") -> None:
        """Block until `path` answers 200; fail with the log tail otherwise."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if httpx.get(f"{self.url}{path}", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        tail = self.log_path.read_text(errors="replace")[-3000:]
        raise AssertionError(f"{self.url} not ready (exit {self.process.poll()}):\n{tail}")

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, as in a crash."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self._log.close()

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
                return
        self._log.close()
