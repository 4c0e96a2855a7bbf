"""Work on a Dask distributed cluster: which scheduler to use, a client that always
closes, and a map of a pure function over tasks with progress and cancellation.

The cluster is chosen by a ``scheduler=`` argument (an address such as
``tcp://10.0.0.5:8786``), else by ``$VOXCAT_DASK_SCHEDULER``, else by Dask's own
configuration (``scheduler-address``: ``$DASK_SCHEDULER_ADDRESS`` or a Dask YAML file);
with none of them, callers keep their local pool. Workers only compute (read files,
hash them, draw thumbnails, write blocks of stores) and return results: the process
that called :func:`map_on_cluster` writes the index, as it does
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
from concurrent.futures import CancelledError
from typing import TYPE_CHECKING, Any, TypeVar

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
#: seconds a stop with ``settle=True`` waits, once it cancelled its tasks, for those
#: already running on a worker (which cannot be stopped) to end
SETTLE_SECONDS = 60.0


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
    scheme (or a dask-gateway address without the package or the cluster's TLS
    credentials in Dask's settings) and :class:`~catalog.errors.ClusterUnreachable`
    when nothing answers there within ``timeout`` seconds (default
    :func:`connect_timeout`).

    >>> with cluster_client("tcp://127.0.0.1:8786") as client:   # doctest: +SKIP
    ...     client.submit(abs, -3).result()
    3
    """
    from distributed import Client
    from distributed.comm import parse_address
    from distributed.comm.registry import get_backend

    if address.lower().startswith(GATEWAY_SCHEME):
        with contextlib.suppress(ImportError):
            import dask_gateway  # noqa: F401  (registers the gateway:// connection)
    try:
        get_backend(parse_address(address)[0])
    except ValueError as exc:
        if address.lower().startswith(GATEWAY_SCHEME):
            raise BadSchedulerAddress(
                f"{address} is a dask-gateway cluster: install the dask-gateway package "
                "in this environment to connect to it"
            ) from None
        raise BadSchedulerAddress(
            f"{address!r} is no Dask scheduler address ({exc}); give one like tcp://host:8786"
        ) from None
    wait = connect_timeout() if timeout is None else timeout
    if address.lower().startswith(GATEWAY_SCHEME):
        _check_gateway(address)
    try:
        client = Client(address, timeout=wait, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ClusterUnreachable(address, str(exc) or type(exc).__name__) from None
    try:
        yield client
    finally:
        client.close()


#: the address scheme of a dask-gateway cluster (TLS through the gateway's proxy)
GATEWAY_SCHEME = "gateway://"


def _check_gateway(address: str) -> None:
    """A dask-gateway address works only with the ``dask-gateway`` package and the
    cluster's TLS credentials in Dask's settings (``distributed.comm.tls.*``), which
    ``distributed.Client`` reads when it is given an address alone."""
    import dask.config

    if not dask.config.get("distributed.comm.tls.client.cert", None):
        raise BadSchedulerAddress(
            f"{address} is a dask-gateway cluster: connecting needs its TLS credentials. "
            "In Python, with cluster = Gateway().new_cluster(): dask.config.set({"
            "'distributed.comm.tls.ca-file': cluster.security.tls_cert, "
            "'distributed.comm.tls.client.cert': cluster.security.tls_cert, "
            "'distributed.comm.tls.client.key': cluster.security.tls_key}) "
            "(README: Running on a Dask cluster)"
        )


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
    settle: bool = False,
) -> None:
    """``on_result(work(item))`` for every item, each ``work`` call a task on the
    cluster at ``address`` (or through the open ``Client`` given, which is left open),
    results taken in this process as they finish (in no set order).

    ``work`` must be picklable and importable on the workers (a module-level function
    or a partial of one) and must not write the index. ``check()`` is called between
    results and every :data:`CHECK_SECONDS` while waiting; an exception it raises
    (a cancelled operation), or Ctrl-C cancels the tasks not yet finished and
    propagates; losing the scheduler on the way raises
    :class:`~catalog.errors.ClusterUnreachable`. An exception of a task (also
    ``KilledWorker``: its workers died running it, after Dask's own retries) does the
    same, unless ``failed`` is given: then ``on_result(failed(item, exc))`` and the
    other tasks go on (a task killed with its workers is first tried again alone, once
    the others are done, so a task that shared a dying worker is not blamed). With ``settle``, a stop waits (at most :data:`SETTLE_SECONDS`)
    for the tasks a worker had already started to end, so the caller may remove what
    they write. ``on_client`` gets the connected client first (its
    ``dashboard_link``, say). A client this function connected is always closed.

    >>> out: list[int] = []
    >>> map_on_cluster("tcp://127.0.0.1:8786", abs, [-1, 2], out.append)  # doctest: +SKIP
    """
    tasks = list(items)
    if not tasks:
        return
    with _client_of(address) as client:
        if on_client is not None:
            on_client(client)
        # pure=False: every call runs (a file is read again, not taken from a cache)
        futures = client.map(work, tasks, pure=False)
        item_of = {fut.key: item for fut, item in zip(futures, tasks)}
        if failed is None:
            _gather(client, futures, on_result, check, settle)
            return
        on_failure = failed
        # a worker that dies takes every task it held with it (one thread may hold
        # two), so a task killed with its worker is tried again alone at the end:
        # only the one that kills its worker then fails
        again: list[T] = []

        def fail(fut: Any, exc: BaseException) -> Any:
            if type(exc).__name__ == "KilledWorker":
                again.append(item_of[fut.key])
                return _AGAIN
            return on_failure(item_of[fut.key], exc)

        def taken(result: Any) -> None:
            if result is not _AGAIN:
                on_result(result)

        _gather(client, futures, taken, check, settle, failed=fail)

        def blame(fut: Any, exc: BaseException) -> Any:
            return on_failure(item_of[fut.key], exc)

        for item in again:
            alone = client.submit(work, item, pure=False)
            item_of[alone.key] = item
            _gather(client, [alone], on_result, check, settle, failed=blame)


