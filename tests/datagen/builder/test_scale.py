"""Scale-out: stores at fsspec URLs, and builds on a real Dask cluster on 127.0.0.1.

The cluster tests run this environment's ``dask scheduler`` and ``dask worker`` programs as
subprocesses (no mocks), SIGKILL a worker or the build's client, and compare the result with a
local build of the same config, shard object by shard object.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from click.testing import CliRunner

from cli import fgd
from datagen.builder import cluster
from datagen.builder.build import build_store
from datagen.common.errors import InputError
from datagen.store import schema
from datagen.store.audit import info, verify
from datagen.store.reader import open_store
from datagen.store.storage import storage_at
from tests.datagen.conftest import tiny_config
from tests.datagen.test_bad_input import assert_one_line_error

ROOT = Path(__file__).resolve().parents[3]
#: The cluster tests' plan: 256 samples at 96 px in 8 shards, each long enough (~0.2 s) to
#: kill a worker in the middle of it.
PLAN = {"size": 96, "n_bg": 4, "n_fg": 4, "positions": 8, "chunk_size": 16, "shard_size": 32}
N_SHARDS = 8
#: The plan of the session's `tiny_store` (tests/datagen/conftest.py), for everything else.
TINY = {key: getattr(tiny_config(Path("unused")), key) for key in PLAN}


def plan_args(out: str | Path, *extra: str, plan: dict[str, int] = TINY) -> list[str]:
    """`fgd datagen build` arguments of `plan` into `out`."""
    options = [f"--{key.replace('_', '-')}={value}" for key, value in plan.items()]
    return ["datagen", "build", "--out", str(out), "--quiet", *options, *extra]


def plan_command(out: str | Path, *extra: str) -> list[str]:
    """The cluster tests' build (PLAN) as a command line of its own (`python -m cli ...`)."""
    return [sys.executable, "-m", "cli", *plan_args(out, *extra, plan=PLAN)]


def assert_same_store(location: str | Path, reference: Path) -> None:
    """Every shard object of the per-sample arrays equals the reference's byte for byte, and
    so does every asset array."""
    storage = storage_at(location)
    group = storage.open_group(mode="r")
    for name in schema.SAMPLE_ARRAYS:
        for shard in range(group.attrs["n_shards"]):
            key = f"{name}/{schema.shard_key(group[name], shard)}"
            assert storage.read_bytes(key) == (reference / key).read_bytes(), key
    local = zarr.open_group(str(reference), mode="r")
    for name in schema.ASSET_ARRAYS:
        np.testing.assert_array_equal(group[name][...], local[name][...], err_msg=name)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """PLAN built locally in this process: what every other build must equal."""
    out = tmp_path_factory.mktemp("reference") / "local.zarr"
    build_store(tiny_config(out, **PLAN), progress=False)
    return out


# --- URLs ---------------------------------------------------------------------------------------


def test_memory_store_round_trip_through_the_cli(tiny_store: Path) -> None:
    url = "memory://fgd-test/round-trip.zarr"
    runner = CliRunner()
    result = runner.invoke(fgd, plan_args(url, "--workers", "1"))
    assert result.exit_code == 0, result.output
    assert_same_store(url, tiny_store)
    ds = open_store(url)
    assert len(ds) == len(open_store(tiny_store))
    assert ds[7]["fgbg"].shape == (TINY["size"], TINY["size"], 3)
    verified = runner.invoke(fgd, ["datagen", "verify", url])
    assert verified.exit_code == 0, verified.output
    assert info(url)["bytes_on_disk"] > 0
    assert not storage_at(url).keys("_build")  # markers gone once complete
    storage_at(url).remove()


def test_memory_store_on_a_threaded_local_cluster(tiny_store: Path) -> None:
    pytest.importorskip("distributed")
    url = "memory://fgd-test/threads.zarr"
    build_store(tiny_config(url), progress=False, dask="local:2")
    assert_same_store(url, tiny_store)
    assert verify(url, progress=False) == []
    storage_at(url).remove()


