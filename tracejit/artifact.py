"""The file format of exported functions (`f.export`, `tj.load`): a manifest and sections.

An artifact is one byte string (a `.tjx` file, or the bytes a pickle carries), a
`codegen.sealed` string:

    header   magic b"TJEXP\\0", format version `FORMAT`, key = SHA-256 of the content,
             content length, HMAC-SHA256 of header and content under the public key
             `SECRET` (so it detects damage, not forgery: load only artifacts you trust,
             as you would a pickle, since their object code runs in your process; or load
             with `object_code=False`, which compiles the stored IR instead)
    content  8 bytes: the manifest's length M (little-endian)
             M bytes: the manifest, UTF-8 JSON (below)
             the sections, back to back; the manifest names each by [offset, length]
             relative to the end of the manifest

The manifest (JSON object):

    format        FORMAT
    name          the function's name
    params        [[name, inspect.Parameter kind, has a default], ...] of the Python function
    built_with    {"tracejit", "python", "numpy", "llvmlite", "cpu", "features", "triple"}
    variables     [{"name", "dtype", "shape", "trainable", "value": array or null}, ...]
    signatures    one per exported call signature:
      in_tree     the argument structure (`tree_to_json`)
      leaves      per argument leaf: {"kind": "tensor", "shape", "dtype"} |
                  {"kind": "variable", "shape", "dtype", "trainable", "first"} |
                  {"kind": "static", "type", "value"} (a float's "value" is its 8 bytes hex)
      out_tree    the result structure; out_kind per result leaf: ["r", index] a result of
                  the code, ["t", array] a constant, ["c", JSON value] a Python value
      n_out       results of the code before the values of assigned Variables
      n_checks    results of its `assert`s, after those values (absent: 0)
      captures    per parameter after the tensor arguments: {"variable": index} |
                  {"leaf": argument leaf index} | {"constant": array}
      assigned    per assigned Variable: {"variable": index} | {"leaf": index}
      forward     {"ir": section, "object": section or null, "object_key": hex}
      backward    the same plus "connected" (bools), or null
    libraries     [{"symbol", "key", "object": section}]: object code of the runtime
                  library the object code calls (`codegen.runtime`), same reuse rule
    sections      {name: [offset, length]}

An array is {"dtype": NumPy dtype string, little-endian, "shape": [...], "section": name}.
The IR sections hold the optimized Functions as `ir.printer` prints them; an object
section is the host object code `codegen` made of that Function, usable only where
`codegen.objcache.key_for(ir)` equals "object_key" (same CPU, versions and install).

Invariants: `unpack` returns a manifest and sections only from a whole, undamaged
artifact of this format version, and raises `ArtifactError` otherwise; nothing is ever
unpickled, and arrays are rebuilt only from plain numeric dtypes.
"""
from __future__ import annotations

import hashlib
import json
import struct
from typing import Any

import numpy as np

from .codegen import sealed
from .errors import ArtifactError

MAGIC = b"TJEXP\x00"
FORMAT = 1
SECRET = b"tracejit exported artifact"
_LENGTH = struct.Struct("<Q")
_DTYPE_KINDS = "biuf"


class Writer:
    """Collects sections for `pack`: `add(name, data)` returns the section's name."""

    def __init__(self) -> None:
        self.sections: dict[str, bytes] = {}

    def add(self, name: str, data: bytes) -> str:
        self.sections[name] = data
        return name

    def array(self, name: str, a: Any) -> dict[str, Any]:
        """An array's manifest entry, its bytes stored as section `name`."""
        a = np.asarray(a)
        if a.dtype.kind not in _DTYPE_KINDS:
            raise TypeError(f"an exported array must be numeric, got dtype {a.dtype}")
        dt = a.dtype.newbyteorder("<") if a.dtype.byteorder == ">" else a.dtype
        data = np.ascontiguousarray(a, dtype=dt).tobytes()
        return {"dtype": dt.str, "shape": list(a.shape), "section": self.add(name, data)}


def pack(manifest: dict[str, Any], w: Writer) -> bytes:
    """The artifact of `manifest` and the sections of `w`."""
    offsets: dict[str, list[int]] = {}
    at = 0
    for name, data in w.sections.items():
        offsets[name] = [at, len(data)]
        at += len(data)
    text = json.dumps({**manifest, "format": FORMAT, "sections": offsets},
                      separators=(",", ":"), allow_nan=False).encode()
    content = b"".join([_LENGTH.pack(len(text)), text, *w.sections.values()])
    return sealed.seal(MAGIC, FORMAT, hashlib.sha256(content).digest(), content, SECRET)


def digest(data: bytes) -> str:
    """The content digest an artifact carries in its header (hex), unchecked."""
    key = sealed.header_key(data)
    return key.hex() if key is not None else ""


class Reader:
    """A checked artifact: `manifest` and its sections (`section(name)`, `array(meta)`)."""

    def __init__(self, data: bytes, source: str):
        self.source = source
        try:
            content = sealed.unseal(data, MAGIC, FORMAT, SECRET, what="tracejit artifact")
        except sealed.Damaged as e:
            raise ArtifactError(f"{source} is refused: {e.reason}. Nothing in it was "
                                "loaded or run.") from None
        content_digest = hashlib.sha256(content).digest()
        if content_digest != sealed.header_key(data):
            raise ArtifactError(f"{source} is refused: damaged: its content digest does "
                                "not match")
        self.digest = content_digest.hex()
        try:
            (n,) = _LENGTH.unpack_from(content)
            self.manifest: dict[str, Any] = json.loads(content[8:8 + n].decode())
            self._blobs = memoryview(content)[8 + n:]
            self._sections: dict[str, list[int]] = self.manifest["sections"]
            if self.manifest["format"] != FORMAT:
                raise ValueError("format mismatch")
        except (ValueError, KeyError, TypeError, struct.error) as e:
            raise self.malformed(f"its manifest cannot be read ({e})") from None

    def malformed(self, what: str) -> ArtifactError:
        return ArtifactError(f"{self.source} is refused: malformed: {what}")

    def section(self, name: str) -> bytes:
        try:
            at, n = self._sections[name]
        except (KeyError, TypeError, ValueError):
            raise self.malformed(f"no section {name!r}") from None
        if not (isinstance(at, int) and isinstance(n, int) and 0 <= at
                and at + n <= len(self._blobs)):
            raise self.malformed(f"section {name!r} lies outside the file")
        return bytes(self._blobs[at:at + n])

    def text(self, name: str) -> str:
        return self.section(name).decode()

    def array(self, meta: Any) -> np.ndarray:
        """The array a manifest entry describes (a new, writable array)."""
        try:
            dt = np.dtype(meta["dtype"])
            shape = tuple(int(d) for d in meta["shape"])
            data = self.section(meta["section"])
        except (KeyError, TypeError, ValueError) as e:
            raise self.malformed(f"an array entry {meta!r} ({e})") from None
        if dt.kind not in _DTYPE_KINDS or dt.hasobject:
            raise self.malformed(f"an array of dtype {dt}")
        if len(data) != dt.itemsize * int(np.prod(shape, dtype=np.int64)):
            raise self.malformed(f"an array of shape {shape} and dtype {dt} in "
                                 f"{len(data)} bytes")
        return np.frombuffer(data, dt).reshape(shape).astype(dt.newbyteorder("="))
