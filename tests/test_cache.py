"""The persistent object-code cache: fresh processes skip LLVM; damaged, foreign and
concurrently written entries are rebuilt, never trusted; the key covers the install and
the host; the directory is private; logging says what happened and why."""
from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import tracejit as tj
from tracejit.codegen import cachedir, objcache

PROGRAM = textwrap.dedent("""
    import logging, sys
    import numpy as np
    import tracejit as tj
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(message)s")

    @tj.compile
    def step(w, x):
        with tj.GradientTape() as t:
            t.watch(w)
            loss = tj.reduce_sum(tj.tanh(x * w) ** 2)
        return loss, t.gradient(loss, w)

    w = np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3)
    x = np.linspace(0, 1, 12, dtype=np.float32).reshape(4, 3)
    loss, g = step(w, x)
    print(repr(float(loss)), repr(g.numpy().tolist()))
""")


def run(cache_dir: Path, env: dict[str, str] | None = None, program: str = PROGRAM
        ) -> subprocess.CompletedProcess[str]:
    """Run `program` in a fresh process on disk cache `cache_dir`. The import's prefetch
    of the runtime libraries (`runtime.prefetch`, tests/codegen/test_prefetch.py) is off
    unless `env` sets `TRACEJIT_PREFETCH`: these tests follow the libraries a first call
    compiles, loads and stores itself."""
    e = {**os.environ, "TRACEJIT_CACHE_DIR": str(cache_dir), "TRACEJIT_PREFETCH": "off",
         **(env or {})}
    e.pop("TRACEJIT_CACHE", None) if env is None or "TRACEJIT_CACHE" not in env else None
    r = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                       timeout=120, env=e)
    assert r.returncode == 0, r.stderr
    return r


def entries(d: Path) -> list[Path]:
    return sorted(p for p in d.rglob("*.o") if not p.name.startswith(".tmp"))


def test_fresh_process_hits_the_disk_cache(tmp_path: Path) -> None:
    first = run(tmp_path)
    assert "disk cache miss" in first.stderr and "disk cache store" in first.stderr
    assert "disk cache alias miss" in first.stderr and "disk cache alias store" in first.stderr
    assert len(entries(tmp_path)) == 2      # the object code, the trace's alias of its key
    second = run(tmp_path)
    assert "disk cache alias hit" in second.stderr and "disk cache hit" in second.stderr
    assert "disk cache store" not in second.stderr and "store" not in second.stderr
    assert second.stdout == first.stdout


def test_a_hit_skips_the_ir_passes_until_they_are_needed(tmp_path: Path) -> None:
    """Found by the traced Function, the code runs without the IR passes; a tape over the
    call (which records the optimized Function) still gets it, and the same gradient."""
    program = PROGRAM + textwrap.dedent("""
        import tracejit.ir.passes as passes
        calls = []
        original = passes.optimize
        passes.optimize = lambda fn, **kw: calls.append(fn.name) or original(fn, **kw)
        step2 = tj.compile(step.python_function)
        loss2, g2 = step2(w, x)
        print("passes", len(calls), float(loss2) == float(loss))
        with tj.GradientTape() as tape:
            wt = tj.constant(w)
            tape.watch(wt)
            loss3, _ = step2(wt, x)
        print("tape", len(calls) > 0, tape.gradient(loss3, wt).numpy().tolist()
              == g.numpy().tolist())
    """)
    first = run(tmp_path, program=program)
    assert "with LLVM" in first.stderr and "passes 0 True" in first.stdout  # step's code
    second = run(tmp_path, program=program)
    assert "passes 0 True" in second.stdout and "tape True True" in second.stdout
    assert "with LLVM" not in second.stderr


