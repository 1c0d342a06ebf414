"""tracejit: TensorFlow-style autodiff to any order, compiled to native code."""
from __future__ import annotations

__version__ = "0.1.0"
