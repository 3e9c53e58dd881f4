"""Where many-kernel work runs: a local process pool, or a Dask cluster.

An :class:`Engine` has one method, :meth:`~Engine.map`: run a function on every
item and yield the results as they complete (in completion order, each with its
item).  :func:`engine` picks one from the command line's ``--scheduler``:

- none: a process pool on all CPUs (``concurrent.futures``), or in this process for
  one item or one CPU;
- ``local``: an in-process ``distributed.LocalCluster``;
- ``tcp://HOST:PORT``: the Dask scheduler at that address.

The function and items must pickle (module-level functions, plain data): the
work is shipped to other processes or machines.  Results come back to the caller,
which writes them: workers need no shared file system, and a worker lost
mid-task loses nothing (Dask runs its task again elsewhere; the pool reports it).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Protocol, TypeVar

from ..cpus import available_cpus
from ..errors import BTFError
from ..transforms.modtree import Progress

T = TypeVar("T")
R = TypeVar("R")


class Engine(Protocol):
    """Runs a function over items somewhere, yielding (item, result) as each completes."""

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[T, R]]: ...

    def close(self) -> None: ...


class InProcess:
    """Everything in this process, one item after the other."""

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[T, R]]:
        for item in items:
            yield item, fn(item)

    def close(self) -> None:
        pass


class LocalPool:
    """A pool of processes on this machine (all CPUs by default)."""

    def __init__(self, workers: int | None = None):
        self.workers = workers or available_cpus()

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[T, R]]:
        if self.workers <= 1 or len(items) <= 1:
            yield from InProcess().map(fn, items)
            return
        with ProcessPoolExecutor(max_workers=min(self.workers, len(items))) as pool:
            running: dict[Future[R], T] = {pool.submit(fn, item): item for item in items}
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    yield running.pop(future), future.result()

    def close(self) -> None:
        pass


class DaskEngine:
    """A Dask cluster: the scheduler at ``address``, or a new in-process ``LocalCluster``."""

    def __init__(self, address: str, workers: int | None = None):
        try:
            # An optional dependency, typed loosely: imported as a module object.
            self._dask: Any = importlib.import_module("distributed")
        except ImportError:
            raise BTFError("--scheduler needs Dask's distributed package: pip install 'btfkit[dask]'") from None
        self._cluster: Any = None
        if address == "local":
            self._cluster = self._dask.LocalCluster(
                n_workers=workers or available_cpus(), threads_per_worker=1, processes=True,
                dashboard_address=None,
            )  # fmt: skip
            self.client: Any = self._dask.Client(self._cluster)
        else:
            try:
                self.client = self._dask.Client(address, timeout="30s")
            except OSError as exc:
                raise BTFError(f"cannot reach the Dask scheduler at {address}: {exc}") from exc

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[T, R]]:
        # pure=False: every item is its own task, even when two are equal.
        futures = self.client.map(fn, items, pure=False)
        item_of = {f.key: item for f, item in zip(futures, items, strict=True)}
        for future in self._dask.as_completed(futures):
            yield item_of[future.key], future.result()

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def engine(scheduler: str | None = None, workers: int | None = None) -> Engine:
    """The engine for ``--scheduler`` (``None``: a local process pool)."""
    if scheduler is None:
        return LocalPool(workers)
    if scheduler != "local" and not scheduler.startswith(("tcp://", "tls://", "inproc://", "ws://", "wss://")):
        raise BTFError(f"--scheduler {scheduler!r}: give 'local' or a scheduler address such as tcp://HOST:8786")
    return DaskEngine(scheduler, workers)


def with_progress(
    eng: Engine, fn: Callable[[T], R], items: Sequence[T], label: str = "kernels", enabled: bool | None = None
) -> Iterator[R]:
    """``eng.map(fn, items)``'s results, with a progress bar on stderr (by default when it is a terminal)."""
    shown = sys.stderr.isatty() if enabled is None else enabled
    progress = Progress(len(items), sys.stderr if shown else None, label)
    for _item, result in eng.map(fn, items):
        progress.step()
        yield result