def test_a_damaged_alias_or_a_missing_object_falls_back(tmp_path: Path) -> None:
    good = run(tmp_path)
    alias, obj = sorted(entries(tmp_path), key=lambda p: p.stat().st_size)
    alias.write_bytes(alias.read_bytes()[:-1])
    r = run(tmp_path)               # found by the optimized Function, alias written again
    assert "disk cache alias entry" in r.stderr and "corrupt or foreign" in r.stderr
    assert "disk cache hit" in r.stderr and "with LLVM" not in r.stderr
    assert "disk cache alias store" in r.stderr and r.stdout == good.stdout
    obj.unlink()
    r = run(tmp_path)               # the alias names object code that is gone: compiled
    assert "disk cache alias hit" in r.stderr and "with LLVM" in r.stderr
    assert r.stdout == good.stdout and len(entries(tmp_path)) == 2


LAPACK = textwrap.dedent("""
    import logging, sys
    import numpy as np
    import tracejit as tj
    from tracejit.codegen import blas
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(message)s")
    step = tj.compile(lambda x: tj.reduce_sum(tj.tanh(x) * 2.0))
    print("other", step(np.ones(3, np.float32)).numpy(), sorted(blas._lapack_registered))
    a = np.array([[4.0, 2.0, 0.6], [2.0, 5.0, 1.0], [0.6, 1.0, 3.0]])
    print(repr(tj.compile(tj.linalg.cholesky)(a).numpy().tolist()))
    print("linked", len(blas._lapack_registered))
""")


def test_lapack_symbols_are_registered_when_code_that_calls_them_links(tmp_path: Path
                                                                       ) -> None:
    """Compiled or loaded from the disk cache, code calling LAPACK links (its symbols are
    registered first); code that calls none leaves them unregistered (0.2 ms saved)."""
    first = run(tmp_path, program=LAPACK)
    second = run(tmp_path, program=LAPACK)
    assert "with LLVM" in first.stderr and "with LLVM" not in second.stderr
    assert second.stdout == first.stdout and "other 4.569" in first.stdout
    assert "[]" in first.stdout.splitlines()[0] and "linked 1" in first.stdout
    chol = np.linalg.cholesky(np.array([[4.0, 2.0, 0.6], [2.0, 5.0, 1.0], [0.6, 1.0, 3.0]]))
    assert np.allclose(eval(first.stdout.splitlines()[1]), chol, rtol=1e-12)


MATMUL = PROGRAM.replace("tj.tanh(x * w)", "tj.tanh(tj.matmul(x, w))").replace(
    "x = np.linspace(0, 1, 12, dtype=np.float32).reshape(4, 3)",
    "x = np.linspace(0, 1, 8, dtype=np.float32).reshape(2, 4)")

# The same in float64: the other GEMM library (and its joint entry with the pool).
MATMUL_F64 = MATMUL.replace("np.float32", "np.float64")


