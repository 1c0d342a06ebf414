"""The disk cache is a security boundary: a directory others can write to is not used (one
warning, never chmod-ed); links, FIFOs, huge, foreign and forged entries are neither
loaded nor waited for; entries are authenticated with a per-directory secret key, which
concurrent processes create once."""
from __future__ import annotations

import itertools
import os
import re
import stat
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import tracejit as tj
from tracejit.codegen import cachedir, cachefiles, objcache

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="needs to chown files")
NOBODY = 65534


_FRESH = itertools.count(101)    # small exact factors, unlikely in other tests


def compile_twice(cache: Path, monkeypatch: pytest.MonkeyPatch) -> list[warnings.WarningMessage]:
    """Compile and call two new functions with the disk cache at `cache`; check their
    results; return the warnings."""
    monkeypatch.setenv("TRACEJIT_CACHE_DIR", str(cache))
    monkeypatch.delenv("TRACEJIT_CACHE", raising=False)
    x = np.linspace(-1, 1, 5, dtype=np.float32)
    k = float(next(_FRESH))       # new IR for every call: a repeat would hit memory, not disk
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f = tj.compile(lambda x: tj.tanh(x * k) + 1.0)
        g = tj.compile(lambda x: x * k - 2.0)
        np.testing.assert_allclose(f(x).numpy(), np.tanh(x * np.float32(k)) + 1, atol=1e-6)
        np.testing.assert_allclose(g(x).numpy(), x * np.float32(k) - 2, atol=1e-5)
    return [w for w in caught if "disk cache" in str(w.message)]


def snapshot(d: Path) -> dict[str, tuple[int, int, int]]:
    return {str(p.relative_to(d)): (p.lstat().st_mode, p.lstat().st_uid, p.lstat().st_size)
            for p in [d, *d.rglob("*")]}


def private_cache(d: Path) -> Path:
    """A cache directory already in use by us: private, with its key."""
    with cachedir.opened(str(d), create=True) as root:
        assert root is not None and root.secret is not None
    cachedir._forget(str(d))            # forget the verdict: the test changes the directory
    return d


def world_writable_subdirs(d: Path) -> None:
    private_cache(d)
    for i in range(256):
        (d / f"{i:02x}").mkdir(mode=0o700)
        os.chmod(d / f"{i:02x}", 0o777)


def write_key(d: Path, data: bytes, mode: int) -> None:
    (d / cachedir.KEY_NAME).write_bytes(data)
    os.chmod(d / cachedir.KEY_NAME, mode)


SETUPS = {
    "writable by others": (lambda d: (d.mkdir(), os.chmod(d, 0o777)), "chmod 700"),
    "writable by its group": (lambda d: (d.mkdir(), os.chmod(d, 0o770)), "chmod 700"),
    "owned by another user": (lambda d: (d.mkdir(mode=0o755), os.chown(d, NOBODY, NOBODY)),
                              "of your own"),
    "a subdirectory writable by others": (world_writable_subdirs, "chmod 700"),
    "in a directory everyone can write": (
        lambda d: (os.chmod(d.parent, 0o777), d.mkdir(mode=0o700)),
        "only you can write"),
    "a key readable by others": (
        lambda d: (private_cache(d), write_key(d, os.urandom(32), 0o644)), "rm "),
    "a key of the wrong length": (
        lambda d: (private_cache(d), write_key(d, b"short", 0o600)), "rm "),
    "a key that is a symbolic link": (
        lambda d: (private_cache(d), (d / cachedir.KEY_NAME).unlink(),
                   (d / "elsewhere").write_bytes(os.urandom(32)),
                   (d / cachedir.KEY_NAME).symlink_to(d / "elsewhere")), "rm "),
    "a key owned by another user": (
        lambda d: (private_cache(d), os.chown(d / cachedir.KEY_NAME, NOBODY, NOBODY)), "rm "),
}


@pytest.mark.parametrize("setup", [pytest.param(k, marks=ROOT_ONLY) if "another user" in k
                                   else k for k in SETUPS])
