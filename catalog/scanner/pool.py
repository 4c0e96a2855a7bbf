"""Worker process pools that die with the process that started them.

A ``ProcessPoolExecutor`` on the ``forkserver`` context starts three kinds of
processes: the fork server and the resource tracker (children of the scanning
process) and the workers (children of the fork server). Left alone, none of them
notices when the scanning process is killed (``kill -9``, or the Jupyter server that
ran the scan going away): each worker holds the write end of its own task queue and
a copy of the fork server's "alive" pipe, so nobody ever reads end-of-file and the
workers (about 185 MB each) wait for tasks forever.

:func:`guarded_pool` closes that loop. Each worker, as it starts:

- closes its copy of the fork server's alive pipe, so the fork server sees
  end-of-file, and exits, as soon as the scanning process is gone (the resource
  tracker follows once nobody holds its pipe);
- asks the kernel for SIGKILL when its parent, the fork server, dies
  (``prctl(PR_SET_PDEATHSIG)`` on Linux; the fork server forks from its only thread,
  so the signal cannot fire early), which also stops a worker stuck in C code;
- runs a watchdog thread that ends it if the fork server or the scanning process
  goes away (the portable part, and a second line on Linux);
- lowers its own priority by ``VOXCAT_WORKER_NICE`` (10): a scan's workers take the
  cores only when readers leave them free.

>>> with guarded_pool(4) as pool:                        # doctest: +SKIP
...     print(pool.submit(pow, 2, 10).result())
1024
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: how often a worker's watchdog looks at its parents
WATCH_SECONDS = 0.5
#: niceness added to every worker (``VOXCAT_WORKER_NICE``; 0 keeps the parent's)
NICE = int(os.environ.get("VOXCAT_WORKER_NICE", "10"))
#: how many tasks per worker are queued ahead
QUEUE_AHEAD = 4
#: how often :func:`run_pool` calls its ``check`` while it waits for results
CHECK_SECONDS = 0.2
_PR_SET_PDEATHSIG = 1


def _start_time(pid: int) -> str | None:
    """Start time of ``pid`` (Linux: clock ticks since boot), so a reused pid does not
    pass for the process it replaced; ``None`` where it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # the name in parentheses may hold spaces; fields after it are space-separated
    return stat.rpartition(b")")[2].split()[19].decode()


def process_started(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch), where the system says
    (Linux); ``None`` elsewhere or if it is gone."""
    ticks = _start_time(pid)
    if ticks is None:
        return None
    try:
        with open("/proc/stat", "rb") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith(b"btime "))
        return boot + int(ticks) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, StopIteration):
        return None


def alive(pid: int, started: str | None = None) -> bool:
    """Whether process ``pid`` exists (and, given ``started`` from
    :func:`_start_time`, is the same process)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return started is None or _start_time(pid) in (None, started)


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)
    os._exit(1)  # pragma: no cover - where SIGKILL is not final


