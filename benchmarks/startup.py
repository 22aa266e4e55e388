"""Start-up cost: the CPU seconds and peak RSS of a fresh process that imports a client,
connects, and makes one small request.

    python -m benchmarks.startup                     # moto on 127.0.0.1, 7 runs of each
    python -m benchmarks.startup --server seaweedfs --repeat 9
    python -m benchmarks.startup --importtime        # ... then where `import aios3` goes

Each figure is one whole fresh interpreter (``python -c``): user + system CPU from
``os.wait4``, peak RSS from ``/proc/self/status`` (Linux), interpreter start-up included
(the ``python`` row). The steps build on each other: ``import``; ``connect`` (import +
a client ready to send, as a program writes it); ``get`` / ``put`` (connect + one 1 KiB
GetObject / PutObject, the object made beforehand; ``list``: connect + one
ListObjectsV2 page of the bucket; ``missing``: connect + one HEAD of a key that is not
there, what an ``exists()`` check pays). Every step runs once unmeasured
(bytecode written, files cached), then the runs interleave across clients; medians.
aiobotocore's ``import`` is ``import aiobotocore.session``: the floor of any client built
on it. ``aios3-own-pieces`` (asked for with ``--clients``) signs and sends the same
requests with aios3's signer and plain-http connections alone: the floor of a first
request that needs no aiobotocore. aios3 is this checkout's; boto3 and aiobotocore this
environment's; obstore the benchmark ``tools`` venv's when it exists (``python -m
benchmarks.venvs``), else skipped.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

from . import servers, venvs

REPO = Path(__file__).resolve().parent.parent
# The children's working directory: ``python -c`` puts it first on sys.path, where a
# checkout's aios3 would shadow the one a row names with PYTHONPATH.
CWD = tempfile.gettempdir()
STEPS = ["import", "connect", "get", "put", "list", "missing"]
BUCKET, KEY, SIZE = "startup", "small.bin", 1024

# Each client's program, by step. {ep}, {ak}, {sk}, {region}: the server's.
AIOS3 = {
    "import": "import aios3",
    "connect": """
        import asyncio, aios3
        async def main():
            async with aios3.connect(endpoint={ep!r}, access_key_id={ak!r},
                                     secret_access_key={sk!r}, region={region!r}) as s3:
                {body}
        asyncio.run(main())
    """,
    "get": f"assert len(await s3.get_bytes('s3://{BUCKET}/{KEY}')) == {SIZE}",
    "put": f"await s3.upload('s3://{BUCKET}/put.bin', bytes({SIZE}))",
    "list": f"assert [o async for o in s3.list('s3://{BUCKET}/')]",
    "missing": f"assert not await s3.exists('s3://{BUCKET}/missing.bin')",
}
AIOBOTOCORE = {
    "import": "import aiobotocore.session",
    "connect": """
        import asyncio, aiobotocore.session
        async def main():
            session = aiobotocore.session.get_session()
            async with session.create_client("s3", endpoint_url={ep!r}, region_name={region!r},
                                             aws_access_key_id={ak!r},
                                             aws_secret_access_key={sk!r}) as s3:
                {body}
        asyncio.run(main())
    """,
    "get": f"r = await s3.get_object(Bucket={BUCKET!r}, Key={KEY!r}); "
    f"assert len(await r['Body'].read()) == {SIZE}",
    "put": f"await s3.put_object(Bucket={BUCKET!r}, Key='put.bin', Body=bytes({SIZE}))",
    "list": f"assert (await s3.list_objects_v2(Bucket={BUCKET!r}))['Contents']",
    "missing": f"r = await asyncio.gather(s3.head_object(Bucket={BUCKET!r}, Key='missing.bin'), "
    "return_exceptions=True); assert r[0].response['Error']['Code'] == '404'",
}
BOTO3 = {
    "import": "import boto3",
    "connect": """
        import boto3
        s3 = boto3.client("s3", endpoint_url={ep!r}, region_name={region!r},
                          aws_access_key_id={ak!r}, aws_secret_access_key={sk!r})
        {body}
    """,
    "get": f"assert len(s3.get_object(Bucket={BUCKET!r}, Key={KEY!r})['Body'].read()) == {SIZE}",
    "put": f"s3.put_object(Bucket={BUCKET!r}, Key='put.bin', Body=bytes({SIZE}))",
    "list": f"assert s3.list_objects_v2(Bucket={BUCKET!r})['Contents']",
    "missing": f"exec(\"try:\\n s3.head_object(Bucket='{BUCKET}', Key='missing.bin')\\n"
    'except s3.exceptions.ClientError: pass\\nelse: raise SystemExit(1)")',
}
OBSTORE = {
    "import": "import obstore",
    "connect": """
        import obstore
        from obstore.store import S3Store
        s3 = S3Store({BUCKET!r}, endpoint={ep!r}, region={region!r}, access_key_id={ak!r},
                     secret_access_key={sk!r}, client_options={{"allow_http": True}})
        {body}
    """,
    "get": f"assert len(obstore.get(s3, {KEY!r}).bytes()) == {SIZE}",
    "put": f"obstore.put(s3, 'put.bin', bytes({SIZE}))",
    "list": "assert obstore.list(s3).collect()",
    "missing": "exec(\"try:\\n obstore.head(s3, 'missing.bin')\\n"
    'except FileNotFoundError: pass\\nelse: raise SystemExit(1)")',
}

# What a first request costs with aios3's own pieces alone (its SigV4 signer and its
# plain-http connections, no aiobotocore, botocore or aiohttp imported): not a client a
# program would write, but the floor a first request built on them could reach, which
# the start-up target is weighed against in the README.
OWN_PIECES = {
    "import": "import aios3",
    "connect": """
        import asyncio, hashlib, aios3
        from urllib.parse import urlsplit
        from aios3._rawget import RawConnections
        from aios3._signing import Signer
        async def main():
            where = urlsplit({ep!r})
            raw = RawConnections(limit=4, connect_timeout=2, read_timeout=30)
            signer = Signer({region!r})
            def signed(method, path, body, query):
                headers = dict(host=where.netloc)
                headers["accept-encoding"] = "identity"
                if body is not None:
                    headers["content-length"] = str(len(body))
                digest = hashlib.sha256(body or b"").hexdigest()
                signer.sign(method, where.netloc, path, query, headers, digest,
                            access_key={ak!r}, secret_key={sk!r})
                return headers
            async def send(method, path, body=None, query=""):
                target = path + "?" + query if query else path
                return await raw.exchange(where.hostname, where.port or 80, method, target,
                                          signed(method, path, body, query), body)
            try:
                {body}
            finally:
                raw.close()
        asyncio.run(main())
    """,
    "get": f"s, _, b = await send('GET', '/{BUCKET}/{KEY}'); assert s == 200 and len(b) == {SIZE}",
    "put": f"s, _, _ = await send('PUT', '/{BUCKET}/put.bin', bytes({SIZE})); assert s == 200",
    "list": f"s, _, b = await send('GET', '/{BUCKET}', query='list-type=2'); "
    "assert s == 200 and b'<Key>' in b",
    "missing": f"s, _, _ = await send('HEAD', '/{BUCKET}/missing.bin'); assert s == 404",
}


def _fsspec(module: str) -> dict[str, str]:
    """An fsspec filesystem's programs: aios3.fs's or s3fs's ``S3FileSystem``."""
    return {
        "import": f"import {module}",
        "connect": f"""
        import {module} as m
        fs = m.S3FileSystem(key={{ak!r}}, secret={{sk!r}}, endpoint_url={{ep!r}},
                            client_kwargs={{{{"region_name": {{region!r}}}}}})
        {{body}}
    """,
        "get": f"assert len(fs.cat_file('{BUCKET}/{KEY}')) == {SIZE}",
        "put": f"fs.pipe_file('{BUCKET}/put.bin', bytes({SIZE}))",
        "list": f"assert fs.ls('{BUCKET}')",
        "missing": f"assert not fs.exists('{BUCKET}/missing.bin')",
    }


