"""Build shards on a Dask cluster: ``fgd datagen build --dask ADDRESS|local:N``.

Each shard is one task, ``build_shard(store URL, shard)``, exactly what the local build runs:
workers need the fgd package and the store URL, nothing else. A lost worker's task is
rescheduled by the scheduler (the shard is simply built again: its bytes are the same and every
object write is atomic), and a task that raised is retried :data:`RETRIES` times. The client
only waits for results; the workers write the store and its markers, so a client killed
mid-build resumes like a local build.

``dask.distributed`` is imported only here, and only when a build asks for it (``fgd[scale]``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

from datagen.common.errors import InputError

#: Extra tries of a task that raised (a lost worker's task is rescheduled regardless).
RETRIES = 2
#: Seconds to wait for a scheduler at an address before giving up.
CONNECT_TIMEOUT_S = 10

#: One shard's work: ``task(store URL, shard index) -> result``.
ShardTask = Callable[[str, int], dict[str, Any]]
#: ``run(task, store URL, shards)`` runs `task` for every shard, yielding results as they finish.
ShardRunner = Callable[[ShardTask, str, list[int]], Iterator[dict[str, Any]]]


@dataclass(frozen=True)
class DaskTarget:
    """Where shards run: a scheduler address, or a LocalCluster of `n_workers` workers."""

    address: str | None
    n_workers: int = 0

    @classmethod
    def parse(cls, text: str) -> DaskTarget:
        """``local:N`` or a scheduler address (``tcp://host:8786``, ``host:8786``).

        Raises:
            InputError: ``local:N`` with N not a positive integer, or an empty address.
        """
        text = text.strip()
        if text.startswith("local:"):
            count = text.removeprefix("local:")
            if not count.isdigit() or not 1 <= int(count) <= 1024:
                raise InputError(f"--dask {text}: local:N needs N from 1 to 1024 workers")
            return cls(address=None, n_workers=int(count))
        if not text:
            raise InputError("--dask: give a scheduler address (tcp://host:8786) or local:N")
        return cls(address=text)


@contextmanager
def dask_runner(target: DaskTarget, in_process: bool) -> Iterator[ShardRunner]:
    """Connect to (or start) the cluster and yield a :data:`ShardRunner` that uses it.

    `in_process` (a ``memory://`` store) runs a LocalCluster's workers as threads of this
    process, and refuses a scheduler address, whose workers could not reach the store.
    """
    if in_process and target.address is not None:
        raise InputError(
            f"--dask {target.address}: a memory:// store lives in this process only, where "
            "the cluster's workers cannot reach it (use --dask local:N)"
        )
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise InputError("--dask needs dask.distributed: pip install 'fgd[scale]'") from None
    if target.address is None:
        with (
            LocalCluster(
                n_workers=target.n_workers,
                threads_per_worker=1,
                processes=not in_process,
                dashboard_address=None,
            ) as cluster,
            Client(cluster) as client,
        ):
            yield partial(_run, client)
        return
    try:
        client = Client(target.address, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError, ValueError) as error:
        raise InputError(
            f"--dask {target.address}: cannot reach a Dask scheduler ({error})"
        ) from None
    with client:
        yield partial(_run, client)


def _run(client: Any, task: ShardTask, url: str, shards: list[int]) -> Iterator[dict[str, Any]]:
    from distributed import as_completed

    futures = client.map(task, [url] * len(shards), shards, retries=RETRIES)
    for future in as_completed(futures):
        yield future.result()
        future.release()
