"""Start-up: ``import aios3`` leaves the HTTP stack and botocore unimported until a client
opens, and the client still sends its bodies through aios3's own aiohttp payload."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import aios3
from aios3._body import Body

REPO = Path(__file__).resolve().parents[1]

# What the first request needs and ``import aios3`` must not load.
HEAVY = ("aiohttp", "aiobotocore", "botocore", "urllib3", "httpx", "httpx2", "anyio", "yarl")


def _modules_after(code: str) -> set[str]:
    """The top-level packages in ``sys.modules`` after ``code`` in a fresh interpreter."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": ""},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {name.split(".")[0] for name in json.loads(out)}


def test_import_loads_no_http_stack_or_botocore() -> None:
    loaded = _modules_after("import aios3")
    assert "aios3" in loaded
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_an_open_client_loads_them() -> None:  # the probe above can see them
    code = """
import asyncio, aios3
async def main():
    async with aios3.connect(endpoint="http://127.0.0.1:9", access_key_id="a",
                             secret_access_key="b", region="us-east-1"):
        pass
asyncio.run(main())
"""
    assert {"aiohttp", "aiobotocore", "botocore"} <= _modules_after(code)


async def test_bodies_go_through_aios3s_payload_once_a_client_opens() -> None:
    async with aios3.connect(
        endpoint="http://127.0.0.1:9", access_key_id="a", secret_access_key="b"
    ):
        from aiohttp import payload

        body = Body(2 * 1024 * 1024)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # aiohttp's bytes payload warns above 1 MB
            sent = payload.get_payload(body)
    assert type(sent).__module__ == "aios3._payload"
    assert sent.size == len(body)