def test_file_url_is_the_local_path(tmp_path: Path, tiny_store: Path) -> None:
    url = f"file://{tmp_path}/s.zarr"
    result = CliRunner().invoke(fgd, plan_args(url, "--workers", "1"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "s.zarr" / "zarr.json").is_file()
    assert_same_store(tmp_path / "s.zarr", tiny_store)
    assert verify(url, progress=False) == []
    assert info(url)["bytes_on_disk"] == info(str(tmp_path / "s.zarr"))["bytes_on_disk"]


def test_memory_store_refuses_worker_processes() -> None:
    url = "memory://fgd-test/refused.zarr"
    result = CliRunner().invoke(fgd, plan_args(url, "--workers", "2"))
    assert_one_line_error(result.exit_code, result.output, "memory://", "--workers 1")
    with pytest.raises(InputError, match="local:N"):
        build_store(tiny_config(url), dask="tcp://127.0.0.1:9")
    assert not storage_at(url).occupied()


@pytest.mark.parametrize(
    ("dask", "needle"),
    [("local:0", "local:N needs N"), ("local:two", "local:N needs N"), ("", "scheduler address")],
)
def test_bad_dask_option_is_one_line_and_writes_nothing(
    tmp_path: Path, dask: str, needle: str
) -> None:
    result = CliRunner().invoke(fgd, plan_args(tmp_path / "s.zarr", "--dask", dask))
    assert_one_line_error(result.exit_code, result.output, "--dask", needle)
    assert not (tmp_path / "s.zarr").exists()


def test_unreachable_scheduler_is_one_line_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", 1)
    address = f"tcp://127.0.0.1:{_free_port()}"
    result = CliRunner().invoke(fgd, plan_args(tmp_path / "s.zarr", "--dask", address))
    assert_one_line_error(result.exit_code, result.output, address, "cannot reach")
    assert not (tmp_path / "s.zarr").exists()


def test_unknown_protocol_is_one_line() -> None:
    result = CliRunner().invoke(fgd, ["datagen", "verify", "nosuchprotocol://x/s.zarr"])
    assert_one_line_error(result.exit_code, result.output, "nosuchprotocol://", "cannot open")


def test_a_plain_build_never_imports_dask() -> None:
    script = (
        "import sys\n"
        "from datagen.builder.build import build_store\n"
        "from tests.datagen.conftest import tiny_config\n"
        "build_store(tiny_config('memory://x/s.zarr'), progress=False)\n"
        "assert not {'dask', 'distributed'} & set(sys.modules), 'dask was imported'\n"
    )
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True, timeout=120)


def test_s3_store_on_a_local_s3_server(tiny_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An S3-compatible server (moto) on 127.0.0.1; credentials come from the environment."""
    pytest.importorskip("moto.server")
    s3fs = pytest.importorskip("s3fs")
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port)
        for name in [name for name in os.environ if name.startswith("AWS_")]:
            monkeypatch.delenv(name)  # nothing of a real AWS account takes part
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no request off this machine
        for name in ("AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"):  # nor ~/.aws
            monkeypatch.setenv(name, str(tiny_store / "none"))
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "fgd-test")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fgd-test")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
        s3fs.S3FileSystem.clear_instance_cache()
        s3fs.S3FileSystem().mkdir("fgd")
        url = "s3://fgd/stores/s.zarr"
        summary = build_store(tiny_config(url), progress=False)
        assert summary.shards_built == summary.n_shards > 1
        assert_same_store(url, tiny_store)
        assert verify(url, progress=False) == []
        assert len(open_store(url)) == len(open_store(tiny_store))
        # Samples read back by byte ranges of the shard objects (GETs with a Range header).
        remote, local = open_store(url).read_range(0, 20), open_store(tiny_store).read_range(0, 20)
        for key, value in local.items():
            np.testing.assert_array_equal(remote[key], value, err_msg=key)
        assert build_store(tiny_config(url), progress=False).shards_built == 0
        with pytest.raises(InputError, match=r"--out s3://no-such-bucket/s\.zarr: cannot write"):
            build_store(tiny_config("s3://no-such-bucket/s.zarr"), progress=False)
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            monkeypatch.delenv(name)
        s3fs.S3FileSystem.clear_instance_cache()
        result = CliRunner().invoke(fgd, ["datagen", "verify", url])
        assert_one_line_error(result.exit_code, result.output, url, "credentials")
    finally:
        server.terminate()
        server.wait(timeout=30)
        s3fs.S3FileSystem.clear_instance_cache()


# --- a real Dask cluster --------------------------------------------------------------------------


class Cluster:
    """A ``dask scheduler`` and its ``dask worker`` processes (1 thread, no nanny) on 127.0.0.1,
    all children of this test session."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.dask = Path(sys.executable).with_name("dask")
        paths = [str(ROOT), os.environ.get("PYTHONPATH", "")]
        self.env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
        self.scheduler_file = folder / "scheduler.json"
        self.where = ["--host", "127.0.0.1", "--no-dashboard",
                      "--scheduler-file", str(self.scheduler_file)]  # fmt: skip
        self.scheduler = self._start("scheduler", "scheduler", "--port", "0")
        self.workers: dict[str, subprocess.Popen[bytes]] = {}  # worker address -> its process
        self._starting: list[subprocess.Popen[bytes]] = []
        self.client: Any = None

    def connect(self) -> None:
        """Wait for the scheduler and connect a client to it (`self.client`, `self.address`)."""
        deadline = time.monotonic() + 120
        while not self.scheduler_file.exists():
            assert time.monotonic() < deadline and self.scheduler.poll() is None, "no scheduler"
            time.sleep(0.05)
        from distributed import Client

        self.client = Client(scheduler_file=str(self.scheduler_file), timeout=60)
        self.address: str = self.client.scheduler.address

    def add_workers(self, n: int) -> None:
        """Start `n` more workers and wait until the scheduler has them all."""
        options = ["--nworkers", "1", "--nthreads", "1", "--no-nanny", "--death-timeout", "60",
                   "--local-directory", str(self.folder / "scratch")]  # fmt: skip
        first = len(self.workers)
        self._starting = [self._start(f"worker-{first + i}", "worker", *options) for i in range(n)]
        self.client.wait_for_workers(len(self.workers) + n, timeout=120)
        by_pid = {process.pid: process for process in self._starting}
        for worker, pid in self.client.run(os.getpid).items():
            if pid in by_pid:
                self.workers[worker] = by_pid[pid]
        self._starting = []

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        _stop([*self.workers.values(), *self._starting])  # workers first: see _stop
        _stop([self.scheduler])

    def _start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        with open(self.folder / f"{name}.log", "wb") as log:
            command = [str(self.dask), *args, *self.where]
            return subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=log)


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    """Terminate, then kill what did not stop (a worker whose scheduler went first can hang)."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _executing(dask_worker) -> int:  # runs on a worker via Client.run
    return len(dask_worker.state.executing)


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A scheduler with 2 workers; a test that kills one adds one first."""
    pytest.importorskip("distributed")
    if not Path(sys.executable).with_name("dask").exists():
        pytest.skip("no dask program next to this Python")
    running = Cluster(tmp_path_factory.mktemp("dask"))
    try:
        running.connect()
        running.add_workers(2)
        yield running
    finally:
        running.close()


