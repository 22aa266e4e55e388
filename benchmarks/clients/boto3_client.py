"""boto3 (s3transfer): upload_file / download_file / upload_fileobj, threads for
concurrency."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor

import _common as c
import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config


def make_client(spec: c.Spec, pool: int):
    return boto3.client("s3", **c.botocore_client_kwargs(spec, pool, Config))


def run(spec: c.Spec, result: c.Result) -> None:
    tc = TransferConfig(
        multipart_threshold=16 * c.MiB,
        multipart_chunksize=spec.part_size,
        max_concurrency=spec.part_concurrency,
    )
    w = spec.workload
    if w == "upload":
        s3 = make_client(spec, spec.part_concurrency)
        with result.phase("upload", nbytes=spec.size):
            s3.upload_file(spec.src, spec.bucket, spec.key, Config=tc)
    elif w == "download":
        s3 = make_client(spec, spec.part_concurrency)
        with result.phase("download", nbytes=spec.size):
            s3.download_file(spec.bucket, spec.key, spec.dest, Config=tc)
    elif w == "stream_upload":
        s3 = make_client(spec, spec.part_concurrency)
        counted = Counting(sys.stdin.buffer)
        with result.phase("stream_upload") as ph:
            s3.upload_fileobj(counted, spec.bucket, spec.key, Config=tc)
            ph["bytes"] = counted.n
    elif w == "multi_upload":
        n = len(spec.files)
        s3 = make_client(spec, spec.part_concurrency * n)
        with result.phase("multi_upload", nbytes=spec.size), ThreadPoolExecutor(n) as pool:
            futs = [
                pool.submit(s3.upload_file, f, spec.bucket, k, Config=tc)
                for f, k in zip(spec.files, spec.object_keys, strict=True)
            ]
            for f in futs:
                f.result()
    elif w == "small":
        run_small(spec, result)
    else:
        raise ValueError(w)


class Counting:
    """A non-seekable reader (stdin is a pipe) that counts what it hands out."""

    def __init__(self, raw) -> None:
        self.raw = raw
        self.n = 0

    def read(self, size: int = -1) -> bytes:
        data = c.read_exact(self.raw, size) if size and size > 0 else self.raw.read()
        self.n += len(data)
        return data


def run_small(spec: c.Spec, result: c.Result) -> None:
    s3 = make_client(spec, spec.concurrency)
    keys = c.small_keys(spec)
    payload = c.small_payload(spec)
    b = spec.bucket
    n = len(keys)
    with ThreadPoolExecutor(spec.concurrency) as pool:
        with result.phase("small_put", ops=n):
            list(pool.map(lambda k: s3.put_object(Bucket=b, Key=k, Body=payload), keys))
        with result.phase("small_get", ops=n):
            list(pool.map(lambda k: s3.get_object(Bucket=b, Key=k)["Body"].read(), keys))
        with result.phase("small_head", ops=n):
            list(pool.map(lambda k: s3.head_object(Bucket=b, Key=k), keys))
    with result.phase("small_list", ops=n) as ph:
        found = 0
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=b, Prefix=spec.prefix):
            found += len(page.get("Contents", []))
        ph["ops"] = found
    with result.phase("small_delete", ops=n):
        for i in range(0, n, 1000):
            batch = [{"Key": k} for k in keys[i : i + 1000]]
            s3.delete_objects(Bucket=b, Delete={"Objects": batch, "Quiet": True})


if __name__ == "__main__":
    c.main(boto3.__version__, run)