@dataclass(frozen=True)
class Client:
    name: str
    programs: dict[str, str]
    python: str
    env: dict[str, str]


def program(programs: dict[str, str], step: str, target: servers.Target) -> str:
    """The source a fresh interpreter runs for ``step``."""
    if step == "import":
        return programs["import"]
    body = "pass" if step == "connect" else programs[step]
    text = textwrap.dedent(programs["connect"]).replace("{body}", body)
    return text.format(
        ep=target.endpoint,
        ak=target.access_key_id,
        sk=target.secret_access_key,
        region=target.region,
        BUCKET=BUCKET,
    )


# Appended to every program: the process's peak RSS. Not ``ru_maxrss`` from wait4: on
# Linux a child keeps its parent's high-water mark across fork + exec.
PEAK_RSS = """
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        print("VmHWM", line.split()[1])
"""


def measure(python: str, code: str, env: dict[str, str]) -> tuple[float, float]:
    """CPU seconds (user + system) and peak RSS (MiB) of ``python -c code``."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [python, "-c", code + PEAK_RSS], env=env, stdout=out, stderr=err, cwd=CWD
        )
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode:
            err.seek(0)
            raise RuntimeError(f"{code!r} failed:\n{err.read().decode()[-2000:]}")
        out.seek(0)
        peak_kib = int(out.read().decode().split("VmHWM")[-1])
    return usage.ru_utime + usage.ru_stime, peak_kib / 1024


def clients(names: list[str], venv_root: Path, base: dict[str, str]) -> list[Client]:
    found: list[Client] = []
    for name in names:
        if name == "obstore":
            if not venvs.ready("tools", venv_root):
                print("[skip] obstore: no benchmark tools venv (python -m benchmarks.venvs)")
                continue
            python = str(venvs.python_of(venv_root / "tools"))
            found.append(Client(name, OBSTORE, python, base))
        elif name in ("aios3.fs", "s3fs"):  # fsspec: s3fs from its benchmark venv if made
            python = sys.executable
            if name == "s3fs" and venvs.ready("s3fs", venv_root):
                python = str(venvs.python_of(venv_root / "s3fs"))
            env = {**base, "PYTHONPATH": str(REPO)}
            found.append(Client(name, _fsspec(name), python, env))
        elif name == "aios3-own-pieces":  # the floor: aios3's signer and connections alone
            env = {**base, "PYTHONPATH": str(REPO)}
            found.append(Client(name, OWN_PIECES, sys.executable, env))
        elif name == "aios3-nocache":  # without the botocore data cache (aios3._model_cache)
            env = {**base, "PYTHONPATH": str(REPO), "AIOS3_CACHE_DIR": ""}
            found.append(Client(name, AIOS3, sys.executable, env))
        else:
            programs = {"aios3": AIOS3, "aiobotocore": AIOBOTOCORE, "boto3": BOTO3}[name]
            found.append(Client(name, programs, sys.executable, {**base, "PYTHONPATH": str(REPO)}))
    return found


def child_env(scratch: str) -> dict[str, str]:
    """The children's environment: bytecode cached as an installed package has it, and
    aios3's botocore data cache, both in ``scratch`` (neither the checkout, nor
    site-packages, nor the user's cache is written to)."""
    env = {
        **os.environ,
        "PYTHONPYCACHEPREFIX": os.path.join(scratch, "pycache"),
        "AIOS3_CACHE_DIR": os.path.join(scratch, "aios3"),
    }
    for name in ("PYTHONDONTWRITEBYTECODE", "PYTHONSTARTUP", "PYTHONPATH"):
        env.pop(name, None)
    return env


