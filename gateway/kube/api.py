"""The Kubernetes REST calls flowgate makes, on kubernetes_asyncio's ApiClient.

The library supplies the connection, TLS and the caller's credentials (refreshed per request);
objects stay the plain JSON dicts the API speaks, so every caller and the domain core see the
same shapes. Answers are read here rather than through the generated models: flowgate works on
its own custom resources, and a watch must be read line by line (see gateway/watch/)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import aiohttp
from kubernetes_asyncio.client import ApiClient

from gateway.kube.config import ClusterAccess
from gateway.kube.resources import Resource

JSON = dict[str, Any]
MERGE_PATCH = "application/merge-patch+json"
# In the user info of a service-account token bound to a pod: the node that pod is scheduled on.
NODE_NAME_EXTRA = "authentication.kubernetes.io/node-name"


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
    """The API server could not be reached, or went away mid-answer."""


def api_error(status: int, text: str) -> ApiError:
    """An error answer's Status body (or its text) as an ApiError."""
    try:
        body = json.loads(text)
    except ValueError:
        return ApiError(status, "", text.strip())
    if not isinstance(body, dict):
        return ApiError(status, "", text.strip())
    return ApiError(status, str(body.get("reason") or ""), str(body.get("message") or ""))


class KubeApi:
    """One cluster, one identity. Cheap to create; close it (or use `async with`) when done."""

    def __init__(self, access: ClusterAccess, *, timeout: float = 30.0) -> None:
        self.access = access
        self.timeout = timeout
        self._client: ApiClient | None = None

    async def __aenter__(self) -> KubeApi:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def server(self) -> str:
        return self.access.server

    def _api_client(self) -> ApiClient:
        # Created on first use, inside the running event loop that its aiohttp session belongs to.
        if self._client is None:
            self._client = ApiClient(self.access.configuration)
            self._client.user_agent = "flowgate"
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float | aiohttp.ClientTimeout | None = None,
    ) -> aiohttp.ClientResponse:
        try:
            response: aiohttp.ClientResponse = await self._api_client().call_api(
                path,
                method,
                query_params=list((params or {}).items()),
                header_params={"Accept": "application/json", "Content-Type": content_type},
                body=body,
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=timeout if timeout is not None else self.timeout,
            )
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise ApiUnreachable(f"the API server at {self.server} is not reachable: {_reason(exc)}") from exc
        return response

    async def _answer(self, response: aiohttp.ClientResponse) -> str:
        """The whole answer's text; an error status as ApiError."""
        try:
            text = await response.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            # ClientPayloadError: the answer was cut off midway (the API server went away).
            raise ApiUnreachable(f"the API server at {self.server} went away mid-answer: {_reason(exc)}") from exc
        finally:
            response.release()
        if response.status >= 300:
            raise api_error(response.status, text)
        return text

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
        response = await self._send(method, path, params=params, body=body, content_type=content_type, timeout=timeout)
        text = await self._answer(response)
        result: JSON = json.loads(text) if text else {}
        return result

    async def text(self, path: str) -> str:
        """A non-JSON GET (the API server's /metrics, say)."""
        return await self._answer(await self._send("GET", path))

    # -- verbs -------------------------------------------------------------------------------

    async def get(self, resource: Resource, name: str, namespace: str | None = None) -> JSON:
        return await self.request("GET", resource.path(name, namespace))

    async def get_or_none(self, resource: Resource, name: str, namespace: str | None = None) -> JSON | None:
        try:
            return await self.get(resource, name, namespace)
        except ApiError as exc:
            if exc.not_found:
                return None
            raise

    async def list(self, resource: Resource, namespace: str | None = None, **params: str) -> JSON:
        return await self.request("GET", resource.path(namespace=namespace), params=params)

    async def create(self, resource: Resource, obj: JSON, namespace: str | None = None) -> JSON:
        return await self.request("POST", resource.path(namespace=namespace), body=obj)

    async def replace(self, resource: Resource, obj: JSON, subresource: str | None = None) -> JSON:
        meta = obj.get("metadata") or {}
        return await self.request("PUT", resource.path(meta.get("name"), meta.get("namespace"), subresource), body=obj)

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
        namespace: str | None = None,
        timeout_seconds: int = 300,
        on_open: Callable[[], None] | None = None,
        **params: str,
    ) -> AsyncIterator[JSON]:
        """Watch events ({type, object}, bookmarks included) from resource_version on. Ends when
        the server closes the stream; an ERROR event (410 Gone above all) is raised as ApiError.
        on_open is called once the server has accepted the watch."""
        query = {
            "watch": "1",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(timeout_seconds),
            **params,
        }
        # No total or read timeout: a watch is quiet for as long as nothing changes (the
        # reflector's watchdog notices a stream that is silent for too long).
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=None)
        response = await self._send("GET", resource.path(namespace=namespace), params=query, timeout=timeout)
        try:
            if response.status >= 300:
                raise api_error(response.status, await response.text())
            if on_open is not None:
                on_open()
            async for line in response.content:
                if not line.strip():
                    continue
                event: JSON = json.loads(line)
                if event.get("type") == "ERROR":
                    status = event.get("object") or {}
                    raise ApiError(int(status.get("code") or 500), status.get("reason", ""), status.get("message", ""))
                yield event
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ApiUnreachable(f"the watch of {resource} at {self.server} broke: {_reason(exc)}") from exc
        finally:
            response.release()

    # -- who is calling ------------------------------------------------------------------------

    async def review_token(self, token: str) -> JSON | None:
        """TokenReview: the user behind `token` ({username, uid, groups, extra}), or None when the
        API server does not accept it."""
        review = await self.request(
            "POST",
            "/apis/authentication.k8s.io/v1/tokenreviews",
            body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}},
        )
        status = review.get("status") or {}
        if not status.get("authenticated"):
            return None
        user: JSON = status.get("user") or {}
        return user

    async def may(self, user: JSON, verb: str, resource: Resource, name: str | None = None) -> bool:
        """SubjectAccessReview: may this user (as TokenReview described them) do `verb`?"""
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
                    "resourceAttributes": _attributes(verb, resource, name),
                },
            },
        )
        return bool((sar.get("status") or {}).get("allowed"))

    async def i_may(self, verb: str, resource: Resource, name: str | None = None) -> bool:
        """SelfSubjectAccessReview: may this client's own identity do `verb`?"""
        sar = await self.request(
            "POST",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            body={
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": _attributes(verb, resource, name)},
            },
        )
        return bool((sar.get("status") or {}).get("allowed"))

    async def whoami(self) -> JSON:
        """SelfSubjectReview: this client's own identity as the API server sees it."""
        review = await self.request(
            "POST",
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
        )
        info: JSON = (review.get("status") or {}).get("userInfo") or {}
        return info


def _attributes(verb: str, resource: Resource, name: str | None) -> JSON:
    attributes: JSON = {"verb": verb, "group": resource.group, "resource": resource.plural}
    if name:
        attributes["name"] = name
    return attributes


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
