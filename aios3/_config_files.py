"""Reading the configuration files users bring: TOML, YAML (with PyYAML) and ``.env``
credential files.

Errors name the file, the line and what is wrong, never a value: a configuration file
holds secrets, and an error message ends up in logs. The parser's own exception is not
chained either (PyYAML's quotes the offending line).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from typing import Any

from ._exceptions import ConfigError

__all__ = ["ENV_FIELDS", "load_toml", "load_yaml", "read_env_file", "section"]

YAML_SUFFIXES = (".yaml", ".yml")

# Environment variables an ``.env`` file may give, with the Config field each fills.
# Where several name one field, the first one set wins (as in the environment).
ENV_FIELDS: tuple[tuple[str, str], ...] = (
    ("AWS_ACCESS_KEY_ID", "access_key_id"),
    ("AWS_SECRET_ACCESS_KEY", "secret_access_key"),
    ("AWS_SESSION_TOKEN", "session_token"),
    ("AWS_REGION", "region"),
    ("AWS_DEFAULT_REGION", "region"),
    ("AWS_ENDPOINT_URL_S3", "endpoint"),
    ("AWS_ENDPOINT_URL", "endpoint"),
    ("AWS_PROFILE", "profile"),
    ("AWS_CA_BUNDLE", "ca_bundle"),
)
CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def _read(path: str | os.PathLike[str], mode: str = "rb") -> Any:
    try:
        with open(path, mode) as f:
            return f.read()
    except OSError as exc:
        raise ConfigError(
            f"cannot read configuration file {os.fspath(path)!r}: {exc.strerror or exc}"
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(f"{os.fspath(path)!r} is not UTF-8 text") from None


def section(data: Any, path: str | os.PathLike[str]) -> Mapping[str, Any]:
    """The settings of a parsed file: its top level, or its ``s3`` section when that
    is all it holds (the ``s3:`` form of the ``s3`` library's ``s3.yaml``)."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"{os.fspath(path)!r} must hold a mapping of settings, not a {type(data).__name__}"
        )
    if set(data) == {"s3"}:
        data = data["s3"]
        if not isinstance(data, Mapping):
            raise ConfigError(f"{os.fspath(path)!r}: the s3 section must be a mapping of settings")
    if not all(isinstance(key, str) for key in data):
        raise ConfigError(f"{os.fspath(path)!r}: setting names must be strings")
    return data


def load_toml(path: str | os.PathLike[str]) -> Mapping[str, Any]:
    """The settings of a TOML file."""
    text = _read(path)
    try:
        data = tomllib.loads(text.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{os.fspath(path)!r} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{os.fspath(path)!r} is not valid TOML: {exc}") from None
    return section(data, path)


def load_yaml(path: str | os.PathLike[str]) -> Mapping[str, Any]:
    """The settings of a YAML file (PyYAML's safe loader: plain data, no tags)."""
    try:
        import yaml
    except ImportError:
        raise ConfigError(
            f"reading the YAML file {os.fspath(path)!r} needs PyYAML: pip install 'aios3[yaml]'"
        ) from None
    text = _read(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        # str(exc) quotes the offending line, which may hold a secret: say where, not what.
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ConfigError(f"{os.fspath(path)!r} is not valid YAML: {problem}{where}") from None
    return section(data, path)


_ENV_LINE = re.compile(r"(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}


def read_env_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """The variables of a ``.env`` file, as tutorials write them: ``NAME=value`` lines,
    an optional ``export``, ``#`` comments, values bare, ``'single'`` (literal) or
    ``"double"`` quoted (with ``\\n``, ``\\"`` escapes). Nothing is expanded."""
    text = _read(path, "r")
    found: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _ENV_LINE.fullmatch(line)
        if match is None:
            raise ConfigError(f"{os.fspath(path)!r}, line {number}: expected NAME=value")
        name, value = match.groups()
        parsed = _env_value(value)
        if parsed is None:
            raise ConfigError(
                f"{os.fspath(path)!r}, line {number}: the quoted value of {name} is not closed"
            )
        found[name] = parsed
    return found


def _env_value(value: str) -> str | None:
    """A value as written after ``=``; ``None`` for an unclosed quote."""
    if value[:1] == "'":
        end = value.find("'", 1)
        return None if end < 0 else value[1:end]
    if value[:1] == '"':
        out: list[str] = []
        i = 1
        while i < len(value):
            c = value[i]
            if c == "\\" and i + 1 < len(value):
                nxt = value[i + 1]
                out.append(_ESCAPES.get(nxt, "\\" + nxt))
                i += 2
                continue
            if c == '"':
                return "".join(out)
            out.append(c)
            i += 1
        return None
    comment = re.search(r"\s#", value)  # a bare value ends at " #"
    return (value[: comment.start()] if comment else value).strip()