def test_cluster_build_equals_the_local_build(
    tmp_path: Path, dask_cluster: Cluster, reference: Path
) -> None:
    out = tmp_path / "cluster.zarr"
    summary = build_store(tiny_config(out, **PLAN), progress=False, dask=dask_cluster.address)
    assert summary.shards_built == N_SHARDS
    assert_same_store(out, reference)
    assert verify(str(out), progress=False) == []
    assert not (out / "_build").exists()


def test_a_killed_client_resumes(tmp_path: Path, dask_cluster: Cluster, reference: Path) -> None:
    out = tmp_path / "resumed.zarr"
    args = plan_command(out, "--dask", dask_cluster.address)
    client = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list((out / "_build").glob("shard-*.json")) and time.monotonic() < deadline:
        if client.poll() is not None:
            break
        time.sleep(0.005)
    client.kill()
    client.wait()
    assert client.returncode == -9, "the build finished before its client could be killed"
    with pytest.raises(InputError, match="unfinished build"):
        open_store(out)

    rerun = build_store(tiny_config(out, **PLAN), progress=False, dask=dask_cluster.address)
    assert rerun.shards_built < N_SHARDS  # the shards finished before the kill were kept
    assert_same_store(out, reference)
    assert verify(str(out), progress=False) == []


def test_a_worker_killed_mid_task_costs_a_retry(
    tmp_path: Path, dask_cluster: Cluster, reference: Path
) -> None:
    dask_cluster.add_workers(1)  # the one to lose: the cluster keeps 2 for other tests
    out = tmp_path / "killed.zarr"
    config = tiny_config(out, **PLAN)
    with ThreadPoolExecutor(1) as pool:  # the build's client runs beside this test's monitor
        build = pool.submit(build_store, config, progress=False, dask=dask_cluster.address)
        victim = None
        deadline = time.monotonic() + 120
        while victim is None and not build.done() and time.monotonic() < deadline:
            busy = dask_cluster.client.run(_executing)
            victim = next((worker for worker, running in busy.items() if running), None)
        assert victim is not None, "the build finished before a worker was seen running a task"
        process = dask_cluster.workers.pop(victim)
        process.kill()  # SIGKILL, in the middle of its task
        process.wait()
        assert build.result(timeout=300).shards_built == N_SHARDS
    assert victim not in dask_cluster.client.scheduler_info()["workers"]
    assert_same_store(out, reference)
    assert verify(str(out), progress=False) == []


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            assert time.monotonic() < deadline, f"nothing listens on 127.0.0.1:{port}"
            time.sleep(0.05)
