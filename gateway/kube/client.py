"""A small asyncio Kubernetes REST client on aiohttp.

flowgate needs a handful of verbs on a handful of kinds, and precise control over watch streams
(bookmarks, 410 Gone, silent connections); plain JSON dicts in and out keep every caller on the
same object shapes the domain core parses."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import aiohttp

from gateway.kube.config import ClusterCredentials
from gateway.kube.resources import Resource

JSON = dict[str, Any]
MERGE_PATCH = "application/merge-patch+json"


class ApiError(Exception):
    """A non-2xx answer from the API server, with its Status reason and message."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message or reason or f"HTTP {status}")
        self.status = status
        self.reason = reason
        self.message = message or reason or f"HTTP {status}"

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409

    @property
    def forbidden(self) -> bool:
        return self.status == 403

    @property
    def unauthorized(self) -> bool:
        return self.status == 401

    @property
    def gone(self) -> bool:
        return self.status == 410

    @property
    def invalid(self) -> bool:
        return self.status == 422


class ApiUnreachable(Exception):
    """The API server could not be reached at all."""


class KubeClient:
    """One aiohttp session against one API server, as one identity."""

    def __init__(self, credentials: ClusterCredentials, *, timeout: float = 30.0) -> None:
        self.credentials = credentials
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> KubeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": "flowgate"}
        if self.credentials.token:
            headers["Authorization"] = f"Bearer {self.credentials.token}"
        return headers

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(ssl=self.credentials.ssl_context(), limit=64)
            self._session = aiohttp.ClientSession(
                base_url=self.credentials.server, connector=connector, headers=self._headers()
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float | None = None,
    ) -> JSON:
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": content_type} if data is not None else {}
        try:
            async with self.session.request(
                method,
                path,
                params=params,
                data=data,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=timeout or self._timeout),
            ) as resp:
                text = await resp.text()
                if resp.status >= 300:
                    raise _api_error(resp.status, text)
                result: JSON = json.loads(text) if text else {}
                return result
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as exc:
            # ClientPayloadError: the answer was cut off midway (the API server went away).
            raise ApiUnreachable(f"the API server at {self.credentials.server} is not reachable: {exc}") from exc

    # -- verbs -----------------------------------------------------------------------------

    async def get(self, resource: Resource, name: str, namespace: str | None = None) -> JSON:
        return await self.request("GET", resource.path(name, namespace))

    async def get_or_none(self, resource: Resource, name: str, namespace: str | None = None) -> JSON | None:
        try:
            return await self.get(resource, name, namespace)
        except ApiError as exc:
            if exc.not_found:
                return None
            raise

    async def list(self, resource: Resource, **params: str) -> JSON:
        return await self.request("GET", resource.path(), params=params)

    async def create(self, resource: Resource, obj: JSON, namespace: str | None = None) -> JSON:
        return await self.request("POST", resource.path(namespace=namespace), body=obj)

    async def replace(self, resource: Resource, obj: JSON, subresource: str | None = None) -> JSON:
        meta = obj.get("metadata") or {}
        path = resource.path(meta.get("name"), meta.get("namespace"), subresource)
        return await self.request("PUT", path, body=obj)

    async def merge_patch(
        self,
        resource: Resource,
        name: str,
        patch: JSON,
        namespace: str | None = None,
        subresource: str | None = None,
    ) -> JSON:
        return await self.request(
            "PATCH", resource.path(name, namespace, subresource), body=patch, content_type=MERGE_PATCH
        )

    async def delete(self, resource: Resource, name: str, namespace: str | None = None) -> JSON:
        return await self.request("DELETE", resource.path(name, namespace))

    async def watch(
        self,
        resource: Resource,
        resource_version: str,
        *,
        timeout_seconds: int = 300,
        on_open: Callable[[], None] | None = None,
        **params: str,
    ) -> AsyncIterator[JSON]:
        """Yield watch events ({type, object}) from resource_version on, bookmarks included.
        Ends when the server closes the stream; raises ApiError(410) when the version is too old.
        on_open is called once the server has accepted the watch."""
        query = {
            "watch": "1",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(timeout_seconds),
            **params,
        }
        try:
            async with self.session.get(
                resource.path(),
                params=query,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=None),
            ) as resp:
                if resp.status >= 300:
                    raise _api_error(resp.status, await resp.text())
                if on_open is not None:
                    on_open()
                async for line in resp.content:
                    if not line.strip():
                        continue
                    event: JSON = json.loads(line)
                    if event.get("type") == "ERROR":
                        status = event.get("object") or {}
                        raise ApiError(
                            int(status.get("code") or 500), status.get("reason", ""), status.get("message", "")
                        )
                    yield event
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as exc:
            raise ApiUnreachable(f"watch of {resource} at {self.credentials.server} broke: {exc}") from exc

    async def subject_access_review(
        self, user_token: str, verb: str, resource: Resource, name: str | None = None
    ) -> tuple[bool, str | None]:
        """Ask the API server whether the holder of user_token may do verb on resource.
        Returns (allowed, username); (False, None) when the token is not valid."""
        review = await self.request(
            "POST",
            "/apis/authentication.k8s.io/v1/tokenreviews",
            body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": user_token}},
        )
        status = review.get("status") or {}
        if not status.get("authenticated"):
            return False, None
        user = status.get("user") or {}
        attributes: JSON = {"verb": verb, "group": resource.group, "resource": resource.plural}
        if name:
            attributes["name"] = name
        sar = await self.request(
            "POST",
            "/apis/authorization.k8s.io/v1/subjectaccessreviews",
            body={
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SubjectAccessReview",
                "spec": {
                    "user": user.get("username"),
                    "uid": user.get("uid"),
                    "groups": user.get("groups") or [],
                    "extra": user.get("extra") or {},
                    "resourceAttributes": attributes,
                },
            },
        )
        return bool((sar.get("status") or {}).get("allowed")), user.get("username")


def _api_error(status: int, text: str) -> ApiError:
    try:
        body = json.loads(text)
    except ValueError:
        return ApiError(status, "", text.strip())
    if not isinstance(body, dict):
        return ApiError(status, "", text.strip())
    return ApiError(status, str(body.get("reason") or ""), str(body.get("message") or ""))
