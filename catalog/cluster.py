"""Work on a Dask distributed cluster: which scheduler to use, a client that always
closes, and a map of a pure function over tasks with progress and cancellation.

The cluster is chosen by a ``scheduler=`` argument (an address such as
``tcp://10.0.0.5:8786``), else by ``$VOXCAT_DASK_SCHEDULER``, else by Dask's own
configuration (``scheduler-address``: ``$DASK_SCHEDULER_ADDRESS`` or a Dask YAML file);
with none of them, callers keep their local pool. Workers only compute (read files,
hash them, draw thumbnails) and return results: the process that called :func:`map_on_cluster` writes the index, as it does
with a local pool, so a worker never opens the index. Workers must see the data at the
same paths as this process (a shared file system), and run the same voxcat.

``distributed`` is imported only when a cluster is used (``import catalog`` stays light).

>>> results: list[int] = []
>>> map_on_cluster("tcp://127.0.0.1:8786", abs, [-1, -2], results.append)  # doctest: +SKIP
>>> sorted(results)                                                      # doctest: +SKIP
[1, 2]
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, TypeVar

from .errors import BadSchedulerAddress, ClusterUnreachable

if TYPE_CHECKING:
    from distributed import Client

T = TypeVar("T")
R = TypeVar("R")

#: the environment variable naming the scheduler when no ``scheduler=`` is given
SCHEDULER_ENV = "VOXCAT_DASK_SCHEDULER"
#: seconds to wait for the scheduler before :class:`ClusterUnreachable`
#: (``VOXCAT_DASK_CONNECT_TIMEOUT``, read at each connection)
CONNECT_TIMEOUT = 10.0
#: how often :func:`map_on_cluster` calls its ``check`` while it waits for results
CHECK_SECONDS = 0.1


def scheduler_address(scheduler: str | None = None) -> str | None:
    """The scheduler to use: ``scheduler`` if given, else ``$VOXCAT_DASK_SCHEDULER``,
    else Dask's configuration ``scheduler-address`` (``$DASK_SCHEDULER_ADDRESS``, or
    ``scheduler-address:`` in a Dask YAML file), else ``None`` (no cluster: work in a
    local pool).

    >>> scheduler_address("tcp://127.0.0.1:8786")
    'tcp://127.0.0.1:8786'
    """
    address = (scheduler or "").strip() or os.environ.get(SCHEDULER_ENV, "").strip()
    if not address:
        address = _dask_config_address()
    return address or None


def _dask_config_address() -> str:
    """``scheduler-address`` of Dask's configuration ("" if unset; Dask itself is
    imported only when it is installed, and its config module is light)."""
    try:
        import dask
    except ImportError:  # pragma: no cover - dask is a dependency of the readers
        return ""
    value = dask.config.get("scheduler-address", default=None)
    return str(value).strip() if value else ""


def connect_timeout() -> float:
    """Seconds to wait for a scheduler (``$VOXCAT_DASK_CONNECT_TIMEOUT``, default 10)."""
    try:
        return float(os.environ.get("VOXCAT_DASK_CONNECT_TIMEOUT", CONNECT_TIMEOUT))
    except ValueError:
        return CONNECT_TIMEOUT


@contextlib.contextmanager
def cluster_client(address: str, *, timeout: float | None = None) -> Iterator[Client]:
    """A ``distributed.Client`` connected to ``address``, closed on the way out.

    It is not made the default client, so a notebook's own client is left alone.
    Raises :class:`~catalog.errors.BadSchedulerAddress` for an address of an unknown
    scheme and :class:`~catalog.errors.ClusterUnreachable` when nothing answers there
    within ``timeout`` seconds (default :func:`connect_timeout`).

    >>> with cluster_client("tcp://127.0.0.1:8786") as client:   # doctest: +SKIP
    ...     client.submit(abs, -3).result()
    3
    """
    from distributed import Client
    from distributed.comm import parse_address
    from distributed.comm.registry import get_backend

    try:
        get_backend(parse_address(address)[0])
    except ValueError as exc:
        raise BadSchedulerAddress(
            f"{address!r} is no Dask scheduler address ({exc}); give one like tcp://host:8786"
        ) from None
    wait = connect_timeout() if timeout is None else timeout
    try:
        client = Client(address, timeout=wait, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ClusterUnreachable(address, str(exc) or type(exc).__name__) from None
    try:
        yield client
    finally:
        client.close()


def dashboard_link(client: Client) -> str | None:
    """The link to the Dask dashboard of ``client``'s cluster, ``None`` if it has none
    (a scheduler started without one).

    >>> with cluster_client("tcp://127.0.0.1:8786") as client:   # doctest: +SKIP
    ...     dashboard_link(client)
    'http://127.0.0.1:8787/status'
    """
    try:
        return client.dashboard_link or None
    except Exception:  # no dashboard service on the scheduler
        return None


def map_on_cluster(
    address: str | Client,
    work: Callable[[T], R],
    items: Iterable[T],
    on_result: Callable[[R], None],
    *,
    check: Callable[[], None] | None = None,
    failed: Callable[[T, BaseException], R] | None = None,
    on_client: Callable[[Client], None] | None = None,
) -> None:
    """``on_result(work(item))`` for every item, each ``work`` call a task on the
    cluster at ``address``, results taken in this process as they finish (in no set
    order).

    ``work`` must be picklable and importable on the workers (a module-level function
    or a partial of one) and must not write the index. ``check()`` is called between
    results and every :data:`CHECK_SECONDS` while waiting; an exception it raises
    (a cancelled operation), or Ctrl-C cancels the tasks not yet finished and
    propagates; losing the scheduler on the way raises
    :class:`~catalog.errors.ClusterUnreachable`. An exception of a task (also
    ``KilledWorker``: its workers died running it, after Dask's own retries) does the
    same, unless ``failed`` is given: then ``on_result(failed(item, exc))`` and the
    other tasks go on. ``on_client``
    gets the connected client first (its ``dashboard_link``, say). The client is
    always closed.

    >>> out: list[int] = []
    >>> map_on_cluster("tcp://127.0.0.1:8786", abs, [-1, 2], out.append)  # doctest: +SKIP
    """
    from distributed import as_completed

    tasks = list(items)
    if not tasks:
        return
    with contextlib.ExitStack() as stack:
        client = (
            stack.enter_context(cluster_client(address)) if isinstance(address, str) else address
        )
        if on_client is not None:
            on_client(client)
        # pure=False: every call runs (a file is read again, not taken from a cache)
        futures = client.map(work, tasks, pure=False)
        item_of = {fut.key: item for fut, item in zip(futures, tasks)}
        try:
            # with_results: each result comes with the notice that its task finished
            done = as_completed(futures, loop=client.loop, with_results=True)
            while not done.is_empty():
                if check is not None:
                    check()
                if not done.has_ready():
                    time.sleep(CHECK_SECONDS if check is not None else 0.01)
                    continue
                for fut, result in done.next_batch(block=False):
                    if fut.status == "cancelled":  # not by us: the scheduler was lost
                        raise ClusterUnreachable(
                            client.scheduler.address,
                            "lost the scheduler while working (it stopped, or the network "
                            "failed); the results taken so far are kept",
                        )
                    if fut.status != "finished":
                        if failed is None:
                            fut.result()  # raises the task's error
                        result = failed(item_of[fut.key], _task_error(fut))
                    fut.release()
                    on_result(result)
        except BaseException:
            with contextlib.suppress(Exception):
                client.cancel(futures)
            raise


def _task_error(fut: object) -> BaseException:
    """The exception a failed task raised (``KilledWorker`` when its workers died)."""
    try:
        fut.result()  # type: ignore[attr-defined]
    except Exception as exc:
        return exc
    return RuntimeError("the task failed without an error")  # pragma: no cover
