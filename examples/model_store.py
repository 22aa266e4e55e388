"""Save a trained model to S3 and load it back, without a temporary file: the pickle is
streamed into the upload as it is written (multipart once it is big: memory stays flat
however big the model), and the object's metadata records the model's version, class
and SHA-256, which loading checks before unpickling. With joblib installed it does the same with
``joblib.dump`` / ``joblib.load``.

Only ever unpickle objects from a bucket you trust: loading a pickle runs code.

    python examples/model_store.py             # embedded moto server on 127.0.0.1
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import pickle
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import aios3
from aios3.testing import moto_server

BUCKET = "models"
CHUNK = 1024 * 1024


@dataclass
class LinearModel:
    """y = slope * x + intercept, fitted by least squares: a stand-in for any model."""

    version: str
    slope: float = 0.0
    intercept: float = 0.0
    history: list[float] = field(default_factory=list)  # makes the pickle a few MiB

    def fit(self, xs: list[float], ys: list[float]) -> LinearModel:
        n = len(xs)
        mean_x, mean_y = sum(xs) / n, sum(ys) / n
        sxx = sum((x - mean_x) ** 2 for x in xs)
        self.slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sxx
        self.intercept = mean_y - self.slope * mean_x
        self.history = [y - self.predict(x) for x, y in zip(xs, ys, strict=True)]
        return self

    def predict(self, x: float) -> float:
        return self.slope * x + self.intercept


class _Pipe(io.RawIOBase):
    """A write-only file whose bytes go, in ~1 MiB pieces, to an asyncio queue: what
    ``pickle.dump`` / ``joblib.dump`` write in a worker thread, an upload reads."""

    def __init__(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[bytes | None]):
        self._loop, self._queue = loop, queue
        self._buffer = bytearray()
        self.digest = hashlib.sha256()
        self.error: BaseException | None = None  # the dump failed: store nothing
        self.abandoned = False  # the upload failed: stop dumping

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self.abandoned:
            raise OSError("the upload stopped")
        view = memoryview(data).cast("B")
        self._buffer += view
        self.digest.update(view)
        if len(self._buffer) >= CHUNK:
            self._send(bytes(self._buffer))
            self._buffer.clear()
        return view.nbytes

    def finish(self) -> None:
        if self._buffer and self.error is None:
            self._send(bytes(self._buffer))
        self._send(None)

    def _send(self, piece: bytes | None) -> None:
        # Waits while the queue is full: the upload's pace holds the writer back.
        asyncio.run_coroutine_threadsafe(self._queue.put(piece), self._loop).result()


async def save_model(
    s3: aios3.S3, key: str, model: LinearModel, dump: Callable[[Any, Any], object]
) -> aios3.ObjectInfo:
    """Stream ``dump(model, file)`` into S3 as it is written, with the model's version
    in the metadata, then record the SHA-256 of what was written."""
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=4)
    pipe = _Pipe(asyncio.get_running_loop(), queue)

    def write() -> None:
        try:
            dump(model, pipe)
        except BaseException as exc:
            pipe.error = exc
            raise
        finally:
            pipe.finish()

    async def pieces() -> AsyncIterator[bytes]:
        while (piece := await queue.get()) is not None:
            yield piece
        if pipe.error is not None:  # never store half a model: the upload aborts
            raise RuntimeError(f"dumping the model failed: {pipe.error!r}")

    metadata = {"model-version": model.version, "model-class": type(model).__qualname__}
    writer = asyncio.create_task(asyncio.to_thread(write))
    try:
        await s3.upload(key, pieces(), content_type="application/octet-stream", metadata=metadata)
    finally:
        pipe.abandoned = True
        while not writer.done():  # let a writer blocked on the full queue finish
            while not queue.empty():
                queue.get_nowait()
            await asyncio.sleep(0.01)
    await writer
    # The digest is known only at the end: a metadata update (server-side) records it.
    return await s3.update_metadata(key, {**metadata, "sha256": pipe.digest.hexdigest()})


async def load_model(
    s3: aios3.S3, key: str, *, version: str, load: Callable[[Any], object]
) -> LinearModel:
    """Load the model at ``key`` if it is ``version`` and its bytes are intact."""
    info = await s3.head(key)
    if info.metadata.get("model-version") != version:
        raise ValueError(f"{key} holds version {info.metadata.get('model-version')}, not {version}")
    data = await s3.get_bytes(key)
    if hashlib.sha256(data).hexdigest() != info.metadata.get("sha256"):
        raise ValueError(f"{key} does not match the SHA-256 recorded when it was saved")
    model = load(io.BytesIO(data))
    if not isinstance(model, LinearModel):
        raise TypeError(f"{key} holds a {type(model).__name__}, not a LinearModel")
    return model


def pickle_dump(model: object, f: BinaryIO) -> None:
    pickle.dump(model, f, protocol=pickle.HIGHEST_PROTOCOL)


def pickle_load(f: BinaryIO) -> object:
    return pickle.load(f)  # a trusted bucket only


async def main() -> None:
    rng = random.Random(7)
    xs = [float(i) for i in range(300_000)]
    ys = [3.0 * x + 2.0 + rng.gauss(0, 1) for x in xs]
    model = LinearModel(version="2026.12.1").fit(xs, ys)
    print(f"trained: y = {model.slope:.4f} x + {model.intercept:.3f}")

    with moto_server() as server:
        async with aios3.connect(server.config(default_bucket=BUCKET)) as s3:
            await s3.create_bucket(BUCKET, exist_ok=True)

            info = await save_model(s3, "linear/model.pkl", model, pickle_dump)
            print(f"saved linear/model.pkl: {info.size} bytes, metadata {dict(info.metadata)}")
            loaded = await load_model(s3, "linear/model.pkl", version="2026.12.1", load=pickle_load)
            assert loaded == model and abs(loaded.predict(10.0) - 32.0) < 0.1
            print(f"loaded it back: predict(10) = {loaded.predict(10.0):.3f}")
            try:
                await load_model(s3, "linear/model.pkl", version="2027.1.0", load=pickle_load)
                raise AssertionError("the wrong version loaded")
            except ValueError as err:
                print("asked for another version:", err)

            try:
                import joblib
            except ImportError:
                print("joblib is not installed: skipping the joblib file")
            else:
                await save_model(s3, "linear/model.joblib", model, joblib.dump)
                again = await load_model(
                    s3, "linear/model.joblib", version="2026.12.1", load=joblib.load
                )
                assert again == model
                print("joblib.dump / joblib.load: the same model, streamed the same way")

            assert [u async for u in s3.list_multipart_uploads()] == []
            await s3.delete_bucket(BUCKET, force=True)
            print("verified: models saved and loaded without a temporary file")


if __name__ == "__main__":
    asyncio.run(main())
