"""The S3 server the benchmark runs against: SeaweedFS (default) or moto, started on
127.0.0.1 through :mod:`aios3.testing`, or an external endpoint (``--endpoint``, with the
credentials from ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    name: str
    endpoint: str
    access_key_id: str
    secret_access_key: str
    region: str = "us-east-1"
    ca_bundle: str | None = None

    @property
    def https(self) -> bool:
        return self.endpoint.startswith("https://")


def _from_server(server) -> Target:
    return Target(
        name=server.name,
        endpoint=server.endpoint,
        access_key_id=server.access_key_id,
        secret_access_key=server.secret_access_key,
        region=server.region or "us-east-1",
        ca_bundle=server.ca_bundle,
    )


@contextmanager
def start(kind: str, *, https: bool = False, endpoint: str | None = None) -> Iterator[Target]:
    """Run (or point at) a server for the length of the ``with`` block."""
    if kind == "external":
        if not endpoint:
            raise SystemExit("--server external needs --endpoint URL")
        yield Target(
            name="external",
            endpoint=endpoint,
            access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", ""),
            secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
            region=os.environ.get("AWS_REGION", "us-east-1"),
            ca_bundle=os.environ.get("AWS_CA_BUNDLE"),
        )
        return
    from aios3 import testing

    if kind == "seaweedfs":
        launcher = getattr(testing, "seaweedfs_server", None)
        if launcher is None:
            raise SystemExit(
                "aios3.testing.seaweedfs_server is not available; use --server moto "
                "or --server external --endpoint URL"
            )
        with launcher(data_dir=None, https=https) as server:
            yield _from_server(server)
    elif kind == "moto":
        if https:
            raise SystemExit("--https needs --server seaweedfs (moto_server is plain http)")
        with testing.moto_server() as server:
            yield _from_server(server)
    else:
        raise SystemExit(f"unknown server {kind!r}")


def server_version(kind: str) -> str:
    """Best-effort version string of the server software."""
    try:
        if kind == "seaweedfs":
            import subprocess

            from aios3 import testing

            find = getattr(testing, "_find_weed", None)
            path = find(None) if callable(find) else "weed"
            out = subprocess.run([path, "version"], capture_output=True, text=True, timeout=10)
            words = out.stdout.split()  # "version 8000GB 4.48 pypi linux amd64"
            return "SeaweedFS " + (words[2] if len(words) > 2 else out.stdout.strip())
        if kind == "moto":
            import importlib.metadata

            return "moto " + importlib.metadata.version("moto")
    except Exception:
        pass
    return kind
