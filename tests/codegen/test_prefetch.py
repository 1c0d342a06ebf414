"""`import tracejit` compiles the thread pool and the float32 GEMM library on a background
thread when the disk cache lacks them (`codegen/runtime.py`, `prefetch`): each library is
compiled once whether or not the first call races the thread, the code is the same as
compiled on demand, the exit and a fork wait for the thread, and nothing starts where
the settings or the machine say so."""
from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from tests.test_cache import MATMUL, entries, run

# Debug logging with thread names, set before tracejit is imported (the thread starts
# during the import).
LOGGING = textwrap.dedent("""
    import logging, sys
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr,
                        format="%(threadName)s %(message)s")
""")

THREADS = LOGGING + textwrap.dedent("""
    import json, threading
    import tracejit
    from tracejit.codegen import runtime
    print("THREADS", json.dumps([t.name for t in threading.enumerate()]),
          len(runtime._prefetching))
""")

# Makes the thread's libraries take half a second longer to build (their IR), so that
# what follows the import surely finds them on their way.
SLOW = textwrap.dedent("""
    import importlib.abc, importlib.util, sys, time
    class Slow(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name != "tracejit.codegen.runtime_build":
                return None
            sys.meta_path.remove(self)
            spec = importlib.util.find_spec(name)
            run = spec.loader.exec_module
            def exec_module(module):
                run(module)
                fast = module.library_ir
                def slow(*args, **kwargs):
                    time.sleep(0.5)
                    return fast(*args, **kwargs)
                module.library_ir = slow
            spec.loader.exec_module = exec_module
            return spec
    sys.meta_path.insert(0, Slow())
""")

# MATMUL with the logging set up before the import (its own setup comes after), and its
# first call made while the thread still builds the libraries.
RACE = LOGGING + SLOW + MATMUL


def _compiles(stderr: str, kind: str) -> list[str]:
    """The log lines that start compiling library `kind` ("gemm_f32" or "parallel_for")."""
    return [ln for ln in stderr.splitlines()
            if "compiling runtime library tj_" + kind in ln]


def test_the_import_fills_an_empty_cache_and_exits_after_it(tmp_path: Path) -> None:
    env = {"TRACEJIT_BLAS": "0", "TRACEJIT_PREFETCH": "on"}     # (keys cover the BLAS choice)
    first = run(tmp_path, env, THREADS)
    assert first.stdout.split("THREADS ", 1)[1].split()[-1] == "1"     # a thread started
    for kind in ("parallel_for", "gemm_f32"):
        lines = _compiles(first.stderr, kind)
        assert len(lines) == 1 and lines[0].startswith("tracejit-prefetch"), first.stderr
    # The process exited after the thread had written the pool, the kernel and their
    # joint entry, which the next process links without compiling anything.
    assert len(entries(tmp_path)) == 3, first.stderr
    second = run(tmp_path, env, RACE)
    assert "compiling runtime library" not in second.stderr
    assert "loaded from joint object code" in second.stderr
    # With the libraries on disk, the import starts a thread that stops at once.
    third = run(tmp_path, env, THREADS)
    assert "compiling runtime library" not in third.stderr and "store" not in third.stderr


def test_a_first_call_racing_the_thread_compiles_each_library_once(tmp_path: Path) -> None:
    raced = run(tmp_path / "raced", {"TRACEJIT_BLAS": "0", "TRACEJIT_PREFETCH": "on"}, RACE)
    for kind in ("parallel_for", "gemm_f32"):
        lines = _compiles(raced.stderr, kind)
        assert len(lines) == 1 and lines[0].startswith("tracejit-prefetch"), raced.stderr
    # The same results, bit for bit, as with the libraries compiled on demand.
    alone = run(tmp_path / "alone", {"TRACEJIT_BLAS": "0", "TRACEJIT_PREFETCH": "0"}, RACE)
    assert not any(ln.startswith("tracejit-prefetch") for ln in alone.stderr.splitlines())
    assert len(_compiles(alone.stderr, "gemm_f32")) == 1, alone.stderr
    assert raced.stdout == alone.stdout


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_fork_waits_for_the_thread(tmp_path: Path) -> None:
    program = SLOW + textwrap.dedent("""
        import json, os, sys
        import numpy as np
        import tracejit as tj
        from tracejit.codegen import runtime
        pid = os.fork()
        if pid == 0:
            # The parent's thread had linked both libraries before the fork: the child
            # has them, and its compiled matrix product runs.
            loaded = [runtime.symbol(k) in runtime._loaded for k in ("pool", "f32")]
            y = tj.compile(lambda a, b: tj.matmul(a, b))(np.ones((3, 4), np.float32),
                                                          np.ones((4, 2), np.float32))
            print("CHILD", json.dumps(loaded), y.numpy().tolist(), flush=True)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        print("STATUS", status)
    """)
    r = run(tmp_path, {"TRACEJIT_BLAS": "0", "TRACEJIT_PREFETCH": "on"}, program)
    assert "STATUS 0" in r.stdout, r.stderr
    child = r.stdout.split("CHILD ", 1)[1].splitlines()[0]
    assert child == "[true, true] [[4.0, 4.0], [4.0, 4.0], [4.0, 4.0]]", r.stdout


