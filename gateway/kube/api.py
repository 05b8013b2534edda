"""The Kubernetes REST calls flowgate makes, on kubernetes_asyncio's ApiClient (the gateway, the
CLI) or on plain HTTP/1.1 streams (the node agent, gateway/kube/http.py).

The library supplies the connection, TLS and the caller's credentials (refreshed per request);
objects stay the plain JSON dicts the API speaks, so every caller and the domain core see the
same shapes. Answers are read here rather than through the generated models: flowgate works on
its own custom resources, and a watch must be read line by line (see gateway/watch/)."""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Protocol
from urllib.parse import urlencode

import aiohttp  # a stand-in until first used (gateway/kube/library.py): the agent never loads it

from gateway.kube.clock import ServerClock
from gateway.kube.config import ClusterAccess
from gateway.kube.http import Answer, HttpClient, HttpError
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


class Exchange(Protocol):
    """One answer of the API server, its body still to be read: whole, or line by line."""

    status: int

    @property
    def headers(self) -> Mapping[str, str]:
        """The answer's headers; a name in lower case finds its header."""

    async def text(self) -> str: ...

    def lines(self) -> AsyncIterator[bytes]: ...

    def release(self) -> None: ...


class Transport(Protocol):
    async def send(self, method: str, target: str, headers: dict[str, str], body: Any, stream: bool) -> Exchange:
        """`body`: the JSON value to send, or None."""

    async def close(self) -> None: ...


class LibraryTransport:
    """kubernetes_asyncio's ApiClient on aiohttp: proxies (the kubeconfig's proxy-url, HTTPS_PROXY)
    included. Its failures come out as HttpError, as the stream transport's do."""

    def __init__(self, access: ClusterAccess) -> None:
        self.access = access
        self._client: Any = None

    async def send(
        self, method: str, target: str, headers: dict[str, str], body: bytes | None, stream: bool
    ) -> Exchange:
        from kubernetes_asyncio.client.api_client import ApiClient

        if self._client is None:  # made in the running event loop its aiohttp session belongs to
            self._client = ApiClient(self.access.configuration)
            self._client.user_agent = "flowgate"
        path, _, query = target.partition("?")
        # No total or read timeout on a watch: it is quiet for as long as nothing changes (the
        # reflector's watchdog notices a stream that is silent for too long). Others are bounded
        # by the caller.
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=None)
        try:
            response: aiohttp.ClientResponse = await self._client.call_api(
                path + ("?" + query if query else ""),
                method,
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=timeout,
            )
        except (aiohttp.ClientError, OSError) as exc:
            raise HttpError(_reason(exc)) from exc
        return _LibraryAnswer(response)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


class _LibraryAnswer:
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.status = response.status
        self.headers: Mapping[str, str] = response.headers  # case-insensitive

    async def text(self) -> str:
        try:
            return await self.response.text()
        except aiohttp.ClientError as exc:
            # ClientPayloadError: the answer was cut off midway (the API server went away).
            raise HttpError(_reason(exc)) from exc

    async def lines(self) -> AsyncIterator[bytes]:
        try:
            async for line in self.response.content:
                yield line
        except aiohttp.ClientError as exc:
            raise HttpError(_reason(exc)) from exc

    def release(self) -> None:
        self.response.release()


class StreamTransport:
    """HTTP/1.1 on asyncio streams with the same TLS and credentials as the library would use:
    the cluster's CA, a client certificate, the bearer token refreshed per request."""

    def __init__(self, access: ClusterAccess) -> None:
        self.access = access
        configuration = access.configuration
        context: ssl.SSLContext | None = None
        if str(configuration.host).startswith("https:"):
            # As kubernetes_asyncio's RESTClientObject builds its context.
            context = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
            if configuration.cert_file:
                context.load_cert_chain(configuration.cert_file, keyfile=configuration.key_file)
            if not configuration.verify_ssl:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            if configuration.disable_strict_ssl_verification:
                context.verify_flags &= ~ssl.VERIFY_X509_STRICT
        self.http = HttpClient(
            str(configuration.host), ssl_context=context, server_hostname=configuration.tls_server_name
        )

    async def send(self, method: str, target: str, headers: dict[str, str], body: Any, stream: bool) -> Answer:
        data = None if body is None else json.dumps(body).encode()
        token = await self.access.configuration.get_api_key_with_prefix("BearerToken")
        if token:
            headers = {**headers, "Authorization": str(token)}
        return await self.http.request(method, target, headers={"User-Agent": "flowgate", **headers}, body=data)

    async def close(self) -> None:
        await self.http.close()


