"""Sealed byte strings: the envelope of disk-cache entries and of exported artifacts.

A sealed byte string is a fixed header followed by a payload:

    offset  size  field
    0       6     magic (which kind of file this is, e.g. b"TJOBJ\\0")
    6       2     format version, little-endian unsigned
    8       32    key: what the payload is (a cache key, or the payload's SHA-256)
    40      8     payload length in bytes, little-endian unsigned
    48      32    MAC: HMAC-SHA256 under a secret of bytes 0..47 and the payload
    80      ...   payload

Invariants:
- `unseal` returns the payload only if every field checks out (magic, version, key when
  the caller expects one, exact length, MAC); otherwise it raises `Damaged` with the
  reason in words (truncated, another format version, damaged, ...). One definition of
  the checks, used by the disk cache (under its directory's private secret: entries
  written by anyone else are refused) and by exported artifacts (under a public secret:
  the MAC then detects damage, not forgery).
- Nothing in a sealed string is ever unpickled or executed by this module.
"""
from __future__ import annotations

import hashlib
import hmac
import struct

PREFIX = struct.Struct("<6sH32sQ")      # magic, format, key digest, payload length
HEADER = struct.Struct("<6sH32sQ32s")   # ... and the MAC of the prefix and the payload


class Damaged(ValueError):
    """A sealed byte string that does not check out; `reason` says how."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _mac(secret: bytes, magic: bytes, fmt: int, key: bytes, payload: bytes) -> bytes:
    m = hmac.new(secret, PREFIX.pack(magic, fmt, key, len(payload)), hashlib.sha256)
    m.update(payload)
    return m.digest()


def seal(magic: bytes, fmt: int, key: bytes, payload: bytes, secret: bytes) -> bytes:
    """`payload` with its header. Example: `unseal(seal(m, 1, k, b"x", s), m, 1, s) == b"x"`."""
    return HEADER.pack(magic, fmt, key, len(payload), _mac(secret, magic, fmt, key, payload)) \
        + payload


def header_key(data: bytes) -> bytes | None:
    """The key field of a sealed string (unchecked), or None if it is too short."""
    return HEADER.unpack_from(data)[2] if len(data) >= HEADER.size else None


def unseal(data: bytes, magic: bytes, fmt: int, secret: bytes, key: bytes | None = None,
           what: str = "file") -> bytes:
    """The payload of sealed string `data`, checked as the module docstring says; raises
    `Damaged` naming what is wrong (`what` names the kind of file in the reasons)."""
    if len(data) < HEADER.size:
        if not data or not magic.startswith(bytes(data[:len(magic)])):
            raise Damaged(f"not a {what}: it does not start with {magic!r}")
        raise Damaged(f"truncated: {len(data)} bytes, shorter than the {HEADER.size}-byte "
                      "header")
    got_magic, got_fmt, got_key, length, mac = HEADER.unpack_from(data)
    if got_magic != magic:
        raise Damaged(f"not a {what}: it does not start with {magic!r}")
    if got_fmt != fmt:
        raise Damaged(f"a {what} of format version {got_fmt}; this tracejit reads version "
                      f"{fmt} only")
    if key is not None and got_key != key:
        raise Damaged(f"a {what} of another key")
    payload = data[HEADER.size:]
    if length > len(payload):
        raise Damaged(f"truncated: its header promises {length} bytes of content, "
                      f"{len(payload)} are present")
    if length < len(payload):
        raise Damaged(f"{len(payload) - length} unexpected bytes after its end")
    if not hmac.compare_digest(mac, _mac(secret, magic, fmt, got_key, payload)):
        raise Damaged("damaged: its integrity check (HMAC-SHA256 of the header and the "
                      "content) fails")
    return bytes(payload)