def test_the_shared_gemm_kernel_is_cached_and_damage_is_rebuilt(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A program that multiplies matrices on the builtin kernel (TRACEJIT_BLAS=0) links the
    # runtime library (codegen/runtime.py): a second disk entry, also hit by a fresh
    # process; a damaged library entry is rebuilt, and the results never change.
    assert MATMUL != PROGRAM
    env = {"TRACEJIT_BLAS": "0"}
    first = run(tmp_path, env, MATMUL)
    assert "compiling runtime library" in first.stderr
    # The program (and its trace's alias), the kernel, the pool it splits on, and the
    # joint entry of the kernel and the pool.
    assert len(entries(tmp_path)) == 5
    second = run(tmp_path, env, MATMUL)
    assert "loaded from joint object code" in second.stderr and "store" not in second.stderr
    assert "with LLVM" not in second.stderr and second.stdout == first.stdout
    from tracejit.codegen import runtime, runtime_build, runtime_pair
    monkeypatch.setenv("TRACEJIT_BLAS", "0")        # the keys the program's process uses
    monkeypatch.setenv("TRACEJIT_CACHE_DIR", str(tmp_path))
    gemm = runtime.symbol("f32")
    lib = objcache._path(runtime_build.key("f32", gemm))
    pair = objcache._path(runtime_pair.key("f32", gemm))
    assert lib in entries(tmp_path) and pair in entries(tmp_path)
    assert pair.stat().st_size > lib.stat().st_size
    # A damaged joint entry: both load from their own entries, and it is written again.
    pair.write_bytes(pair.read_bytes()[:1000])
    third = run(tmp_path, env, MATMUL)
    assert "corrupt or foreign" in third.stderr and "with LLVM" not in third.stderr
    assert "disk cache (runtime libraries) store" in third.stderr
    assert "runtime library" in third.stderr and third.stdout == first.stdout
    assert "loaded from joint object code" in run(tmp_path, env, MATMUL).stderr
    # A damaged kernel (and joint entry) is compiled again.
    lib.write_bytes(lib.read_bytes()[:1000])
    pair.write_bytes(pair.read_bytes()[:1000])
    fourth = run(tmp_path, env, MATMUL)
    assert "compiling runtime library" in fourth.stderr and fourth.stdout == first.stdout
    assert "loaded from joint object code" in run(tmp_path, env, MATMUL).stderr


@pytest.mark.parametrize("pair", [("f32", "pool"), ("f64", "f32")])
def test_a_joint_runtime_entry_of_the_wrong_content_is_not_linked(tmp_path: Path,
                                                                  pair: tuple[str, str]) -> None:
    """A joint entry that checks out but does not hold the pool and then the kernel (as
    a bug writing it would leave: the kernel first, or another dtype's kernel, whose code
    also names the pool, in the pool's place) is refused before anything is linked (the
    link would abort the process), and rewritten."""
    env = {"TRACEJIT_BLAS": "0"}
    run(tmp_path, env, MATMUL_F64)
    first = run(tmp_path, env, MATMUL)
    swap = textwrap.dedent(f"""
        from tracejit.codegen import engine, objcache, runtime, runtime_build, runtime_pair
        names = {{d: runtime.pool_symbol() if d == "pool" else runtime.symbol(d)
                  for d in {pair!r}}}
        objs = [objcache.load(runtime_build.key(d, names[d])) for d in {pair!r}]
        assert None not in objs
        objcache.store(runtime_pair.key("f32", runtime.symbol("f32")), engine.bundle(objs))
    """)
    run(tmp_path, env, swap)
    r = run(tmp_path, env, MATMUL)
    assert "joint object code cannot be loaded" in r.stderr and "with LLVM" not in r.stderr
    assert "disk cache (runtime libraries) store" in r.stderr and r.stdout == first.stdout
    assert "loaded from joint object code" in run(tmp_path, env, MATMUL).stderr



def test_a_new_function_finds_the_kernel_in_the_joint_entry_after_eviction(
        tmp_path: Path) -> None:
    """Hits of the joint entry keep it recent, not the libraries' own entries, so eviction
    takes those first: a new function that multiplies matrices then links the kernel
    and the pool from the joint entry, on a quiet machine too (no LLVM for them)."""
    env = {"TRACEJIT_BLAS": "0"}
    quiet = "from tracejit.codegen import workers\nworkers.core_idle = lambda: True\n"
    run(tmp_path, env, quiet + MATMUL)
    evict = textwrap.dedent("""
        from tracejit.codegen import objcache, runtime, runtime_build
        for key in (runtime_build.key("f32", runtime.symbol("f32")),
                    runtime_build.key("pool", runtime.pool_symbol())):
            objcache._path(key).unlink()
    """)
    run(tmp_path, env, evict)
    new = MATMUL.replace("tj.tanh(tj.matmul(x, w))", "tj.sin(tj.matmul(x, w))")
    assert new != MATMUL
    r = run(tmp_path, env, quiet + new)
    assert "loaded from joint object code" in r.stderr
    assert "compiling runtime library" not in r.stderr

def test_cache_can_be_turned_off(tmp_path: Path) -> None:
    r = run(tmp_path, {"TRACEJIT_CACHE": "0"})
    assert "disk cache" not in r.stderr
    assert entries(tmp_path) == []


def test_directory_and_files_are_private(tmp_path: Path) -> None:
    d = tmp_path / "c"
    run(d)
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    assert stat.S_IMODE((d / cachedir.KEY_NAME).stat().st_mode) == 0o600
    for p in entries(d):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
        assert stat.S_IMODE(p.parent.stat().st_mode) == 0o700


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "empty", "other_key"])
def test_damaged_entries_are_rebuilt_not_trusted(tmp_path: Path, damage: str) -> None:
    good = run(tmp_path)
    entry = max(entries(tmp_path), key=lambda p: p.stat().st_size)     # the object code
    data = entry.read_bytes()
    if damage == "truncate":
        entry.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        b = bytearray(data)
        b[-100] ^= 0xFF
        entry.write_bytes(bytes(b))
    elif damage == "garbage":
        entry.write_bytes(os.urandom(len(data)))
    elif damage == "empty":
        entry.write_bytes(b"")
    else:  # a valid entry of another key, copied under this name
        other = bytearray(data)
        other[8:40] = bytes(32)
        entry.write_bytes(bytes(other))
    r = run(tmp_path)
    assert "corrupt or foreign" in r.stderr and "disk cache store" in r.stderr
    assert r.stdout == good.stdout
    secret = (tmp_path / cachedir.KEY_NAME).read_bytes()
    assert objcache._check(entry.read_bytes(), entry.stem, secret) is not None  # replaced


