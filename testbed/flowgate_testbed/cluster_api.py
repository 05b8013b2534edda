"""The testbed's own synchronous Kubernetes REST client, for seeding and resetting: a handful of
calls on raw paths, standard library only (it runs from synchronous code, also inside async tests,
where flowgate's asyncio client in gateway/kube cannot), fast enough for a start under ten seconds."""

from __future__ import annotations

import http.client
import json
import ssl
import time
from typing import Any

from flowgate_testbed.errors import TestbedError

JSON = dict[str, Any]


class ClusterApiError(Exception):
    def __init__(self, status: int, body: JSON | str) -> None:
        self.status = status
        self.body = body
        message = body.get("message", "") if isinstance(body, dict) else body
        super().__init__(f"{status}: {message}")


class ClusterApi:
    def __init__(self, host: str, port: int, ca_file: str, token: str, timeout: float = 10.0) -> None:
        self.host = host
        self.port = port
        self.token = token
        self.timeout = timeout
        self._ssl = ssl.create_default_context(cafile=ca_file)

    def request(
        self,
        method: str,
        path: str,
        body: JSON | None = None,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> JSON:
        conn = http.client.HTTPSConnection(self.host, self.port, context=self._ssl, timeout=self.timeout)
        try:
            headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json", **(headers or {})}
            payload = None
            if body is not None:
                payload = json.dumps(body).encode()
                headers["Content-Type"] = content_type
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
            raw = response.read().decode()
        finally:
            conn.close()
        try:
            data: Any = json.loads(raw) if raw else {}
        except ValueError:
            data = raw
        if response.status >= 400:
            raise ClusterApiError(response.status, data)
        return data if isinstance(data, dict) else {"raw": data}

    def get(self, path: str) -> JSON:
        return self.request("GET", path)

    def create(self, path: str, body: JSON) -> JSON:
        return self.request("POST", path, body)

    def merge_patch(self, path: str, body: JSON) -> JSON:
        return self.request("PATCH", path, body, "application/merge-patch+json")

    def delete(self, path: str) -> None:
        try:
            self.request("DELETE", path)
        except ClusterApiError as exc:
            if exc.status != 404:
                raise

    def exists(self, path: str) -> bool:
        try:
            self.get(path)
        except ClusterApiError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def healthy(self) -> bool:
        """True once /readyz answers ok (which includes the RBAC bootstrap post-start hooks)."""
        try:
            conn = http.client.HTTPSConnection(self.host, self.port, context=self._ssl, timeout=2)
            try:
                conn.request("GET", "/readyz", headers={"Authorization": f"Bearer {self.token}"})
                response = conn.getresponse()
                response.read()
                return response.status == 200
            finally:
                conn.close()
        except OSError:
            return False

    def wait_gone(self, path: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self.exists(path):
            if time.monotonic() > deadline:
                raise TestbedError(f"{path} was still present after {timeout:.0f} s of waiting for its deletion.")
            time.sleep(0.05)