_AGAIN = object()  # a task to try again alone


def compute_on_cluster(
    address: str | Client,
    collections: Iterable[Any],
    on_result: Callable[[Any], None],
    *,
    check: Callable[[], None] | None = None,
    settle: bool = False,
) -> None:
    """``on_result(value)`` for each of the dask ``collections`` (delayed objects, e.g.
    the blocks of an array from ``to_delayed()``), computed on the cluster at
    ``address`` (or through the ``Client`` given) and taken here as each finishes;
    ``check``, ``settle``, errors and Ctrl-C as in :func:`map_on_cluster`. The graphs must be picklable (dask arrays of
    zarr stores, of the readers' lazy arrays, of module-level functions).

    >>> import dask
    >>> out: list[int] = []
    >>> compute_on_cluster("tcp://127.0.0.1:8786", [dask.delayed(abs)(-1)], out.append)  # doctest: +SKIP
    """
    todo = list(collections)
    if not todo:
        return
    # the tasks that do the work may be fused under keys of their own: settle on all
    graph = {k for c in todo for k in c.__dask_graph__()} if settle else set()
    with _client_of(address) as client:
        _gather(client, client.compute(todo), on_result, check, settle, graph)


def _gather(
    client: Client,
    futures: list[Any],
    on_result: Callable[[Any], None],
    check: Callable[[], None] | None,
    settle: bool,
    graph: set | frozenset = frozenset(),
    *,
    failed: Callable[[Any, BaseException], Any] | None = None,
) -> None:
    """Hand each future's result to ``on_result`` as it finishes (a failed task's to
    ``failed(future, exc)`` first, when given); on any exception cancel the others
    (and with ``settle`` wait for those running, and for any task of ``graph``) and
    re-raise."""
    from distributed import as_completed

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
                # judge by what came with the notice, never by fut.status now: a task
                # whose result was taken may since have been lost with its worker and
                # reset to pending (Dask computes it again)
                if isinstance(result, CancelledError):  # not by us: scheduler lost
                    raise ClusterUnreachable(
                        client.scheduler.address,
                        "lost the scheduler while working (it stopped, or the network "
                        "failed); the results taken so far are kept",
                    )
                error = _task_error(fut, result)
                if error is not None:
                    if failed is None:
                        raise error
                    result = failed(fut, error)
                fut.release()
                on_result(result)
    except BaseException:
        with contextlib.suppress(Exception):
            client.cancel(futures)
            if settle:
                _settle(client, list({f.key for f in futures} | set(graph)))
        raise


@contextlib.contextmanager
def _client_of(address: str | Client) -> Iterator[Client]:
    """A client of ``address`` closed on the way out, or the ``Client`` given (left open)."""
    if isinstance(address, str):
        with cluster_client(address) as client:
            yield client
    else:
        yield address


def _running(keys: list, dask_worker: Any = None) -> int:
    """How many of ``keys`` this worker executes or may still start (a task it was
    handed before the cancel reached it), cancelled or not."""
    wanted = set(keys)
    ended = ("memory", "error", "released", "forgotten")
    return sum(
        1 for k, ts in dask_worker.state.tasks.items() if k in wanted and ts.state not in ended
    )


def _settle(client: Client, keys: list, seconds: float | None = None) -> None:
    """Wait until no worker executes, or may start, any of ``keys`` (cancelled tasks
    that were running run to their end); two checks in a row must find none."""
    deadline = time.monotonic() + (SETTLE_SECONDS if seconds is None else seconds)
    quiet = 0
    while time.monotonic() < deadline and quiet < 2:
        quiet = quiet + 1 if not sum(client.run(_running, keys).values()) else 0
        time.sleep(0.05)


def worker_memory(client: Client) -> int | None:
    """Bytes of memory one task may use on the cluster: the smallest worker memory limit
    divided by that worker's threads (None when no worker has a limit).

    >>> with cluster_client("tcp://127.0.0.1:8786") as client:   # doctest: +SKIP
    ...     worker_memory(client)
    400000000
    """
    shares = [
        int(w["memory_limit"]) // max(1, int(w.get("nthreads") or 1))
        for w in client.scheduler_info(n_workers=-1)["workers"].values()
        if w.get("memory_limit")
    ]
    return min(shares) if shares else None


def _task_error(fut: Any, delivered: object) -> BaseException | None:
    """The exception of a failed task (``KilledWorker`` when its workers died), from
    what ``as_completed(with_results=True)`` delivered for it, or None if it succeeded
    (an erred task delivers ``(type, exception, traceback)``)."""
    if fut.status != "error" or not isinstance(delivered, tuple) or len(delivered) != 3:
        return None
    _, exc, tb = delivered
    return exc.with_traceback(tb) if isinstance(exc, BaseException) else None
