"""Worker processes, and a Ctrl-C that stops a long command promptly and cleanly.

zarr runs an event-loop thread, and Python delivers SIGINT as a KeyboardInterrupt at whatever
bytecode the main thread is running: inside a weakref finalizer the exception is printed and
dropped, and the command goes on. Within :func:`deferred_interrupts` SIGINT only sets a flag,
and the command raises KeyboardInterrupt at points where stopping is safe
(:func:`check_interrupt`: between chunks, samples, shards); click answers it with "Aborted!"
and exit code 1. A second Ctrl-C raises at once.

Worker processes ignore SIGINT (a terminal sends it to the whole process group): the parent
decides, and on an interrupt or an error terminates them instead of waiting for their work.
"""

from __future__ import annotations

import ctypes
import importlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

_PR_SET_PDEATHSIG = 1
#: Seconds between two looks at the interrupt flag while waiting for workers.
POLL_S = 0.2

_interrupted = threading.Event()
_installed = 0


@contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Within the block, SIGINT makes the next :func:`check_interrupt` raise KeyboardInterrupt.

    Does nothing outside the main thread (signals are delivered there only), and nests.
    """
    global _installed
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT) if _installed == 0 else None
    if _installed == 0:
        _interrupted.clear()
        signal.signal(signal.SIGINT, _on_sigint)
    _installed += 1
    try:
        yield
    finally:
        _installed -= 1
        if _installed == 0:
            signal.signal(signal.SIGINT, previous)
            _interrupted.clear()


def check_interrupt() -> None:
    """Raise KeyboardInterrupt if SIGINT arrived within :func:`deferred_interrupts`."""
    if _interrupted.is_set():
        raise KeyboardInterrupt


def _on_sigint(signum: int, frame: Any) -> None:
    if _interrupted.is_set():
        raise KeyboardInterrupt
    _interrupted.set()


@dataclass
class _SharedPool:
    """The pool :func:`shared_pool` hands out: its size, and the pool once started."""

    workers: int
    pool: ProcessPoolExecutor | None = None


_shared: _SharedPool | None = None


@contextmanager
def shared_pool(workers: int, preload: tuple[str, ...] = ()) -> Iterator[None]:
    """Within the block, every :func:`process_pool` of up to `workers` processes is one pool,
    shut down at the end: started at once with `preload` (its processes import those modules
    meanwhile), else when first needed.

    A build renders its assets and then its shards on processes: sharing the pool pays for
    starting them (a Python each, importing numpy, OpenCV and zarr) once instead of per stage,
    and starting it early lets them start while the build's own process reads the assets.
    """
    global _shared
    if _shared is not None:  # already inside one
        yield
        return
    _shared = _SharedPool(workers)
    if preload:
        _shared.pool = _new_pool(workers, preload)
        # A spawned pool starts a process per task submitted while none is idle.
        for _ in range(workers):
            _shared.pool.submit(int)
    try:
        yield
    except BaseException:
        if _shared.pool is not None:
            _stop(_shared.pool)
        raise
    else:
        if _shared.pool is not None:
            _shared.pool.shutdown()
    finally:
        _shared = None


@contextmanager
def process_pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """A pool of `workers` spawned processes that die with their parent and ignore SIGINT
    (inside :func:`shared_pool`, its pool).

    When the block raises (an interrupt, a failed task), the workers are terminated at once:
    the work in flight is redone by a rerun.
    """
    shared = _shared if _shared is not None and workers <= _shared.workers else None
    if shared is not None and shared.pool is None:
        shared.pool = _new_pool(shared.workers)
    pool = shared.pool if shared is not None else _new_pool(workers)
    try:
        yield pool
    except BaseException:
        _stop(pool)
        if shared is not None:
            shared.pool = None
        raise
    if shared is None:
        pool.shutdown()


def _stop(pool: ProcessPoolExecutor) -> None:
    """Terminate the pool's processes without waiting for their work; return once they are
    gone."""
    # No public way to stop running tasks before Python 3.14 (terminate_workers).
    for process in list((pool._processes or {}).values()):
        process.terminate()
    # Waiting lets the pool's own thread reap the processes it sees die; returning earlier
    # let a caller's join race that thread for the same exit status and see a live process.
    pool.shutdown(wait=True, cancel_futures=True)


def _new_pool(workers: int, preload: tuple[str, ...] = ()) -> ProcessPoolExecutor:
    # zarr runs an event-loop thread: never fork it.
    return ProcessPoolExecutor(
        workers, mp_context=get_context("spawn"), initializer=_init_worker, initargs=(preload,)
    )


def completed(futures: Iterable[Future], ordered: bool = False) -> Iterator[Any]:
    """Results of `futures` as they finish (in submission order with `ordered`), looking at
    the interrupt flag while waiting."""
    pending = list(futures)
    while pending:
        check_interrupt()
        if ordered:
            done = {pending[0]} if wait(pending[:1], timeout=POLL_S).done else set()
        else:
            done = wait(pending, timeout=POLL_S, return_when=FIRST_COMPLETED).done
        for future in [f for f in pending if f in done]:
            pending.remove(future)
            yield future.result()


def parallel_map(
    fn: Callable[..., Any], args: list[tuple[Any, ...]], workers: int
) -> Iterator[Any]:
    """``fn(*a)`` for each of `args`, in order: in this process, or on `workers` processes."""
    if workers <= 1 or len(args) <= 1:
        for a in args:
            check_interrupt()
            yield fn(*a)
        return
    with process_pool(min(workers, len(args))) as pool:
        yield from completed([pool.submit(fn, *a) for a in args], ordered=True)


#: Set in each worker before it imports numpy or OpenCV (unless the user set them): a worker
#: runs one thread, and the BLAS libraries' own threads would only spin at start-up (and each
#: worker would start one per core).
WORKER_ENVIRONMENT = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


def _init_worker(preload: tuple[str, ...]) -> None:
    """Ignore SIGINT; on Linux, have the kernel kill this worker when its parent dies; limit
    the BLAS threads (:data:`WORKER_ENVIRONMENT`); import the modules `preload` names.

    A SIGKILLed build then leaves no orphan writing shards while the user reruns the command.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name, value in WORKER_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() == 1:  # the parent died before the request took effect
            os._exit(1)
    for module in preload:
        importlib.import_module(module)
