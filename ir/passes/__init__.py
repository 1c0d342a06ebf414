"""IR-to-IR passes; each takes a Function and returns a new one (inputs are never mutated)."""
from __future__ import annotations

from .dce import dce

__all__ = ["dce"]
