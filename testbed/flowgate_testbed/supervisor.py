"""The detached process behind `flowgate-testbed up`: it owns the Testbed (so it is the parent that
reaps every daemon), reports progress and readiness to `up` through a pipe, and tears everything
down on SIGTERM (`flowgate-testbed down`)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback
from pathlib import Path
from types import FrameType

from flowgate_testbed.errors import TestbedError
from flowgate_testbed.state import SUPERVISOR_PID_FILE
from flowgate_testbed.testbed import Testbed


class Stop(BaseException):
    """Raised by the signal handler to unwind start() or the idle wait."""


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    # Teardown must not be interrupted by a second signal.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    raise Stop(signum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="flowgate-testbed-supervisor")
    parser.add_argument("--dir", required=True)
    parser.add_argument("--nodes", type=int, required=True)
    parser.add_argument("--network-type", required=True)
    parser.add_argument("--no-ovs", action="store_true")
    parser.add_argument("--agents", action="store_true")
    parser.add_argument("--garbage-collector", action="store_true")
    parser.add_argument("--report-fd", type=int, required=True)
    args = parser.parse_args(argv)
    report = os.fdopen(args.report_fd, "w", buffering=1)

    def send(kind: str, text: str = "") -> None:
        try:
            report.write(f"{kind} {text}".rstrip() + "\n")
        except OSError:
            pass  # `up` went away; keep running (down still works)

    def progress(message: str) -> None:
        print(message, flush=True)
        send("progress", message)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    directory = Path(args.dir)
    pid_file = directory / SUPERVISOR_PID_FILE
    testbed: Testbed | None = None
    owner = False  # only the testbed's owner touches DIR's supervisor.pid
    try:
        testbed = Testbed(
            directory,
            nodes=args.nodes,
            network_type=args.network_type,
            ovs=not args.no_ovs,
            agents=args.agents,
            garbage_collector=args.garbage_collector,
            progress=progress,
        )
        testbed.start()
        owner = True
        pid_file.write_text(f"{os.getpid()}\n")
        send("ready", testbed.api_url)
        report.close()
        while True:
            signal.pause()
    except Stop:
        print("stopping the testbed", flush=True)
    except TestbedError as exc:
        print(exc, flush=True)
        send("error", str(exc))
        return 1
    except Exception as exc:  # an unexpected bug: say where the details are
        traceback.print_exc()
        send("error", f"the testbed failed unexpectedly ({exc}); details are in {directory / 'supervisor.log'}.")
        return 1
    finally:
        if testbed is not None:
            testbed.stop()  # a no-op when another testbed owns DIR
        if owner:
            pid_file.unlink(missing_ok=True)
        print("testbed stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
