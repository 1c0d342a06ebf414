"""The tracejit version, defined once (here, so that every layer can read it)."""
from __future__ import annotations

VERSION = "0.1.0"
