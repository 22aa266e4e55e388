"""``aios3 server`` (moto on 127.0.0.1 until Ctrl-C, no request log unless --verbose)
and ``aios3 demo`` (a verified round trip through an embedded server), as a user runs
them: subprocesses, read from their output."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import pytest
from test_cli import cli_env

import aios3
from aios3.testing import Server

pytest.importorskip("moto", reason="aios3 server needs moto (the server extra)")

REQUEST_LOG = b'HTTP/1.1"'  # werkzeug's request log lines hold the request line in quotes


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE=os.devnull,
               AWS_SHARED_CREDENTIALS_FILE=os.devnull)  # fmt: skip
    return env


async def _serve(*args: str) -> tuple[asyncio.subprocess.Process, dict[str, str]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aios3", "server", "--port", "0", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=_env(),
    )  # fmt: skip
    assert proc.stdout is not None
    printed: list[bytes] = []
    while True:
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert line, b"".join(printed)
        printed.append(line)
        if line.startswith(b"export "):
            break
    values = dict(part.split("=", 1) for part in line.decode().split()[1:])
    values["printed"] = b"".join(printed).decode()
    return proc, values


@pytest.mark.parametrize("verbose", [False, True])
async def test_server_prints_settings_serves_and_stops_on_ctrl_c(verbose: bool) -> None:
    proc, values = await _serve(*(["--verbose"] if verbose else []))
    try:
        endpoint = values["AWS_ENDPOINT_URL"]
        assert (
            endpoint.startswith("http://127.0.0.1:")
            and f"endpoint:          {endpoint}" in (values["printed"])
        )
        async with aios3.connect(
            endpoint=endpoint,
            access_key_id=values["AWS_ACCESS_KEY_ID"],
            secret_access_key=values["AWS_SECRET_ACCESS_KEY"],
            region=values["AWS_REGION"],
        ) as s3:
            await s3.create_bucket("served")
            await s3.upload("s3://served/k", b"over the served endpoint")
            assert await s3.get_bytes("s3://served/k") == b"over the served endpoint"
    finally:
        proc.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(proc.wait(), 30)
    assert proc.stdout is not None and proc.stderr is not None
    rest = await proc.stdout.read() + await proc.stderr.read()
    assert code == 0, rest.decode()
    assert b"Traceback" not in rest and b"stopped" in rest
    assert (REQUEST_LOG in rest) is verbose  # the request log only with --verbose


def test_server_port_in_use() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "aios3", "server", "--port", str(port)],
            capture_output=True, env=_env(), timeout=60,
        )  # fmt: skip
    assert done.returncode == 255 and b"in use" in done.stderr and b"Traceback" not in done.stderr


def test_demo_runs_verified_with_throughput_and_memory() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "aios3", "demo", "--size", "32"],
        capture_output=True, env=_env(), timeout=180,
    )  # fmt: skip
    said = done.stdout.decode()
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    lines = said.splitlines()
    assert any(line.startswith("verified: ") for line in lines), said
    assert any(line.startswith("throughput: upload ") and "MiB/s" in line for line in lines)
    assert any(line.startswith("peak memory: ") and " MiB " in line for line in lines)
    assert "32.0 MiB" in said and "sha256 matches" in said and "range:" in said
    everything = done.stdout + done.stderr
    assert REQUEST_LOG not in everything and b"werkzeug" not in everything
    assert len(lines) <= 10 and done.stderr == b""  # no bars when stderr is not a terminal


async def test_demo_against_a_given_store_removes_only_what_it_made(
    server: Server, s3: aios3.S3
) -> None:
    bucket = s3.config.default_bucket or ""
    await s3.upload("mine", b"kept")
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "aios3", "demo", "--size", "8", "--bucket", bucket,
         "--endpoint-url", server.endpoint],
        capture_output=True, env=cli_env(server), timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    assert f"through {server.endpoint}, as s3://{bucket}/aios3-demo/".encode() in done.stdout
    assert b"verified: " in done.stdout
    left = [i.key async for i in s3.list("") if isinstance(i, aios3.ObjectInfo)]
    assert left == ["mine"] and await s3.bucket_exists(bucket)
