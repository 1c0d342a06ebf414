"""Process-wide caches: each bounded, locked, and cleared together by `clear_all()`.

Invariants:
- Every cache or memo that lives as long as the process (module-level state in `ir`,
  `codegen` or the user API) is a `Memo` here or registers its own clearing function
  with `on_clear`, so `tj.clear_caches()` (which calls `clear_all`) leaves no stale entry
  behind and tests never reset private flags by hand.
- A `Memo` holds at most `limit` entries: when full, it is emptied before the next entry
  goes in (entries are cheap to rebuild; a clock or LRU would cost more per hit than it
  saves). Each access holds the memo's lock, so threads that share it never see a half
  update; the value is computed outside the lock (two threads may both build an entry,
  and the second one stored wins, which is harmless for pure functions of the key).
- Nothing here ever evicts state that other objects point into (native code, loaded
  libraries): such state is bounded by construction and is not registered.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["Memo", "clear_all", "on_clear", "registered"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_lock = threading.Lock()
_clearers: dict[str, Callable[[], None]] = {}


def on_clear(name: str, clear: Callable[[], None]) -> None:
    """Register `clear` to run in `clear_all()` under `name` (a later registration of the
    same name replaces the earlier one, so reloading a module does not add a second).

    Example: `on_clear("blas library search", _forget_blas)`.
    """
    with _lock:
        _clearers[name] = clear


def registered() -> list[str]:
    """The names of every registered cache, in registration order."""
    with _lock:
        return list(_clearers)


def clear_all() -> None:
    """Empty every registered cache (in-memory only; the disk cache stays)."""
    with _lock:
        clears = list(_clearers.values())
    for clear in clears:
        clear()


class Memo(Generic[K, V]):
    """A bounded, locked dictionary registered with `clear_all` under `name`.

        >>> m: Memo[int, str] = Memo("example squares", limit=2)
        >>> m.put(3, "9")
        '9'
        >>> m.get(3), m.get(4)
        ('9', None)
    """

    def __init__(self, name: str, limit: int = 4096, *, register: bool = True) -> None:
        self.name = name
        self.limit = limit
        self._data: dict[K, V] = {}
        self._lock = threading.Lock()
        if register:
            on_clear(name, self.clear)

    def get(self, key: K) -> V | None:
        """The value stored for `key`, or None."""
        with self._lock:
            return self._data.get(key)

    def put(self, key: K, value: V) -> V:
        """Store `value` for `key` (emptying the memo first if it is full); returns it."""
        with self._lock:
            if key not in self._data and len(self._data) >= self.limit:
                self._data.clear()
            self._data[key] = value
        return value

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)

    def __repr__(self) -> str:
        return f"<Memo {self.name!r}: {len(self)}/{self.limit}>"
