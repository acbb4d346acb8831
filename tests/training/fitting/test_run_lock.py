"""training.fitting.run_lock: a live holder keeps other trainers out, one that is gone does not."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from datagen.common.errors import InputError
from training.fitting.run_lock import LOCK_NAME, RunLock, refuse_if_in_use

REPO = Path(__file__).resolve().parents[3]

#: A process that takes the lock of RUN_DIR argv[1], forks a child that outlives it, prints
#: the child's pid and waits to be killed.
HOLD_AND_FORK = """
import os, sys, time
from pathlib import Path
from training.fitting.run_lock import RunLock
RunLock.take(Path(sys.argv[1]))
child = os.fork()
if child == 0:
    time.sleep(60)
    os._exit(0)
print(child, flush=True)
time.sleep(60)
"""


def _reaped_pid() -> int:
    """The pid of a process that has ended."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_a_held_lock_refuses_the_next_taker_naming_the_holder(tmp_path):
    out = tmp_path / "run"
    with RunLock.take(out):
        for attempt in (lambda: RunLock.take(out), lambda: refuse_if_in_use(out)):
            with pytest.raises(InputError) as refused:
                attempt()
            message = str(refused.value)
            host = socket.gethostname()
            assert message.startswith(f"--out {out} is in use by fgd train (pid {os.getpid()} ")
            assert f"on host {host}, since " in message
            since = datetime.fromisoformat(message.split("since ")[1].split(")")[0])
            assert abs(datetime.now().astimezone() - since) < timedelta(minutes=1)
    refuse_if_in_use(out)  # released: nobody holds it
    assert not out.exists()  # nor its lock file, nor the folder it made


def test_a_lock_left_by_a_process_that_is_gone_is_taken_over_with_a_note(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    dead = _reaped_pid()
    left = {"pid": dead, "host": "elsewhere", "since": "2020-01-02T03:04:05+00:00"}
    (out / LOCK_NAME).write_text(json.dumps(left))
    refuse_if_in_use(out)  # a record without a live holder keeps nobody out
    lock = RunLock.take(out)
    err = capsys.readouterr().err
    assert err == (
        f"fgd train: --out {out}: fgd train (pid {dead} on host elsewhere, since "
        "2020-01-02T03:04:05+00:00) is gone without releasing the run's lock; taking it over\n"
    )
    assert json.loads((out / LOCK_NAME).read_text())["pid"] == os.getpid()
    lock.release()
    assert not (out / LOCK_NAME).exists() and out.is_dir()  # a folder it did not create stays


def test_the_lock_dies_with_its_process_not_with_the_children_it_forked(tmp_path, capsys):
    """A loader worker forked by a trainer that is then killed does not keep the run locked."""
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    holder = subprocess.Popen([sys.executable, "-c", HOLD_AND_FORK, str(out)], env=env,
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    child = int(holder.stdout.readline())
    try:
        with pytest.raises(InputError, match=f"pid {holder.pid} "):
            refuse_if_in_use(out)
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        os.kill(child, 0)  # the child lives on
        with RunLock.take(out):
            assert f"(pid {holder.pid} on host" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)


def test_release_removes_the_folders_take_made_unless_the_run_wrote_in_them(tmp_path):
    with RunLock.take(tmp_path / "a" / "b" / "run"):
        pass
    assert list(tmp_path.iterdir()) == []
    out = tmp_path / "a" / "run"
    with RunLock.take(out):
        (out / "config.yaml").write_text("{}\n")
    assert [p.name for p in out.iterdir()] == ["config.yaml"]
