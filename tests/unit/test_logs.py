"""No credential in any log line at any level (gateway/logs.py)."""

from __future__ import annotations

import io
import logging

import pytest

from gateway.logs import REDACTED, RedactingFormatter, redact

JWT = "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEyMyJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQifQ.c2lnbmF0dXJlX2hlcmU"


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ("< authorization: Bearer 0123456789abcdef", "0123456789abcdef"),  # websockets' handshake debug
        ("< Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        ("< x-flowgate-authorization: Bearer s3cr3t-t0ken", "s3cr3t-t0ken"),
        ("headers={'Authorization': 'Bearer abc.def-ghi', 'Accept': 'application/json'}", "abc.def-ghi"),
        ('{"authorization": "Bearer zzz999"}', "zzz999"),
        ("< cookie: openshift-session-token=sha256~abcdef; csrf-token=xyz", "sha256~abcdef"),
        ("> x-csrftoken: 42d1e", "42d1e"),
        ("connection_init payload {'authorization': 'Bearer qqq'}", "qqq"),
        ("token Bearer      spaced.out/token+=", "spaced.out/token+="),
        ("< sec-websocket-protocol: base64url.bearer.authorization.k8s.io.dGhlLXRva2Vu, v4.channel", "dGhlLXRva2Vu"),
        (f"a service-account token {JWT} in a message", JWT),
    ],
)
def test_credentials_are_redacted(line: str, secret: str) -> None:
    cleaned = redact(line)
    assert secret not in cleaned, cleaned
    assert REDACTED in cleaned, cleaned


def test_lines_without_credentials_are_left_alone() -> None:
    for line in (
        '127.0.0.1:5555 - "GET /readyz HTTP/1.1" 200',
        "node-1: IPFIX to 10.89.0.1:30001 (sampling 400)",
        "the user is not authorized to list flows",
    ):
        assert redact(line) == line


def test_the_formatter_redacts_arguments_and_tracebacks() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingFormatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("flowgate.test.redaction")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        logger.debug("< %s: %s", "authorization", "Bearer t0k3n-in-args")
        try:
            raise RuntimeError("refused Bearer t0k3n-in-traceback")
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    written = stream.getvalue()
    assert "t0k3n" not in written, written
    assert "DEBUG < authorization: [redacted]" in written
    assert "RuntimeError: refused Bearer [redacted]" in written
