"""A real Dask LocalCluster for tests: worker processes on 127.0.0.1 that import this
checkout's ``catalog`` (where the tasks' code is)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def local_cluster(**options: Any) -> Iterator[Any]:
    """A ``distributed.LocalCluster`` of worker processes (``options`` passed on, e.g.
    ``n_workers``, ``memory_limit``), closed on the way out."""
    import distributed

    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), old) if p)
    try:
        # no dashboard unless asked (``dashboard_address="127.0.0.1:0"``: any free port)
        options = {"processes": True, "host": "127.0.0.1", "dashboard_address": None, **options}
        with distributed.LocalCluster(**options) as cluster:
            yield cluster
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old


def tasks_done(address: str, prefix: str) -> int:
    """How many tasks whose key name starts with ``prefix`` the scheduler has seen
    finish (its running count per task prefix, never trimmed)."""
    import distributed

    name = prefix.rstrip("-")

    def count(dask_scheduler: Any) -> int:
        return sum(
            p.state_counts["memory"]
            for key, p in dask_scheduler.task_prefixes.items()
            if key.lstrip("_").startswith(name.lstrip("_"))
        )

    with distributed.Client(address, set_as_default=False) as client:
        return client.run_on_scheduler(count)


def tasks_held(address: str, prefix: str) -> list:
    """Keys starting with ``prefix`` the scheduler still holds (none once released)."""
    import distributed

    def held(dask_scheduler: Any) -> list:
        return [str(k) for k in dask_scheduler.tasks if _name(k).startswith(prefix)]

    with distributed.Client(address, set_as_default=False) as client:
        return client.run_on_scheduler(held)


def _name(key: Any) -> str:
    return str(key[0]) if isinstance(key, tuple) else str(key)


def worker_pids(address: str) -> dict[str, int]:
    """The process id of each worker (a restarted worker has another)."""
    import distributed

    with distributed.Client(address, set_as_default=False) as client:
        return client.run(os.getpid)


def peak_rss(pid: int) -> int:
    """The most resident memory the process ever had (Linux ``VmHWM``), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for process {pid}")
