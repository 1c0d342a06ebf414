"""Every `TRACEJIT_*` environment variable, read in this one module with one spelling rule.

Invariants:
- `SETTINGS` lists every variable tracejit reads; nothing else in `tracejit`, `codegen`
  or `ir` reads `os.environ` (a test greps for it). The README's table of environment
  variables is `table()`, checked by a test.
- A switch is on for `1/true/yes/on` and off for `0/false/no/off` (any case, surrounding
  blanks ignored); unset or empty means its default. Any other value raises
  `SettingError` naming the variable, never a silent guess. Numbers follow the same rule:
  a value that does not parse raises.
- Values are read when used, not cached, so a change of the environment (a test's
  `monkeypatch.setenv`) takes effect at the next use; the one exception is
  `TRACEJIT_DISABLE_JIT`, which `tj.config` reads once, at import.

This module sits in `ir` (imports only the standard library) so that `codegen` and the
user API can both import it without breaking the layering `tracejit -> codegen -> ir`.

    $ TRACEJIT_BLAS=off python train.py     # switch("TRACEJIT_BLAS") is False
    $ TRACEJIT_BLAS=maybe python train.py   # SettingError: TRACEJIT_BLAS='maybe': expected ...
"""
from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

from .errors import SettingError

T = TypeVar("T", int, float)

__all__ = ["SETTINGS", "Setting", "SettingError", "cache_home", "integer", "number", "path",
           "switch", "table"]

ON = ("1", "true", "yes", "on")
OFF = ("0", "false", "no", "off")


@dataclass(frozen=True)
class Setting:
    """One environment variable: its name, kind, default and what it does (for the docs)."""

    name: str
    kind: Literal["switch", "number", "integer", "path"]
    default: str
    effect: str


SETTINGS: dict[str, Setting] = {s.name: s for s in (
    Setting("TRACEJIT_DISABLE_JIT", "switch", "off",
            "on: compiled functions run as plain Python on NumPy (like "
            "`tj.config.run_functions_eagerly(True)`); read once, at import"),
    Setting("TRACEJIT_CACHE", "switch", "on",
            "off: no disk cache (every new process compiles again)"),
    Setting("TRACEJIT_CACHE_DIR", "path", "`$XDG_CACHE_HOME/tracejit` or `~/.cache/tracejit`",
            "where the disk cache lives"),
    Setting("TRACEJIT_CACHE_MAX_MB", "number", "1024",
            "the disk cache's size limit in megabytes (least recently used entries go first)"),
    Setting("TRACEJIT_BLAS", "switch", "on",
            "off: matrix products never call NumPy's OpenBLAS, only the builtin kernel"),
    Setting("TRACEJIT_NUM_THREADS", "integer",
            "the CPUs this process may use (its affinity mask, capped by a cgroup CPU quota)",
            "threads, the calling one included, that a fused loop of at least 262,144 "
            "elements is split across (results are the same bit for bit for any count) "
            "and that the builtin matrix kernel uses (at most 2); 1 runs everything on "
            "the calling thread and starts no thread"),
    Setting("TRACEJIT_PREFETCH", "switch", "on",
            "off: `import tracejit` does not start compiling the thread pool and the "
            "float32 matrix kernel on a background thread when the disk cache lacks them "
            "(the first compiled function that needs them compiles them)"),
    Setting("TRACEJIT_COMPILE_WORKERS", "integer",
            "the CPUs this process may use minus 1, at most 3",
            "worker processes that compile the parts of a large function at once (LLVM "
            "runs in them while this process lowers and compiles its own part); 0 "
            "starts none and compiles each function as one module (no second part on a "
            "thread either)"),
)}


def _raw(name: str, kind: str) -> str:
    """The stripped text of variable `name`, which must be a setting of this kind."""
    s = SETTINGS.get(name)
    if s is None:
        raise KeyError(f"{name} is not a tracejit setting (known: {', '.join(SETTINGS)})")
    if s.kind != kind:
        raise KeyError(f"{name} is a {s.kind} setting, not a {kind}")
    return os.environ.get(name, "").strip()


def switch(name: str) -> bool:
    """The value of switch `name`: its default when unset or empty.

    Example: `switch("TRACEJIT_CACHE")` is False after `TRACEJIT_CACHE=off`.
    """
    raw = _raw(name, "switch").lower()
    if not raw:
        return SETTINGS[name].default == "on"
    if raw in ON:
        return True
    if raw in OFF:
        return False
    raise SettingError(f"{name}={os.environ[name]!r}: expected one of "
                       f"{'/'.join(ON)} (on) or {'/'.join(OFF)} (off)")


def number(name: str) -> float | None:
    """The number in `name`, or None when unset or empty (the caller's default applies).

    Example: `number("TRACEJIT_CACHE_MAX_MB")` is 0.5 after `TRACEJIT_CACHE_MAX_MB=0.5`.
    """
    return _parse(name, "number", float, "a number", "a finite number >= 0",
                  lambda v: math.isfinite(v) and v >= 0)


def integer(name: str) -> int | None:
    """The integer (>= 0) in `name`, or None when unset or empty.

    Example: `integer("TRACEJIT_NUM_THREADS")` is 1 after `TRACEJIT_NUM_THREADS=1`.
    """
    return _parse(name, "integer", int, "an integer", "an integer >= 0", lambda v: v >= 0)


def _parse(name: str, kind: str, convert: Callable[[str], T], what: str, bounded: str,
           ok: Callable[[T], bool]) -> T | None:
    raw = _raw(name, kind)
    if not raw:
        return None
    try:
        value = convert(raw)
    except ValueError:
        raise SettingError(f"{name}={os.environ[name]!r}: expected {what}") from None
    if not ok(value):
        raise SettingError(f"{name}={os.environ[name]!r}: expected {bounded}")
    return value


def path(name: str) -> str | None:
    """The path in `name` with `~` expanded, or None when unset or empty."""
    raw = _raw(name, "path")
    return os.path.expanduser(raw) if raw else None


def cache_home() -> str:
    """The user's cache folder: `$XDG_CACHE_HOME`, else `~/.cache` (the XDG rule)."""
    return os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")


def table() -> str:
    """The Markdown table of every setting, as the README shows it."""
    rows = ["| variable | kind | default | effect |", "| --- | --- | --- | --- |"]
    for s in SETTINGS.values():
        rows.append(f"| `{s.name}` | {s.kind} | {s.default} | {s.effect} |")
    return "\n".join(rows) + "\n"
