"""A real load balancer in front of several gateways, standing in for the gateway's Service:
HAProxy from Debian (`hack/install-system-deps.sh` installs it), run as our own child.

As a Service does with readiness, it sends new connections only to gateways whose /readyz says
200 (checked every half second, three failures in a row to take one out, as a readiness probe's
failureThreshold; a busy gateway gets 10 s to answer), and a connection it could not open on one
gateway (one that stopped: refused) is retried on another at once. WebSockets pass through untouched, so a gateway that
stops closes its own clients' connections (1001) and they come back through here to the others.
The stats socket tells how many connections each gateway holds.

Each connection through it takes two file descriptors (the client's and the gateway's): `maxconn`
is kept within what the process may open (here, as on many hosts, 20,000), and several balancers
side by side carry more, as kube-proxy on every node does for a real Service."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from flowgate_testbed.binaries import find_tool
from flowgate_testbed.errors import TestbedError
from flowgate_testbed.testbed import free_port

CONFIG = """\
global
    maxconn {maxconn}
    stats socket {stats} mode 600 level admin

defaults
    mode http
    timeout connect 2s
    timeout client 1h
    timeout server 1h
    timeout tunnel 1h
    timeout http-request 10s
    timeout check 10s
    option redispatch 1
    retries 3

frontend gateways
    bind 127.0.0.1:{port}
    maxconn {maxconn}
    default_backend gateways

backend gateways
    balance leastconn
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 500ms fall 3 rise 2 maxconn {maxconn}
{servers}
"""


class LoadBalancer:
    """HAProxy on 127.0.0.1:`port` in front of `backends` (name, port), gateways on loopback."""

    def __init__(self, directory: Path, backends: Sequence[tuple[str, int]], *, maxconn: int = 8000) -> None:
        self.directory = directory
        self.backends = list(backends)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.stats = directory / "haproxy.sock"
        self.log = directory / "haproxy.log"
        directory.mkdir(parents=True, exist_ok=True)
        servers = "\n".join(f"    server {name} 127.0.0.1:{port} check" for name, port in self.backends)
        self.config = directory / "haproxy.cfg"
        self.config.write_text(CONFIG.format(maxconn=maxconn, stats=self.stats, port=self.port, servers=servers))
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> LoadBalancer:
        haproxy = find_tool("haproxy", "haproxy")
        checked = subprocess.run([haproxy, "-c", "-q", "-f", str(self.config)], capture_output=True, text=True)
        if checked.returncode != 0:
            raise TestbedError(f"HAProxy refused its configuration {self.config}: {checked.stderr.strip()}")
        with self.log.open("ab") as out:
            # -db: in the foreground, as our child (stopped by its PID).
            self.process = subprocess.Popen([haproxy, "-db", "-f", str(self.config)], stdout=out, stderr=out)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise TestbedError(f"HAProxy exited with {self.process.returncode}; see {self.log}")
            try:
                self.sessions()
                return self
            except OSError:
                time.sleep(0.05)
        raise TestbedError(f"HAProxy did not open its stats socket {self.stats} within {timeout:g}s; see {self.log}")

    def _command(self, command: str) -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(5)
            client.connect(str(self.stats))
            client.sendall(command.encode() + b"\n")
            chunks = []
            while data := client.recv(65536):
                chunks.append(data)
        return b"".join(chunks).decode()

    def _stat(self) -> list[dict[str, str]]:
        lines = self._command("show stat").splitlines()
        header = lines[0].lstrip("# ").split(",")
        return [dict(zip(header, line.split(","), strict=False)) for line in lines[1:] if line]

    def sessions(self) -> dict[str, int]:
        """Connections each gateway holds now (HAProxy's scur), by server name."""
        return {
            row["svname"]: int(row["scur"] or 0)
            for row in self._stat()
            if row.get("pxname") == "gateways" and row.get("svname") not in ("FRONTEND", "BACKEND")
        }

    def states(self) -> dict[str, str]:
        """Each gateway as the health checks see it: UP, DOWN, or a transition (`UP 1/2`)."""
        return {
            row["svname"]: row["status"]
            for row in self._stat()
            if row.get("pxname") == "gateways" and row.get("svname") not in ("FRONTEND", "BACKEND")
        }

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
