"""Child processes the testbed owns: started with Popen (so the owner reaps them), logged to a file,
identified by pid + kernel start time (so a recycled pid is never signalled), stopped by pid."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from flowgate_testbed.errors import TestbedError


def proc_starttime(pid: int) -> int | None:
    """The process' start time in clock ticks since boot, or None if it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # the command name may contain spaces
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def same_process_alive(pid: int, starttime: int | None) -> bool:
    current = proc_starttime(pid)
    return current is not None and (starttime is None or current == starttime)


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)


def terminate_pid(pid: int, starttime: int | None, timeout: float = 10.0) -> None:
    """Stop a process that is not our child (left over by a dead owner): TERM, then KILL."""
    if not same_process_alive(pid, starttime):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    if not wait_until(lambda: not same_process_alive(pid, starttime), timeout):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        wait_until(lambda: not same_process_alive(pid, starttime), 5.0)


@dataclass
class Daemon:
    """One long-running child. `kind` tells cleanup how to stop it (ovs = via its control socket)."""

    name: str
    argv: Sequence[str]
    log: Path
    env: Mapping[str, str] | None = None
    kind: str = "process"
    ctl: str | None = None  # OVS unixctl socket, for `ovs-appctl -t <ctl> exit`
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    starttime: int | None = None

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.popen = subprocess.Popen(
                list(self.argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(self.env) if self.env is not None else None,
            )
        self.starttime = proc_starttime(self.popen.pid)

    @property
    def pid(self) -> int:
        return self.popen.pid if self.popen else 0

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def check_running(self) -> None:
        if self.popen is not None and self.popen.poll() is not None:
            raise TestbedError(
                f"{self.name} exited with code {self.popen.returncode} while starting; "
                f"its log is {self.log}: {self.log_tail()}"
            )

    def log_tail(self, lines: int = 3) -> str:
        try:
            text = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(line.strip() for line in text[-lines:]) or "(empty log)"

    def stop(self, timeout: float = 10.0) -> None:
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        self.popen = None

    def record(self) -> dict[str, object]:
        return {"name": self.name, "pid": self.pid, "starttime": self.starttime, "kind": self.kind, "ctl": self.ctl}
