"""botocore's data files, kept parsed between processes.

Every new client has botocore read and parse ~1.8 MB of JSON: the S3 model, its endpoint
ruleset, the partitions and the legacy endpoints (~30 ms of CPU, a tenth of a fresh
process's start). :class:`CachedFileLoader` keeps each file's parsed data in a cache
directory in :mod:`marshal` form, which loads in a quarter of the time, keyed by the
file's path, size and modification time, botocore's version and Python's.

The cache only ever saves time: an entry that is missing, unreadable, truncated or fails
its CRC32 is read from the JSON as before (and written again); entries are written to a
temporary file and renamed into place, so concurrent writers never leave a torn one; a
directory that cannot be written just goes without. Entries unwritten for 30 days are
removed when a new one is written (a botocore upgrade writes a new set).

The directory: ``AIOS3_CACHE_DIR`` if set (empty: no cache), else the platform's user
cache directory (``$XDG_CACHE_HOME/aios3``, ``~/.cache/aios3``, ``~/Library/Caches/aios3``,
``%LOCALAPPDATA%\\aios3\\Cache``).

botocore parses its JSON into ``OrderedDict``; marshal keeps plain ``dict``, which holds
the same order and which botocore's model classes read alike. The prose is left out: every
non-empty ``"documentation"`` string is stored as a short placeholder. botocore reads
them only to write its client methods' docstrings (which stay complete but for the
descriptions), and they are 86% of the S3 model's 1.2 MB (1.3 MB of a process's memory).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import marshal
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

__all__ = [
    "CachedFileLoader",
    "cache_dir",
    "customer_models",
    "entry_path",
    "install",
    "read_entry",
    "write_entry",
]

log = logging.getLogger("aios3")

_FORMAT = b"aios3-botocore-data-3\n"  # bump when the entry layout changes
_MAX_AGE = 30 * 24 * 3600  # seconds since an entry was written before it is pruned
_SUFFIX = ".marshal"
_PROSE = "(documentation left out)"  # what the cache keeps of each documentation string


def cache_dir() -> Path | None:
    """Where entries live, or ``None`` for no cache (``AIOS3_CACHE_DIR=""``)."""
    chosen = os.environ.get("AIOS3_CACHE_DIR")
    if chosen is not None:
        return Path(chosen).expanduser() if chosen else None
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA")
        return Path(base, "aios3", "Cache") if base else None
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "aios3"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base, "aios3")


def install(session: Any) -> None:
    """Give ``session`` (a botocore session, before its first client) a data loader
    that reads through the cache; botocore's own loader where there is no cache.

    The sessions of one thread share one loader (per cache directory), as the clients
    of one botocore session do, where it reads botocore's own data alone (no
    ``data_path``, no ``~/.aws/models``): botocore's loader keeps what it has loaded,
    so a process's second client reads no file and lists no directory, and is built in
    25-31 ms of CPU with its connect instead of 87-94 (a service that connects per job
    or per request). The price: the parsed data (~6 MiB) stays loaded while the thread
    lives. botocore changes it as clients use it, once and alike for every client, as
    it does for one session's clients (its S3 handler moves the bucket out of each
    request URI; its endpoint resolver fills in the entries it resolves); one loader
    per thread, because those changes are not made under a lock."""
    from botocore.loaders import create_loader

    try:
        directory = cache_dir()
    except RuntimeError:  # no home directory to find the cache in
        return
    if directory is None:
        return
    data_path = session.get_config_variable("data_path")
    shared = not data_path and not customer_models()
    loader = _THREAD.loaders.get(directory) if shared else None
    if loader is None:
        loader = create_loader(data_path)
        loader.file_loader = CachedFileLoader(directory)
        if shared:
            _THREAD.loaders[directory] = loader
    session.register_component("data_loader", loader)


class _ThreadLoaders(threading.local):
    """The loaders :func:`install` shares among one thread's sessions."""

    def __init__(self) -> None:
        self.loaders: dict[Path, Any] = {}  # by cache directory


