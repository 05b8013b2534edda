"""The testbed's TLS material, made with the openssl CLI: a CA, the API server's serving
certificate (for 127.0.0.1 and the in-cluster names), the service-account signing key, and
client certificates the API server accepts (it trusts the same CA for them)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from flowgate_testbed.binaries import find_tool
from flowgate_testbed.errors import TestbedError

_EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
_SANS = ",".join(
    [
        "IP:127.0.0.1",
        "IP:10.0.0.1",  # the `kubernetes` Service's ClusterIP in --service-cluster-ip-range
        "DNS:localhost",
        "DNS:kubernetes",
        "DNS:kubernetes.default",
        "DNS:kubernetes.default.svc",
        "DNS:kubernetes.default.svc.cluster.local",
    ]
)


@dataclass(frozen=True)
class Pki:
    ca_cert: Path
    ca_key: Path
    serving_cert: Path
    serving_key: Path
    sa_key: Path
    sa_pub: Path


def _openssl(*args: str) -> None:
    result = subprocess.run([find_tool("openssl", "openssl"), *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise TestbedError(f"openssl could not create the testbed's certificates: {result.stderr.strip()}")


def make_pki(directory: Path) -> Pki:
    directory.mkdir(parents=True, exist_ok=True)
    pki = Pki(
        ca_cert=directory / "ca.crt",
        ca_key=directory / "ca.key",
        serving_cert=directory / "apiserver.crt",
        serving_key=directory / "apiserver.key",
        sa_key=directory / "sa.key",
        sa_pub=directory / "sa.pub",
    )
    days = ["-days", "3650"]
    _openssl(
        "req",
        "-x509",
        *_EC,
        *days,
        "-keyout",
        str(pki.ca_key),
        "-out",
        str(pki.ca_cert),
        "-subj",
        "/CN=flowgate-testbed-ca",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    )
    _openssl(
        "req",
        "-x509",
        *_EC,
        *days,
        "-CA",
        str(pki.ca_cert),
        "-CAkey",
        str(pki.ca_key),
        "-keyout",
        str(pki.serving_key),
        "-out",
        str(pki.serving_cert),
        "-subj",
        "/CN=kube-apiserver",
        "-addext",
        f"subjectAltName={_SANS}",
        "-addext",
        "basicConstraints=critical,CA:FALSE",
        "-addext",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        "-addext",
        "extendedKeyUsage=serverAuth",
    )
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-out", str(pki.sa_key))
    _openssl("pkey", "-in", str(pki.sa_key), "-pubout", "-out", str(pki.sa_pub))
    for key in (pki.ca_key, pki.serving_key, pki.sa_key):
        key.chmod(0o600)
    return pki


def issue_client_certificate(pki: Pki, directory: Path, user: str, groups: tuple[str, ...] = ()) -> tuple[Path, Path]:
    """A client certificate for `user` (CN) in `groups` (O), signed by the testbed's CA."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / f"{user}.crt", directory / f"{user}.key"
    subject = "".join(f"/O={group}" for group in groups) + f"/CN={user}"
    _openssl(
        "req",
        "-x509",
        *_EC,
        "-days",
        "365",
        "-CA",
        str(pki.ca_cert),
        "-CAkey",
        str(pki.ca_key),
        "-keyout",
        str(key),
        "-out",
        str(cert),
        "-subj",
        subject,
        "-addext",
        "basicConstraints=critical,CA:FALSE",
        "-addext",
        "keyUsage=critical,digitalSignature",
        "-addext",
        "extendedKeyUsage=clientAuth",
    )
    key.chmod(0o600)
    return cert, key
