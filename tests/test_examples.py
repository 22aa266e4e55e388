"""The examples run as they are, each starting its own embedded server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import aios3

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize("script", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_example_runs_and_verifies(script: str) -> None:
    args = [sys.executable, str(EXAMPLES / script)]
    if script == "quickstart.py":
        args += ["--size-mib", "24"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=180, cwd=EXAMPLES.parent)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "verified" in done.stdout


def test_the_examples_users_ask_for_are_there() -> None:
    names = {p.name for p in EXAMPLES.glob("*.py")}
    assert {
        "fastapi_avatars.py",
        "aiohttp_files.py",
        "multipart_errors.py",
        "model_store.py",
        "public_read.py",
    } <= names


def test_examples_pass_mypy_strict(tmp_path: Path) -> None:
    """User code written like the examples type-checks strictly: write results carry a
    size and an etag (StoredObject), and every public call is typed (py.typed). A name
    aios3 loads at its first use (TreeResult) is typed too, and a misspelt one is still
    an error (the module's ``__getattr__`` is hidden from checkers)."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import aios3\n"
        "from aios3 import TreeItem, TreeResult\n"
        "items: list[TreeItem] = []\n"
        "result: TreeResult | None = None\n"
        "aios3.conect\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(EXAMPLES), str(probe)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=EXAMPLES.parent,
    )
    errors = [line for line in done.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1, done.stdout[-3000:]
    assert "probe.py:5: error" in errors[0] and "conect" in errors[0], errors


async def test_write_results_have_size_and_etag(s3: aios3.S3) -> None:
    info = await s3.upload("typed/x", b"abc")
    assert isinstance(info, aios3.StoredObject) and info.size == 3 and info.etag
    async with s3.multipart_upload("typed/y") as up:
        await up.write(b"x" * 10)
    assert isinstance(up.result, aios3.StoredObject) and up.result.size == 10
    copied = await s3.copy("typed/x", "typed/z")
    assert isinstance(copied, aios3.StoredObject) and copied.etag == info.etag


def test_readme_connect_snippet_runs(tmp_path: Path) -> None:
    """The README's first snippet is complete: it must run as it is."""
    readme = (EXAMPLES.parent / "README.md").read_text()
    snippet = readme.split("### Connect", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    script = tmp_path / "snippet.py"
    script.write_text(snippet)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[0] == "7" and "image/png" in done.stdout