def prepare(target: servers.Target) -> None:
    """The bucket and the object the GET reads."""
    import asyncio

    import aios3

    async def go() -> None:
        async with aios3.connect(
            endpoint=target.endpoint,
            access_key_id=target.access_key_id,
            secret_access_key=target.secret_access_key,
            region=target.region,
            ca_bundle=target.ca_bundle,
        ) as s3:
            await s3.create_bucket(BUCKET, exist_ok=True)
            await s3.upload(f"s3://{BUCKET}/{KEY}", bytes(SIZE))

    asyncio.run(go())


def importtime(top: int) -> None:
    """Where ``import aios3`` spends its time: the slowest packages, cumulatively."""
    with tempfile.TemporaryDirectory(prefix="aios3-startup-") as scratch:
        env = {**child_env(scratch), "PYTHONPATH": str(REPO)}
        subprocess.run([sys.executable, "-c", "import aios3"], env=env, check=True)
        out = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "import aios3"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            cwd=CWD,
        ).stderr
    rows = []
    for line in out.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = (part.strip() for part in line[len("import time:") :].split("|"))
        depth = (len(name) - len(name.lstrip())) // 2
        if depth <= 2:
            rows.append((int(cumulative), depth, name.strip()))
    print(f"\nimport aios3, the slowest {top} modules (cumulative, nesting <= 2):")
    for cumulative, depth, name in sorted(rows, reverse=True)[:top]:
        print(f"  {cumulative / 1000:7.1f} ms  {'  ' * depth}{name}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default="moto", choices=["moto", "seaweedfs", "external"])
    parser.add_argument("--endpoint", help="with --server external")
    parser.add_argument("--repeat", type=int, default=7, help="runs per step (median)")
    parser.add_argument("--clients", default="aios3,aios3-nocache,aiobotocore,boto3,obstore")
    parser.add_argument("--venvs", type=Path, default=venvs.DEFAULT_ROOT, help="peer venvs")
    parser.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="LABEL=DIR",
        help="also aios3 from DIR (e.g. an older release unpacked there), as row LABEL",
    )
    parser.add_argument("--importtime", action="store_true", help="then profile the import")
    args = parser.parse_args(argv)

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    scratch = tempfile.TemporaryDirectory(prefix="aios3-startup-")
    env = child_env(scratch.name)
    chosen = clients(args.clients.split(","), args.venvs, env)
    for label, folder in (spec.split("=", 1) for spec in args.compare):
        chosen.append(Client(label, AIOS3, sys.executable, {**env, "PYTHONPATH": folder}))
    floor = Client("python", {}, sys.executable, env)
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    with scratch, servers.start(args.server, endpoint=args.endpoint) as target:
        prepare(target)
        jobs = [(floor, "python", "pass")]
        for client in chosen:
            for step in STEPS:
                jobs.append((client, step, program(client.programs, step, target)))
        for job in jobs:  # once unmeasured: bytecode written, page cache warm
            measure(job[0].python, job[2], job[0].env)
        for _ in range(args.repeat):  # interleaved, so drift hits every row alike
            for client, step, code in jobs:
                got = measure(client.python, code, client.env)
                results.setdefault((client.name, step), []).append(got)

    print(
        f"\nStart-up, medians of {args.repeat} fresh processes ({args.server} on 127.0.0.1): "
        "CPU seconds (user + system) / peak RSS MiB of the whole process\n"
    )
    print("| client | " + " | ".join(STEPS) + " |")
    print("|---|" + "---:|" * len(STEPS))
    for client in [floor, *chosen]:
        cells = []
        for step in ["python"] if client is floor else STEPS:
            runs = results[(client.name, step)]
            cpu = statistics.median(c for c, _ in runs)
            rss = statistics.median(r for _, r in runs)
            cells.append(f"{cpu:.3f} s / {rss:.0f}")
        print(f"| {client.name} | " + " | ".join(cells) + " |")
    if args.importtime:
        importtime(15)


if __name__ == "__main__":
    main()