def test_key_covers_versions_and_host(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "func @f(%x: f32[]) -> f32[] {\n  return %x\n}"
    k = objcache.key_for(text)
    assert k == objcache.key_for(text)
    assert k != objcache.key_for(text + " ")
    env = objcache.environment()
    for needle in ("tracejit=", "llvmlite=", "numpy=", "codegen-abi=", "cpu=", "features=",
                   "blas=", "python="):
        assert needle in env
    lib = objcache.key_for(text, entries=False)
    assert lib != k and "entry=" not in objcache.environment(entries=False)
    host = objcache._ENV_CACHE["host"] + ";numpy=9.9"
    monkeypatch.setattr(objcache, "_ENV_CACHE", {**objcache._ENV_CACHE, "host": host})
    assert objcache.key_for(text) != k and objcache.key_for(text, entries=False) != lib
    monkeypatch.setenv("TRACEJIT_BLAS", "0")
    assert "blas=builtin" in objcache.environment()


def test_concurrent_writers_leave_a_valid_entry(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACEJIT_CACHE_DIR", str(tmp_path))
    key = "ab" * 32
    payload = os.urandom(200_000)
    errors = []

    def write() -> None:
        try:
            for _ in range(20):
                objcache.store(key, payload)
                got = objcache.load(key)
                if got is not None and got != payload:
                    errors.append("torn read")
        except Exception as e:  # pragma: no cover - reported below
            errors.append(repr(e))
    threads = [threading.Thread(target=write) for _ in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors
    assert objcache.load(key) == payload
    assert not [p for p in tmp_path.rglob(".tmp-*")]


def test_unwritable_cache_dir_is_not_an_error(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("TRACEJIT_CACHE_DIR", str(blocker / "sub"))
    f = tj.compile(lambda x: x * 3.0 + 1.0)
    np.testing.assert_array_equal(f(np.ones(3, np.float32)).numpy(), [4.0, 4.0, 4.0])


def test_logging_explains_retraces(caplog: pytest.LogCaptureFixture) -> None:
    f = tj.compile(lambda x: x + 1.0)
    with caplog.at_level(logging.DEBUG, logger="tracejit"):
        f(np.ones(2, np.float32))
        f(np.ones(2, np.float32))
        f(np.ones(3, np.float32))
    text = caplog.text
    assert "tracing (trace #1)" in text
    assert "because x: a tensor of shape (2,) and dtype float32 -> a tensor of shape (3,)" \
        in text.replace("<lambda>", "") or "shape (2,)" in text
    assert "compiling" in text or "loaded from the disk cache, found by its trace" in text


def test_version_defined_once() -> None:
    import tomllib
    from pathlib import Path as P
    meta = tomllib.loads((P(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    assert meta["project"]["version"] == tj.__version__
    assert f"tracejit={tj.__version__}" in objcache.environment()


def test_eviction_keeps_the_most_recently_used_entries(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACEJIT_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("TRACEJIT_CACHE", raising=False)
    keys = [f"{k:064x}" for k in range(1, 11)]
    for i, key in enumerate(keys):
        objcache.store(key, bytes(1000))
        os.utime(objcache._path(key), (1000 + i, 1000 + i))     # key 0 is the oldest
    assert objcache.load(keys[0]) is not None                    # a hit makes it recent
    total = sum(p.stat().st_size for p in entries(tmp_path))
    objcache.evict(total - 1)                                    # over the limit by a byte
    kept = {p.stem for p in entries(tmp_path)}
    assert keys[0] in kept and keys[-1] in kept                  # used last, stored last
    assert keys[1] not in kept and keys[2] not in kept           # the least recently used
    assert sum(p.stat().st_size for p in entries(tmp_path)) <= (total - 1) * 3 // 4
    objcache.evict(10**9)                                        # under the limit: no-op
    assert {p.stem for p in entries(tmp_path)} == kept


def test_a_hit_refreshes_the_entry_time_only_when_it_is_old(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    """Eviction's use times are kept to within `REFRESH_AFTER`: a hit on an entry used
    (or written) in the last minutes does not write its time again; an older one's, or
    one from the future (a clock set back), is set to now."""
    monkeypatch.setenv("TRACEJIT_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("TRACEJIT_CACHE", raising=False)
    key = f"{7:064x}"
    objcache.store(key, b"x" * 100)
    path = objcache._path(key)
    for when, refreshed in ((time.time() - 60, False), (1000.0, True),
                            (time.time() + 7200, True)):
        os.utime(path, (when, when))
        assert objcache.load(key) == b"x" * 100
        assert (abs(path.stat().st_mtime - time.time()) < 30) == refreshed


def test_eviction_removes_stale_temporary_files_only(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A writer killed between creating its temporary file and renaming it leaves the file
    behind: a scan deletes it once untouched for STALE_TMP_SECONDS, whether or not the
    cache is over its limit, and never a recent one (another process may be writing it),
    an entry, or anything that is not a regular file."""
    monkeypatch.setenv("TRACEJIT_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("TRACEJIT_CACHE", raising=False)
    key = f"{7:064x}"
    objcache.store(key, bytes(100))
    sub = objcache._path(key).parent
    old, fresh, odd = sub / ".tmp-0123456789abcdef.o", sub / ".tmp-fedcba9876543210.o", \
        sub / ".tmp-dir.o"
    old.write_bytes(b"half an entry")
    fresh.write_bytes(b"being written")
    odd.mkdir()
    ago = time.time() - objcache.STALE_TMP_SECONDS - 60
    os.utime(old, (ago, ago))
    os.utime(odd, (ago, ago))
    os.utime(objcache._path(key), (ago, ago))
    objcache.evict(10**9)                                        # under the limit
    assert not old.exists() and fresh.exists() and odd.is_dir()
    assert objcache.load(key) == bytes(100)


def test_cache_size_limit_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACEJIT_CACHE_MAX_MB", "0.5")
    assert objcache.max_bytes() == 2**19
    monkeypatch.delenv("TRACEJIT_CACHE_MAX_MB")
    assert objcache.max_bytes() == 1024 * 2**20
    monkeypatch.setenv("TRACEJIT_CACHE_MAX_MB", "lots")
    with pytest.raises(tj.errors.SettingError, match="TRACEJIT_CACHE_MAX_MB='lots'"):
        objcache.max_bytes()


def test_cache_key_changes_with_the_code_generator_source(tmp_path):
    """Two checkouts of one version (or an edited editable install) never share entries."""
    import shutil
    from pathlib import Path

    from tracejit.codegen import objcache
    here = Path(objcache.__file__).resolve().parent
    shutil.copytree(here, tmp_path / "codegen", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(here.parent / "ir", tmp_path / "ir",
                    ignore=shutil.ignore_patterns("__pycache__"))
    assert objcache.source_digest(tmp_path / "codegen") == objcache.source_digest()
    assert objcache.source_digest() in objcache.environment()
    for changed in (tmp_path / "codegen" / "lower.py", tmp_path / "ir" / "core.py"):
        before = objcache.source_digest(tmp_path / "codegen")
        changed.write_text(changed.read_text() + "\n# changed\n")
        assert objcache.source_digest(tmp_path / "codegen") != before


def test_code_found_by_its_trace_reports_failures_like_compiled_code(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failed call of code found by the traced Function names the failing instruction
    (from the optimized Function, made then): the same error as freshly compiled code."""
    monkeypatch.setenv("TRACEJIT_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("TRACEJIT_CACHE", raising=False)
    x = np.arange(12, dtype=np.float32).reshape(3, 4)

    def pick(a: tj.Tensor, i: tj.Tensor) -> tj.Tensor:
        return tj.gather(a * 2.0, i)

    ok, bad = np.array([2, 0], np.int64), np.array([0, 5], np.int64)
    first = tj.compile(pick)
    expected = first(x, ok).numpy()
    again = tj.compile(pick)
    assert np.array_equal(again(x, ok).numpy(), expected)
    (conc,) = again._cache.values()
    assert conc.optimized is None          # found by its trace: the IR passes never ran
    with pytest.raises(IndexError, match="index 5 is out of bounds for size 3"):
        again(x, bad)
    assert conc.optimized is not None and conc.executable().fn is conc.opt_fn


def test_a_trace_whose_text_does_not_determine_it_has_no_alias() -> None:
    from tracejit import codegen
    from tracejit.ir import Function, Instr, TensorType, Value
    from tracejit.ir.printer import print_function
    x, y = Value(TensorType((2,), np.float32)), Value(TensorType((2,), np.float32))
    plain = Function("f", [x], [Instr("neg", [x], {}, [y])], [y])
    key = codegen._alias_key(plain)
    assert key is not None and key != objcache.key_for(print_function(plain))  # tagged
    for odd in (object(), (1, object()), np.zeros(2, np.complex64)):
        f = Function("f", [x], [Instr("neg", [x], {"extra": odd}, [y])], [y])
        assert codegen._alias_key(f) is None, odd


def test_code_is_found_by_its_trace_only_for_the_same_trace_and_install(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An alias hit skips the IR passes (`optimized` stays None); another shape, dtype,
    function or version misses it (the passes run)."""
    monkeypatch.setenv("TRACEJIT_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("TRACEJIT_CACHE", raising=False)

    def f(x: tj.Tensor) -> tj.Tensor:
        return tj.exp(x) * 2.0

    def g(x: tj.Tensor) -> tj.Tensor:
        return tj.exp(x) * 3.0

    def found_by_trace(fn: object, x: np.ndarray) -> bool:
        c = tj.compile(fn)
        c(x)
        (conc,) = c._cache.values()
        return conc.optimized is None

    x = np.linspace(0, 1, 3, dtype=np.float32)
    tj.compile(f)(x)                                   # compiles, stores the alias
    assert found_by_trace(f, x)
    assert not found_by_trace(f, np.ones(4, np.float32))
    assert not found_by_trace(f, x.astype(np.float64))
    assert not found_by_trace(g, x)
    versions = objcache._versions
    with monkeypatch.context() as m:
        m.setattr(objcache, "_versions", lambda: versions() + ";another=1")
        objcache._forget_environment()
        try:
            assert not found_by_trace(f, x)
        finally:
            objcache._forget_environment()
    assert found_by_trace(f, x)
