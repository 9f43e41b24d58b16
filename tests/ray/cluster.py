"""A real Ray cluster of several nodes on this machine, for the tests: a head and workers, each a
`ray start --block` of its own, on loopback, declaring GPUs as resources (these machines have none).

Each node is a process group of its own started with a death signal, so a node can be killed with
SIGKILL as a machine dies, and nothing of the cluster outlives the test process, even on kill -9.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RAY = str(Path(sys.executable).with_name("ray"))
# Node deaths noticed in about 2 s instead of Ray's default of about 30 s: the tests kill nodes.
FAST_HEALTH_CHECK = {"health_check_period_ms": 500, "health_check_timeout_ms": 500, "health_check_failure_threshold": 3}


def ray_env() -> dict[str, str]:
    """What every Ray process of the tests runs with: no usage report, no token (loopback only)."""
    return {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _death_prefix() -> list[str]:
    found = shutil.which("setpriv")
    return [found, "--pdeathsig", "KILL", "--"] if found else []


@dataclass
class RayNode:
    proc: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        """SIGKILL to the whole node (its raylet, its workers, the trials they started): a machine dying."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


@dataclass
class LocalRayCluster:
    port: int
    dashboard_port: int
    logs: Path
    gpus_per_node: float = 1
    cpus_per_node: float = 2
    head: RayNode | None = None
    workers: list[RayNode] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def dashboard(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    def _start(self, args: list[str], name: str) -> RayNode:
        log = self.logs / f"{name}.log"
        proc = subprocess.Popen(
            [
                *_death_prefix(),
                RAY,
                "start",
                "--block",
                "--disable-usage-stats",
                "--node-ip-address=127.0.0.1",
                f"--num-gpus={self.gpus_per_node:g}",
                f"--num-cpus={self.cpus_per_node:g}",
                *args,
            ],
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=ray_env(),
        )
        return RayNode(proc, log)

    def start(self, workers: int = 1) -> LocalRayCluster:
        self.head = self._start(
            [
                "--head",
                f"--port={self.port}",
                "--dashboard-host=127.0.0.1",
                f"--dashboard-port={self.dashboard_port}",
                f"--system-config={json.dumps(FAST_HEALTH_CHECK)}",
            ],
            "head",
        )
        self.wait_nodes(1)
        for _ in range(workers):
            self.add_worker()
        return self

    def add_worker(self) -> RayNode:
        node = self._start([f"--address={self.address}"], f"worker-{len(self.workers)}")
        self.workers.append(node)
        self.wait_nodes(1 + sum(1 for w in self.workers if w.proc.poll() is None))
        return node

    def nodes(self) -> list[dict[str, Any]]:
        """The alive nodes, as the dashboard's state API lists them (no driver of the test's own)."""
        return [n for n in self.state("nodes") if n.get("state") == "ALIVE"]

    def state(self, kind: str, **filters: str) -> list[dict[str, Any]]:
        query = "&".join(
            ["limit=1000&detail=1"]
            + [f"filter_keys={k}&filter_predicates=%3D&filter_values={v}" for k, v in filters.items()]
        )
        with urllib.request.urlopen(f"{self.dashboard}/api/v0/{kind}?{query}", timeout=10) as answer:
            body = json.loads(answer.read())
        return list(body["data"]["result"]["result"])

    def wait_nodes(self, count: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.head is not None and self.head.proc.poll() is not None:
                raise RuntimeError(f"the Ray head exited: {self.head.log.read_text()[-2000:]}")
            try:
                if len(self.nodes()) == count:
                    return
            except OSError as exc:  # the dashboard is still starting
                last = exc
            time.sleep(0.3)
        raise TimeoutError(f"the Ray cluster did not reach {count} node(s) in {timeout:g} s ({last})")

    def stop(self) -> None:
        for node in [*self.workers, *([self.head] if self.head else [])]:
            if node.proc.poll() is None:
                os.killpg(node.proc.pid, signal.SIGTERM)
        for node in [*self.workers, *([self.head] if self.head else [])]:
            try:
                node.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                node.kill()
            # Ray's own processes are in the node's group: whatever SIGTERM left goes now.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(node.proc.pid, signal.SIGKILL)


def start_cluster(logs: Path, workers: int = 1, gpus_per_node: float = 1, cpus_per_node: float = 2) -> LocalRayCluster:
    logs.mkdir(parents=True, exist_ok=True)
    cluster = LocalRayCluster(free_port(), free_port(), logs, gpus_per_node, cpus_per_node)
    try:
        return cluster.start(workers)
    except BaseException:
        cluster.stop()
        raise
