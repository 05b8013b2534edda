"""Logging for flowgate's processes: one handler on stderr, and no credential in any line at any
level.

Credentials reach flowgate's processes in headers and in WebSocket payloads, and libraries log
those at debug level: websockets writes every handshake header ("< authorization: Bearer …"),
HTTP clients their requests. Rather than trusting every library's log calls, every line is
redacted as it is written, traceback included: the values of credential headers, anything after
"Bearer", Kubernetes' bearer WebSocket subprotocol and anything shaped like a JWT."""

from __future__ import annotations

import logging
import re
import sys

REDACTED = "[redacted]"

# Credential headers however they are printed: "authorization: x", "'Authorization': 'x'", "cookie=x".
_HEADER = re.compile(
    r"(?i)\b((?:proxy-|x-flowgate-)?authorization|set-cookie|cookie|x-csrftoken)"
    r"([\"']?\s*[:=]\s*[\"']?)[^\r\n\"',}]+"
)
_BEARER = re.compile(r"(?i)\b(bearer)(\s+)[A-Za-z0-9\-._~+/]+=*")
# kubectl's WebSocket form of a token: the subprotocol base64url.bearer.authorization.k8s.io.<token>.
_SUBPROTOCOL = re.compile(r"(?i)(bearer\.authorization\.k8s\.io\.)[A-Za-z0-9_\-=]+")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_TRIGGERS = ("authoriz", "bearer", "cookie", "csrf", "eyj")


def redact(text: str) -> str:
    """`text` with every credential it holds replaced by [redacted]."""
    lowered = text.lower()
    if not any(trigger in lowered for trigger in _TRIGGERS):
        return text  # the common line: nothing to look for
    text = _SUBPROTOCOL.sub(rf"\g<1>{REDACTED}", text)
    text = _HEADER.sub(rf"\g<1>\g<2>{REDACTED}", text)
    text = _BEARER.sub(rf"\g<1>\g<2>{REDACTED}", text)
    return _JWT.sub(REDACTED, text)


class RedactingFormatter(logging.Formatter):
    """Formats as logging.Formatter does, then redacts the whole line (message and traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure(level: str, fmt: str) -> None:
    """The process's one log handler, on stderr, at `level` (DEBUG, INFO, …). Libraries that bring
    their own handlers (uvicorn) are told not to, so their lines pass through this one too."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter(fmt))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
