"""HTTP/1.1 over asyncio streams: how the node agent talks to the API server and reads its
collector's metrics page, without aiohttp.

An agent runs on every node, so whatever it holds in memory is paid once per node. aiohttp and
what it imports (yarl, multidict, the email and cookie modules, its C parsers) were about 14 MB of
a 45 MB idle agent, for a handful of requests a minute and at most four watches: plain keep-alive
connections serve those. The gateway and the CLI keep kubernetes_asyncio's aiohttp client, which
also honours proxy settings; an agent whose kubeconfig names a proxy uses it too
(gateway/kube/api.py chooses)."""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import AsyncIterator, Mapping
from urllib.parse import urlsplit

HEADER_LIMIT = 64 * 1024  # one header line; a body is read by its length or chunks, whatever its size
LINE_LIMIT = 16 * 1024 * 1024  # one watch event (etcd's default limit for an object is 1.5 MiB)
IDLE_CONNECTIONS = 4


class HttpError(Exception):
    """The exchange failed below HTTP: no connection, or the peer went away mid-answer. The
    message is a phrase saying why."""


class Answer:
    """One response: status and headers read, the body still on the connection. Read it whole
    (`read`) or line by line as it arrives (`lines`), then `release` it: a connection whose body
    was read to its end goes back to the client for the next request."""

    def __init__(
        self,
        client: HttpClient,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        status: int,
        headers: dict[str, str],
        has_body: bool,
    ) -> None:
        self._client = client
        self._reader = reader
        self._writer: asyncio.StreamWriter | None = writer
        self.status = status
        self.headers = headers
        self._chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        length = headers.get("content-length")
        self._left: int | None = int(length) if length is not None and not self._chunked else None
        self._done = not has_body or self._left == 0
        self._reusable = headers.get("connection", "").lower() != "close" and (self._chunked or self._left is not None)

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives."""
        try:
            while not self._done:
                if self._chunked:
                    size_line = await self._reader.readuntil(b"\r\n")
                    size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                    if size == 0:
                        while await self._reader.readuntil(b"\r\n") != b"\r\n":
                            pass  # trailers
                        self._done = True
                        return
                    data = await self._reader.readexactly(size + 2)
                    yield data[:-2]
                elif self._left is not None:
                    data = await self._reader.read(min(self._left, 256 * 1024))
                    if not data:
                        raise HttpError("the connection closed before the whole answer arrived")
                    self._left -= len(data)
                    self._done = self._left == 0
                    yield data
                else:
                    data = await self._reader.read(256 * 1024)
                    if not data:
                        self._done = True
                        return
                    yield data
        except asyncio.IncompleteReadError:
            raise HttpError("the connection closed before the whole answer arrived") from None
        except asyncio.LimitOverrunError:
            raise HttpError("the answer is not well-formed HTTP (an overlong chunk header)") from None
        except ValueError:
            raise HttpError("the answer is not well-formed HTTP (a bad chunk size)") from None
        except (ConnectionError, ssl.SSLError) as exc:
            raise HttpError(_phrase(exc)) from None

    async def read(self, limit: int | None = None) -> bytes:
        """The whole body; HttpError past `limit` bytes."""
        parts: list[bytes] = []
        size = 0
        async for chunk in self.chunks():
            size += len(chunk)
            if limit is not None and size > limit:
                raise HttpError(f"the answer is larger than {limit} bytes")
            parts.append(chunk)
        return b"".join(parts)

    async def text(self) -> str:
        return (await self.read()).decode("utf-8", errors="replace")

    async def lines(self) -> AsyncIterator[bytes]:
        """The body line by line as it arrives (a watch: one JSON event a line)."""
        pending = b""
        async for chunk in self.chunks():
            pending += chunk
            if len(pending) > LINE_LIMIT:
                raise HttpError(f"a line of the answer is longer than {LINE_LIMIT} bytes")
            *complete, pending = pending.split(b"\n")
            for line in complete:
                yield line
        if pending:
            yield pending

    def release(self) -> None:
        writer, self._writer = self._writer, None
        if writer is None:
            return
        if self._done and self._reusable:
            self._client._idle_connection(self._reader, writer)
        else:
            writer.close()


class HttpClient:
    """Requests to one origin (scheme://host:port) over HTTP/1.1 keep-alive connections, one
    request at a time on each."""

    def __init__(
        self,
        origin: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        connect_timeout: float = 10.0,
    ) -> None:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{origin!r} is not an http(s) address")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.base_path = parts.path.rstrip("/")
        self.ssl_context = ssl_context if parts.scheme == "https" else None
        if parts.scheme == "https" and self.ssl_context is None:
            self.ssl_context = ssl.create_default_context()
        self.server_hostname = server_hostname
        self.connect_timeout = connect_timeout
        netloc = f"[{self.host}]" if ":" in self.host else self.host
        default_port = 443 if parts.scheme == "https" else 80
        self.host_header = netloc if self.port == default_port else f"{netloc}:{self.port}"
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def request(
        self,
        method: str,
        target: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> Answer:
        """Send the request and read the status and headers; the body is left to the Answer."""
        head = [f"{method} {self.base_path}{target} HTTP/1.1", f"Host: {self.host_header}"]
        head += [f"{name}: {value}" for name, value in (headers or {}).items()]
        if body is not None or method in ("POST", "PUT", "PATCH"):
            head.append(f"Content-Length: {len(body or b'')}")
        message = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + (body or b"")
        while True:
            reader, writer, reused = await self._connection()
            try:
                writer.write(message)
                await writer.drain()
                status, fields = await self._head(reader)
            except (HttpError, ConnectionError, ssl.SSLError, asyncio.IncompleteReadError) as exc:
                writer.close()
                if reused and method in ("GET", "HEAD"):
                    continue  # the server closed the idle connection meanwhile: once more on a new one
                raise exc if isinstance(exc, HttpError) else HttpError(_phrase(exc)) from None
            except BaseException:
                writer.close()
                raise
            has_body = method != "HEAD" and status not in (204, 304) and status >= 200
            return Answer(self, reader, writer, status, fields, has_body)

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bool]:
        while self._idle:
            reader, writer = self._idle.pop()
            if not reader.at_eof() and not writer.is_closing():
                return reader, writer, True
            writer.close()
        try:
            async with asyncio.timeout(self.connect_timeout):
                reader, writer = await asyncio.open_connection(
                    self.host,
                    self.port,
                    ssl=self.ssl_context,
                    server_hostname=(self.server_hostname or self.host) if self.ssl_context else None,
                    limit=HEADER_LIMIT,
                )
        except TimeoutError:
            raise HttpError(f"no connection within {self.connect_timeout:g} s") from None
        except (OSError, ssl.SSLError) as exc:
            raise HttpError(_phrase(exc)) from None
        return reader, writer, False

    async def _head(self, reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
        try:
            while True:
                status_line = await reader.readuntil(b"\r\n")
                if not status_line:
                    raise HttpError("the connection closed without an answer")
                parts = status_line.decode("latin-1").split(" ", 2)
                if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
                    raise HttpError("the answer is not HTTP/1.1")
                status = int(parts[1])
                fields: dict[str, str] = {}
                while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
                    name, _, value = line.decode("latin-1").partition(":")
                    key = name.strip().lower()
                    fields[key] = f"{fields[key]}, {value.strip()}" if key in fields else value.strip()
                if status >= 200 or status == 101:
                    return status, fields
                # 1xx (100 Continue): its headers end, the real answer follows.
        except asyncio.IncompleteReadError:
            raise HttpError("the connection closed without an answer") from None
        except asyncio.LimitOverrunError:
            raise HttpError("the answer's headers are longer than the client reads") from None

    def _idle_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._idle) < IDLE_CONNECTIONS:
            self._idle.append((reader, writer))
        else:
            writer.close()

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for _, writer in idle:
            writer.close()


def small_tls_buffers(size: int = 16 * 1024) -> None:
    """asyncio gives every TLS connection a read buffer of 256 KiB (sslproto.SSLProtocol.max_size),
    filled with zeros and so resident from the start: an agent's five connections to the API
    server, which carry a few kilobytes a minute, held 1.3 MB in them. One TLS record is at most
    16 KiB, so reading that much at a time costs nothing in throughput here. Process-wide: call it
    at the start of a process that holds few, quiet TLS connections."""
    from asyncio import sslproto

    sslproto.SSLProtocol.max_size = size


def _phrase(exc: BaseException) -> str:
    """An OS or TLS error as a phrase (`Connection refused`, not `[Errno 111] Connect call failed`)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"the server's certificate is not trusted ({exc.verify_message})"
    if isinstance(exc, OSError) and exc.errno:
        return os.strerror(exc.errno)  # asyncio's own strerror is "Connect call failed (host, port)"
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