def _set_parent_death_signal() -> bool:
    """Linux: SIGKILL this process when its parent dies. Returns whether it is set."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _release_fork_server() -> None:
    """Close this worker's copy of the fork server's alive pipe (see the module doc)."""
    try:
        from multiprocessing import forkserver
    except ImportError:  # pragma: no cover - platforms without a fork server
        return
    server = getattr(forkserver, "_forkserver", None)
    fd = getattr(server, "_forkserver_alive_fd", None)
    if server is not None and isinstance(fd, int):
        with contextlib.suppress(OSError):
            os.close(fd)
        server._forkserver_alive_fd = None


def _watch(owner: int, owner_started: str | None, parent: int) -> None:
    while True:
        time.sleep(WATCH_SECONDS)
        if os.getppid() != parent or not alive(owner, owner_started):
            _die()


def _lower_priority() -> None:
    """Run this worker at :data:`NICE` (bulk work gives way to the notebooks, the
    sidebar and the server on the same cores; the parent, which writes the index
    and holds its lock, keeps its priority)."""
    if NICE > 0:
        with contextlib.suppress(OSError, AttributeError):
            os.nice(NICE)


def guard_worker(
    owner: int, owner_started: str | None, environ: dict[str, str] | None = None
) -> None:
    """Pool initializer: tie this worker's life to its parent and to ``owner``, the
    process that started the pool (see the module doc), and take ``environ``, the
    owner's environment now (the fork server keeps the one it started with: storage
    credentials set since, in a notebook or a server, would be missing)."""
    if environ is not None:
        os.environ.clear()
        os.environ.update(environ)
    parent = os.getppid()
    _set_parent_death_signal()
    _lower_priority()
    _release_fork_server()
    if os.getppid() != parent or not alive(owner, owner_started):
        _die()  # it died while we were starting
    threading.Thread(
        target=_watch, args=(owner, owner_started, parent), name="voxcat-watchdog", daemon=True
    ).start()


def guarded_pool(jobs: int) -> cf.ProcessPoolExecutor:
    """A pool of ``jobs`` fork-server workers that die with this process."""
    me = os.getpid()
    return cf.ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=mp.get_context("forkserver"),
        initializer=guard_worker,
        initargs=(me, _start_time(me), dict(os.environ)),
    )


def stop(pool: cf.ProcessPoolExecutor) -> None:
    """Shut ``pool`` down now: queued tasks are dropped, running ones killed."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        with contextlib.suppress(Exception):
            proc.kill()
    for proc in procs:
        with contextlib.suppress(Exception):
            proc.join(5)
    pool.shutdown(wait=True)


def run_pool(
    items: Iterable[T],
    jobs: int,
    work: Callable[[T], R],
    on_result: Callable[[R], None],
    crashed: Callable[[T], R],
    make_pool: Callable[[int], cf.ProcessPoolExecutor] = guarded_pool,
    check: Callable[[], None] | None = None,
) -> None:
    """``on_result(work(item))`` for every item, in ``jobs`` guarded worker processes.

    A worker that dies (a decoder fault on damaged data) fails only its item: the
    items it may have taken down are retried one by one, each in a pool of its own,
    and the one that kills its worker again gets ``crashed(item)``. An exception in
    this process (Ctrl-C, SIGTERM) kills the workers at once instead of waiting for
    their items, and so does an exception raised by ``check()``, which is called
    between results and every :data:`CHECK_SECONDS` while waiting for them (a
    cancelled scan). ``work`` must be picklable (a module-level function or a partial);
    ``make_pool(n)`` makes the pools.
    """
    queue = list(reversed(list(items)))
    suspects: list[T] = []
    pool = make_pool(jobs)
    inflight: dict[cf.Future[R], T] = {}
    try:
        while queue or inflight:
            while queue and len(inflight) < jobs * QUEUE_AHEAD:
                item = queue.pop()
                inflight[pool.submit(work, item)] = item
            if check is not None:
                check()
            done, _ = cf.wait(
                inflight,
                timeout=None if check is None else CHECK_SECONDS,
                return_when=cf.FIRST_COMPLETED,
            )
            broken = False
            for fut in done:
                item = inflight.pop(fut)
                try:
                    result = fut.result()
                except cf.process.BrokenProcessPool:
                    suspects.append(item)
                    broken = True
                    continue
                on_result(result)
            if broken:
                suspects.extend(inflight.values())
                inflight.clear()
                stop(pool)
                # retry each suspect alone: the one that kills its worker is the culprit
                for item in suspects:
                    if check is not None:
                        check()
                    solo = make_pool(1)
                    try:
                        result = solo.submit(work, item).result()
                    except cf.process.BrokenProcessPool:
                        result = crashed(item)
                    finally:
                        solo.shutdown(wait=False, cancel_futures=True)
                    on_result(result)
                suspects.clear()
                pool = make_pool(jobs)
    except BaseException:
        stop(pool)
        raise
    pool.shutdown(wait=True, cancel_futures=True)