_THREAD = _ThreadLoaders()


def customer_models() -> bool:
    """Whether botocore would look for models in ``~/.aws/models`` and find one (or
    cannot tell: no home directory)."""
    try:
        return (Path.home() / ".aws" / "models").exists()
    except RuntimeError:
        return True


def _crc32(data: bytes) -> int:
    from ._checksum import crc32

    return crc32(data)


class CachedFileLoader:
    """botocore's ``JSONFileLoader``, with each file's parsed data cached on disk."""

    def __init__(self, directory: Path) -> None:
        from botocore import __version__
        from botocore.loaders import JSONFileLoader

        self._json = JSONFileLoader()
        self._directory = directory
        self._salt = _FORMAT + f"{sys.version_info[:2]}|{__version__}|".encode()

    def exists(self, file_path: str) -> bool:
        return bool(self._json.exists(file_path))

    def load_file(self, file_path: str) -> Any:
        """The data of ``file_path`` (without its ``.json`` / ``.json.gz`` suffix), or
        ``None`` where there is no such file."""
        for suffix in (".json", ".json.gz"):
            try:
                st = os.stat(file_path + suffix)
            except OSError:
                continue
            key = self._salt + f"{file_path}{suffix}|{st.st_size}|{st.st_mtime_ns}".encode()
            entry = entry_path(self._directory, key)
            data = read_entry(entry, key)
            if data is None:
                data = self._json.load_file(file_path)
                if data is not None:
                    data = _plain(data)
                    write_entry(self._directory, entry, key, data)
            return data
        return None


def read_entry(entry: Path, key: bytes) -> Any:
    """The data kept in ``entry`` under ``key``; ``None`` where it is missing, written
    under another key, torn or corrupt."""
    try:
        blob = entry.read_bytes()
    except OSError:
        return None
    header = _FORMAT + key + b"\n"
    body = blob[len(header) + 4 :]
    if not blob.startswith(header) or blob[len(header) : len(header) + 4] != (
        _crc32(body).to_bytes(4, "big")
    ):
        log.debug("aios3: ignoring the cache entry %s", entry.name)
        return None
    try:
        return marshal.loads(body)
    except (EOFError, ValueError, TypeError):
        return None


def write_entry(directory: Path, entry: Path, key: bytes, data: Any) -> None:
    """Keep ``data`` in ``entry`` (in ``directory``) under ``key``: written to a
    temporary file and renamed into place; nothing where it cannot be written."""
    try:
        body = marshal.dumps(data)
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        import tempfile  # (here: a process that only reads the cache never loads it)

        fd, temp = tempfile.mkstemp(dir=directory, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(_FORMAT + key + b"\n" + _crc32(body).to_bytes(4, "big") + body)
            os.replace(temp, entry)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        _prune(directory)
    except (OSError, ValueError) as exc:  # a read-only home, a full disk
        log.debug("aios3: the cache entry is not written: %s", exc)


def _prune(directory: Path) -> None:
    cutoff = time.time() - _MAX_AGE
    for path in directory.iterdir():
        with contextlib.suppress(OSError):
            if path.suffix in (_SUFFIX, ".tmp") and path.stat().st_mtime < cutoff:
                path.unlink()


def entry_path(directory: Path, key: bytes) -> Path:
    """The file that keeps the entry of ``key``."""
    return directory / (hashlib.sha256(key).hexdigest()[:32] + _SUFFIX)


def _plain(data: Any) -> Any:
    """``data`` with botocore's ``OrderedDict`` as ``dict`` (marshal takes no others),
    and its ``"documentation"`` strings replaced by :data:`_PROSE` (the keys stay:
    botocore indexes some, and writes a docstring's parameter sections only for a
    non-empty one)."""
    if isinstance(data, dict):
        return {
            k: (_PROSE if v else v) if k == "documentation" and isinstance(v, str) else _plain(v)
            for k, v in data.items()
        }
    if isinstance(data, list):
        return [_plain(v) for v in data]
    return data