class KubeApi:
    """One cluster, one identity. Cheap to create; close it (or use `async with`) when done.
    `streams`: speak plain HTTP/1.1 on asyncio streams rather than through kubernetes_asyncio's
    aiohttp client (the node agent, whose memory is paid on every node), unless the kubeconfig
    names a proxy, which only the library speaks."""

    def __init__(self, access: ClusterAccess, *, timeout: float = 30.0, streams: bool = False) -> None:
        self.access = access
        self.timeout = timeout
        self._transport: Transport = (
            StreamTransport(access) if streams and not access.configuration.proxy else LibraryTransport(access)
        )
        self.clock = ServerClock()  # the API server's time, learnt from its answers' Date headers

    async def __aenter__(self) -> KubeApi:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def server(self) -> str:
        return self.access.server

    async def close(self) -> None:
        await self._transport.close()

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        stream: bool = False,
    ) -> Exchange:
        target = path + ("?" + urlencode(list(params.items())) if params else "")
        headers = {"Accept": "application/json", "Content-Type": content_type}
        sent = time.time()
        try:
            exchange = await self._transport.send(method, target, headers, body, stream)
        except (HttpError, OSError) as exc:
            raise ApiUnreachable(f"the API server at {self.server} is not reachable: {_reason(exc)}") from exc
        self.clock.observe(sent, time.time(), exchange.headers.get("date"))
        return exchange

    def server_time(self) -> float:
        """The API server's clock now (seconds since the epoch), as its answers tell it."""
        return self.clock.now()

    async def _answer(self, exchange: Exchange) -> str:
        """The whole answer's text; an error status as ApiError."""
        try:
            text = await exchange.text()
        except HttpError as exc:
            raise ApiUnreachable(f"the API server at {self.server} went away mid-answer: {_reason(exc)}") from exc
        finally:
            exchange.release()
        if exchange.status >= 300:
            raise api_error(exchange.status, text)
        return text

    async def _exchange_text(self, method: str, path: str, timeout: float | None, **send: Any) -> str:
        try:
            async with asyncio.timeout(timeout if timeout is not None else self.timeout):
                return await self._answer(await self._send(method, path, **send))
        except TimeoutError:
            seconds = timeout if timeout is not None else self.timeout
            raise ApiUnreachable(
                f"the API server at {self.server} is not reachable: no answer within {seconds:g} s"
            ) from None

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
        text = await self._exchange_text(method, path, timeout, params=params, body=body, content_type=content_type)
        result: JSON = json.loads(text) if text else {}
        return result

    async def text(self, path: str) -> str:
        """A non-JSON GET (the API server's /metrics, say)."""
        return await self._exchange_text("GET", path, None)

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
        try:
            async with asyncio.timeout(self.timeout):  # until the watch is accepted; then no bound
                exchange = await self._send("GET", resource.path(namespace=namespace), params=query, stream=True)
        except TimeoutError:
            raise ApiUnreachable(
                f"the API server at {self.server} is not reachable: no answer within {self.timeout:g} s"
            ) from None
        try:
            if exchange.status >= 300:
                raise api_error(exchange.status, await exchange.text())
            if on_open is not None:
                on_open()
            async for line in exchange.lines():
                if not line.strip():
                    continue
                event: JSON = json.loads(line)
                if event.get("type") == "ERROR":
                    status = event.get("object") or {}
                    raise ApiError(int(status.get("code") or 500), status.get("reason", ""), status.get("message", ""))
                yield event
        except HttpError as exc:
            raise ApiUnreachable(f"the watch of {resource} at {self.server} broke: {_reason(exc)}") from exc
        finally:
            exchange.release()

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