def test_an_untrusted_cache_directory_is_not_used(tmp_path: Path, setup: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    make, fix = SETUPS[setup]
    d = tmp_path / "shared" / "cache"
    d.parent.mkdir(exist_ok=True)
    make(d)
    before = snapshot(d)
    caught = compile_twice(d, monkeypatch)
    assert len(caught) == 1, [str(w.message) for w in caught]           # once a process
    message = str(caught[0].message)
    assert str(d) in message and fix in message and "not used" in message
    assert caught[0].filename == __file__                    # the user's line, not ours
    assert snapshot(d) == before      # nothing written, nothing chmod-ed, nothing created
    assert compile_twice(d, monkeypatch) == []                           # still once


FILES = {
    "a private regular file": (lambda p: p.write_bytes(b"x" * 100), True),
    "a link to a private file": (lambda p: (p.with_name("t").write_bytes(b"x" * 100),
                                            p.symlink_to(p.with_name("t"))), False),
    "a link to /dev/zero": (lambda p: p.symlink_to("/dev/zero"), False),
    "a FIFO": (lambda p: os.mkfifo(p, 0o600), False),
    "a directory": (lambda p: p.mkdir(mode=0o700), False),
    "a file others can write": (lambda p: (p.write_bytes(b"x"), os.chmod(p, 0o666)), False),
    "a file larger than the bound": (lambda p: p.write_bytes(b"x" * 101), False),
    "a sparse 4 GiB file": (lambda p: open(p, "wb").truncate(2**32), False),
    "a file of another user": (lambda p: (p.write_bytes(b"x"), os.chown(p, NOBODY, NOBODY)),
                               False),
}


@pytest.mark.parametrize("kind", [pytest.param(k, marks=ROOT_ONLY) if "another user" in k
                                  else k for k in FILES])
def test_only_private_regular_files_are_read(tmp_path: Path, kind: str) -> None:
    make, readable = FILES[kind]
    os.chmod(tmp_path, 0o700)
    make(tmp_path / "entry.o")
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        got = cachefiles.read_private(fd, "entry.o", 100, str(tmp_path))   # never blocks
    finally:
        os.close(fd)
    assert (None if got is None else got[0]) == (b"x" * 100 if readable else None)


def test_entries_are_authenticated_with_the_directory_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    key = "cd" * 32
    payload = os.urandom(5000)
    monkeypatch.setenv("TRACEJIT_CACHE_DIR", str(a))
    monkeypatch.delenv("TRACEJIT_CACHE", raising=False)
    objcache.store(key, payload)
    assert objcache.load(key) == payload
    secret_a = (a / cachedir.KEY_NAME).read_bytes()
    entry = (a / key[:2] / f"{key}.o").read_bytes()
    assert objcache._check(entry, key, secret_a) == payload
    assert objcache._check(entry, key, os.urandom(32)) is None
    assert objcache._check(entry, "ce" * 32, secret_a) is None      # renamed to another key
    # The same entry copied into another cache (another key file) is not loaded there.
    monkeypatch.setenv("TRACEJIT_CACHE_DIR", str(b))
    objcache.store("00" * 32, b"makes the directory and its key")
    (b / key[:2]).mkdir(mode=0o700)
    (b / key[:2] / f"{key}.o").write_bytes(entry)
    os.chmod(b / key[:2] / f"{key}.o", 0o600)
    assert (b / cachedir.KEY_NAME).read_bytes() != secret_a
    assert objcache.load(key) is None
    # An entry forged by someone who knows the format but not the key is not loaded.
    (b / key[:2] / f"{key}.o").write_bytes(objcache.pack(key, payload, os.urandom(32)))
    assert objcache.load(key) is None
    assert stat.S_IMODE((a / cachedir.KEY_NAME).stat().st_mode) == 0o600


def test_a_deleted_cache_directory_is_made_again(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    d = tmp_path / "c"
    monkeypatch.setenv("TRACEJIT_CACHE_DIR", str(d))
    monkeypatch.delenv("TRACEJIT_CACHE", raising=False)
    objcache.store("ab" * 32, b"first")
    subprocess.run(["rm", "-rf", str(d)], check=True)
    assert objcache.load("ab" * 32) is None
    objcache.store("ab" * 32, b"second")
    assert objcache.load("ab" * 32) == b"second"
    assert stat.S_IMODE(d.stat().st_mode) == 0o700


def test_without_hard_links_the_key_is_created_in_place(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_links(*args: object, **kwargs: object) -> None:
        raise PermissionError(1, "Operation not permitted")
    monkeypatch.setattr(os, "link", no_links)
    with cachedir.opened(str(tmp_path / "c"), create=True) as root:
        assert root is not None and root.secret is not None
        secret = root.secret
    key = tmp_path / "c" / cachedir.KEY_NAME
    assert key.read_bytes() == secret and stat.S_IMODE(key.stat().st_mode) == 0o600
    assert [p.name for p in (tmp_path / "c").iterdir()] == [cachedir.KEY_NAME]  # no tmp file


RACE = textwrap.dedent("""
    import sys, time
    from tracejit.codegen import cachedir
    start = float(sys.argv[2])
    while time.time() < start:
        pass
    with cachedir.opened(sys.argv[1], create=True) as root:
        print(root.secret.hex())
""")


def test_processes_creating_the_key_at_once_agree_on_one(tmp_path: Path) -> None:
    d = tmp_path / "c"
    start = time.time() + 3.0
    procs = [subprocess.Popen([sys.executable, "-c", RACE, str(d), str(start)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
    keys = {out.strip() for out, _ in outs}
    assert keys == {(d / cachedir.KEY_NAME).read_bytes().hex()}
    assert sorted(p.name for p in d.iterdir()) == [cachedir.KEY_NAME]


PROGRAM = textwrap.dedent("""
    import logging, sys
    import numpy as np
    import tracejit as tj
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(message)s")
    x = np.linspace(-1, 1, 7, dtype=np.float32)
    for name, f in [("zero", lambda x: tj.tanh(x) * 3.0), ("fifo", lambda x: x * x + 0.5),
                    ("huge", lambda x: tj.exp(x) - 1.0), ("copied", lambda x: x / 3.0),
                    ("forged", lambda x: x * 4.0 + 2.0)]:
        logging.getLogger("tracejit").debug("function %s", name)
        print(name, tj.compile(f)(x).numpy().tolist())
""")
OTHER = PROGRAM.replace("x * 4.0 + 2.0", "x * 0.0 - 7.0")     # what a forger would run


def run(cache: Path, program: str = PROGRAM) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TRACEJIT_CACHE_DIR": str(cache)}
    env.pop("TRACEJIT_CACHE", None)

    def limit_memory() -> None:     # a regression must not eat the machine's memory
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (4 * 2**30, 4 * 2**30))
    r = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                       timeout=120, env=env, preexec_fn=limit_memory)
    assert r.returncode == 0, r.stderr
    return r


def stored(r: subprocess.CompletedProcess[str], cache: Path) -> dict[str, Path]:
    """The entry file each function of `PROGRAM` was stored in, by function name."""
    out, name = {}, None
    for line in r.stderr.splitlines():
        if line.startswith("function "):
            name = line.split()[1]
        m = re.match(r"disk cache store ([0-9a-f]{16})", line)
        if m and name:
            (out[name],) = cache.glob(f"{m.group(1)[:2]}/{m.group(1)}*.o")
    return out


def test_planted_files_are_neither_loaded_nor_waited_for(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    good = run(a)
    entries = stored(good, a)
    assert sorted(entries) == ["copied", "fifo", "forged", "huge", "zero"]
    other = run(b, OTHER)
    forger = stored(other, b)
    assert other.stdout != good.stdout           # the forger's code computes otherwise
    # In the private directory a, plant what only its owner could (or a bug would) put.
    entries["zero"].unlink()
    entries["zero"].symlink_to("/dev/zero")
    entries["fifo"].unlink()
    os.mkfifo(entries["fifo"], 0o600)
    with open(entries["huge"], "r+b") as fh:
        fh.truncate(2**31)                                 # sparse: no disk used
    entries["copied"].write_bytes(forger["copied"].read_bytes())   # from another cache
    forged_code = objcache._check(forger["forged"].read_bytes(), forger["forged"].stem,
                                  (b / cachedir.KEY_NAME).read_bytes())
    assert forged_code is not None      # b's machine code for x * 0 - 7, under a's key
    entries["forged"].write_bytes(objcache.pack(entries["forged"].stem, forged_code,
                                                os.urandom(32)))
    again = run(a)
    assert again.stdout == good.stdout                     # nothing planted ran
    assert "disk cache hit" not in again.stderr and "Warning" not in again.stderr
    assert again.stderr.count("disk cache store") == 5     # each rebuilt and replaced
    secret = (a / cachedir.KEY_NAME).read_bytes()
    for p in entries.values():
        assert stat.S_ISREG(p.lstat().st_mode) and p.stat().st_size < 2**20
        assert objcache._check(p.read_bytes(), p.stem, secret) is not None