@pytest.mark.parametrize("env", [{"TRACEJIT_PREFETCH": "off"}, {"TRACEJIT_CACHE": "off"},
                                 {"TRACEJIT_NUM_THREADS": "1"},
                                 {"TRACEJIT_COMPILE_WORKERS": "0"},
                                 {"TRACEJIT_DISABLE_JIT": "on"},
                                 {"TRACEJIT_NUM_THREADS": "two"}])
def test_nothing_starts_where_the_settings_say_so(tmp_path: Path, env: dict[str, str]
                                                   ) -> None:
    r = run(tmp_path, {"TRACEJIT_PREFETCH": "on", **env}, THREADS)
    names, started = r.stdout.split("THREADS ", 1)[1].rsplit(" ", 1)
    assert "tracejit-prefetch" not in json.loads(names) and started.strip() == "0"
    assert "compiling runtime library" not in r.stderr
    assert entries(tmp_path) == []


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs CPU affinity")
def test_nothing_starts_on_one_cpu(tmp_path: Path) -> None:
    one_cpu = "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})\n"
    r = run(tmp_path, {"TRACEJIT_PREFETCH": "on"}, one_cpu + THREADS)
    names, started = r.stdout.split("THREADS ", 1)[1].rsplit(" ", 1)
    assert "tracejit-prefetch" not in json.loads(names) and started.strip() == "0"
    assert entries(tmp_path) == []


def test_nothing_is_compiled_into_a_cache_that_cannot_be_written(tmp_path: Path) -> None:
    # A cache directory below a file cannot be made: every process would compile the
    # libraries again for nothing.
    (tmp_path / "file").write_text("")
    r = run(tmp_path / "file" / "cache", {"TRACEJIT_PREFETCH": "on"}, THREADS)
    assert r.stdout.split("THREADS ", 1)[1].split()[-1] == "1"     # the thread started
    assert "compiling runtime library" not in r.stderr, r.stderr


def test_the_thread_imports_no_module_of_tracejit_still_loading(tmp_path: Path) -> None:
    # It starts while the package is still importing; a module that the main thread and
    # the thread import at once can reach one of them half made (import cycles), so every
    # module of tracejit its import statements name must be loaded before it starts.
    program = textwrap.dedent("""
        import builtins, importlib.util, sys, threading
        loading = []
        real = builtins.__import__
        def watched(name, globals=None, locals=None, fromlist=(), level=0):
            if threading.current_thread() is not threading.main_thread():
                package = (globals or {}).get("__package__") or ""
                full = importlib.util.resolve_name("." * level + name, package) if level \\
                    else name
                # The module itself (`from . import engine` waits for the package
                # while it is still loading), and a submodule a from-import names.
                for m in [full] + [f"{full}.{f}" for f in fromlist or ()
                                   if f"{full}.{f}" in sys.modules]:
                    spec = getattr(sys.modules.get(m), "__spec__", None)
                    if m.split(".")[0] == "tracejit" and (
                            m not in sys.modules or getattr(spec, "_initializing", False)):
                        loading.append(m)
            return real(name, globals, locals, fromlist, level)
        builtins.__import__ = watched
        import importlib.abc, time
        class Late(importlib.abc.MetaPathFinder):
            # The main thread pauses just after `runtime.prefetch()`: the thread then
            # runs its imports while the rest of codegen is still to be loaded.
            def find_spec(self, name, path, target=None):
                if name == "tracejit.codegen.segments":
                    time.sleep(0.3)
                return None
        sys.meta_path.insert(0, Late())
        import tracejit
        from tracejit.codegen import runtime
        for t in runtime._prefetching:
            t.join()
        print("LOADING", sorted(set(loading)))
    """)
    r = run(tmp_path, {"TRACEJIT_PREFETCH": "on"}, LOGGING + program)
    assert len(_compiles(r.stderr, "gemm_f32")) == 1, r.stderr      # the thread compiled
    assert r.stdout.split("LOADING ", 1)[1].strip() == "[]", r.stdout
