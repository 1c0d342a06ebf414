"""One settings module, one spelling rule, one table; every process-wide cache bounded,
locked and cleared by `tj.clear_caches()`."""
from __future__ import annotations

import ast
import re
import threading
from pathlib import Path

import pytest

import tracejit as tj
from tracejit.codegen import blas, objcache, runtime
from tracejit.ir import caches, get_primitive, settings
from tracejit.ir.prims import call

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("tracejit", "codegen", "ir")


def _sources() -> list[Path]:
    return [p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))]


def test_only_the_settings_module_reads_the_environment() -> None:
    readers = {p.relative_to(ROOT).as_posix() for p in _sources()
               if re.search(r"os\.environ|os\.getenv|environ\.get", p.read_text())}
    assert readers == {"ir/settings.py"}


def test_every_variable_named_in_the_code_is_a_setting() -> None:
    named = set()
    for p in _sources():
        named |= set(re.findall(r"TRACEJIT_[A-Z_]+[A-Z]", p.read_text()))
    assert named == set(settings.SETTINGS)


def test_the_readme_table_is_the_settings_table() -> None:
    readme = (ROOT / "README.md").read_text()
    assert settings.table() in readme
    section = readme.split("### Environment variables", 1)[1].split("\n### ", 1)[0]
    rows = [r for r in section.splitlines() if r.startswith("| `TRACEJIT_")]
    assert len(rows) == len(settings.SETTINGS)


@pytest.mark.parametrize("name", [n for n, s in settings.SETTINGS.items()
                                  if s.kind == "switch"])
def test_every_switch_has_one_spelling_rule(name: str, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    for raw in ("1", "true", "TRUE", "Yes", " on "):
        monkeypatch.setenv(name, raw)
        assert settings.switch(name) is True, raw
    for raw in ("0", "false", "False", "NO", "off "):
        monkeypatch.setenv(name, raw)
        assert settings.switch(name) is False, raw
    for raw in ("", "  "):
        monkeypatch.setenv(name, raw)
        assert settings.switch(name) is (settings.SETTINGS[name].default == "on")
    monkeypatch.delenv(name)
    assert settings.switch(name) is (settings.SETTINGS[name].default == "on")
    for raw in ("2", "maybe", "enabled", "-1"):
        monkeypatch.setenv(name, raw)
        with pytest.raises(tj.errors.SettingError, match=f"{name}='{raw}'.*true.*false"):
            settings.switch(name)


def test_disable_jit_false_keeps_compiled_functions_compiled(monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    # The reader tj.config runs at import: `false` used to turn eager mode on.
    Config = type(tj.config)
    for raw, eager in (("false", False), ("off", False), ("0", False), ("", False),
                       ("true", True), ("yes", True), ("1", True)):
        monkeypatch.setenv("TRACEJIT_DISABLE_JIT", raw)
        assert Config().functions_run_eagerly() is eager, raw
    monkeypatch.setenv("TRACEJIT_DISABLE_JIT", "please")
    with pytest.raises(tj.errors.SettingError, match="TRACEJIT_DISABLE_JIT='please'"):
        Config()


def test_switches_act_where_they_are_read(monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    monkeypatch.setenv("TRACEJIT_BLAS", "false")
    assert blas.blas_info() == "builtin"
    monkeypatch.setenv("TRACEJIT_BLAS", "nope")
    with pytest.raises(tj.errors.SettingError, match="TRACEJIT_BLAS"):
        blas.use_blas()
    monkeypatch.setenv("TRACEJIT_CACHE", "no")
    assert objcache.enabled() is False
    monkeypatch.setenv("TRACEJIT_CACHE", "On")
    assert objcache.enabled() is True
    monkeypatch.setenv("TRACEJIT_CACHE_DIR", str(tmp_path / "c"))
    assert objcache.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("TRACEJIT_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert objcache.cache_dir() == tmp_path / "tracejit"


def test_numbers_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    for raw in ("-1", "nan", "inf", "1e"):
        monkeypatch.setenv("TRACEJIT_CACHE_MAX_MB", raw)
        with pytest.raises(tj.errors.SettingError, match="TRACEJIT_CACHE_MAX_MB"):
            objcache.max_bytes()
    for raw in ("1.5", "-2", "two"):
        monkeypatch.setenv("TRACEJIT_NUM_THREADS", raw)
        with pytest.raises(tj.errors.SettingError, match="TRACEJIT_NUM_THREADS"):
            runtime.threads()
    with pytest.raises(KeyError, match="TRACEJIT_NOPE is not a tracejit setting"):
        settings.switch("TRACEJIT_NOPE")


def test_clear_caches_retraces_and_empties_the_memos() -> None:
    f = tj.function(lambda x: tj.exp(x) * 2.0)
    x = tj.Variable(1.0)
    with tj.GradientTape() as tape:
        y = f(x)
    tape.gradient(y, x)                                     # builds a backward Function
    assert len(call._BACKWARD) > 0 and len(get_primitive("mul")._inferred) > 0
    f(x)
    assert f.trace_count == 1                               # cached
    tj.clear_caches()
    assert len(call._BACKWARD) == 0 and len(get_primitive("mul")._inferred) == 0
    assert objcache._ENV_CACHE == {}
    assert float(f(x)) == pytest.approx(2 * 2.718281828)
    assert f.trace_count == 2


def test_memo_is_bounded_and_safe_across_threads() -> None:
    m: caches.Memo[int, int] = caches.Memo("test memo", limit=50, register=False)
    errors: list[str] = []

    def work(base: int) -> None:
        for i in range(2000):
            k = (base * 7919 + i) % 300
            got = m.get(k)
            if got is not None and got != k * k:
                errors.append(f"{k}: {got}")
            m.put(k, k * k)
            if len(m) > 50:
                errors.append(f"size {len(m)}")
    threads = [threading.Thread(target=work, args=(b,)) for b in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and 0 < len(m) <= 50
    assert "test memo" not in caches.registered()


# Module-level containers that are not caches: tables filled once at import (bounded by
# the code), or state that native code points into (never dropped while the process runs).
NOT_CACHES = {
    "ir/prims/registry.py:_REGISTRY": "the primitive table",
    "ir/batching.py:RULES": "the batching rule table",
    "tracejit/context.py:EAGER_RULES": "the table of eager rules (call, philox)",
    "tracejit/eager_ops.py:INSTALLED": "which Tensor operators take the short route",
    "tracejit/random.py:_GLOBAL": "the global random generator (state: clearing it would "
                                  "repeat or change draws)",
    "tracejit/random_generator.py:_STATES": "which Variables are generator states (weak; "
                                            "a fact about live objects, not a cache)",
    "tracejit/random.py:_OP_GENERATORS": "the generators of op-level seeds (state; "
                                         "set_seed empties it)",
    "ir/batching.py:_STANDARD": "batching rules derived from kinds, at most one a primitive",
    "codegen/rules.py:ELEMENT_RULES": "the lowering table",
    "codegen/rules.py:KERNEL_RULES": "the lowering table",
    "codegen/rules.py:LOWERINGS": "the lowering table",
    "codegen/rules.py:FAILURES": "the table of kernel failure rules",
    "codegen/llvmtypes.py:_MEM": "a constant type map",
    "codegen/lower_elementwise.py:SCALAR_OPS": "the scalar lowering table",
    "codegen/runtime.py:_loaded": "runtime libraries whose symbols compiled code calls",
    "codegen/runtime.py:_objects": "the object code of the loaded runtime libraries (lives "
                                   "with them: exports carry it)",
    "codegen/runtime.py:_pending": "runtime libraries a compile worker is making for "
                                   "code already lowered",
    "codegen/runtime.py:_prefetching": "the import's prefetch thread (a fork waits for it)",
    "codegen/engine.py:_state": "the host's target machine",
    "codegen/dispatch.py:_state": "the native dispatcher's code (lives with the method)",
    "tracejit/native.py:_state": "the native dispatcher, built and installed once",
    "tracejit/native.py:_TABLED": "functions with a native table (weak); clearing a "
                                  "function's traces empties its table",
    "codegen/engine.py:_live": "the engines and LLVM contexts of live modules",
    "ir/core.py:_default": "the default interpreter",
    "tracejit/keys.py:_UNSET": "a sentinel",
    "tracejit/notice.py:_gc_state": "whether the collector is paused (under its lock)",
    "codegen/objcache.py:_stores": "a counter of stores",
    "codegen/workers.py:_reaper": "the thread that closes idle compile workers",
    "codegen/llvmthreads.py:_installed": "whether llvmlite's lock has the gate (a state)",
    "codegen/llvmthreads.py:_switch_state": "compile jobs running and the switch interval "
                                            "to restore (a state)",
    "codegen/engine.py:_deferred": "engines a finalizer left to the next load (a state)",
    "codegen/engine.py:_kept": "engines that could not be disposed, kept alive with their "
                               "contexts (a state: clearing it would free them)",
    "codegen/blas.py:_lapack_registered": "libraries whose symbols LLVM knows (a state)",
    "ir/caches.py:_clearers": "the registry of caches itself",
}
_CONTAINERS = ("dict", "list", "set", "OrderedDict", "WeakKeyDictionary",
               "WeakValueDictionary", "WeakSet", "deque", "_LRU")


def _module_containers(tree: ast.Module) -> list[str]:
    out = []
    for node in tree.body:
        target, value = None, None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign):
            target, value = node.target, node.value
        if not isinstance(target, ast.Name) or value is None or target.id.startswith("__"):
            continue
        if isinstance(value, (ast.Dict, ast.List, ast.Set)) and target.id.startswith("_") \
                and not target.id.isupper() or isinstance(value, (ast.Dict, ast.List)) \
                and not (value.keys if isinstance(value, ast.Dict) else value.elts):
            out.append(target.id)
        elif isinstance(value, ast.Call):
            f = value.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            if name in _CONTAINERS or name == "Memo":
                out.append(target.id)
    return out


def test_every_module_level_cache_is_cleared_by_clear_caches() -> None:
    """A new module-level cache must be a `Memo` or be cleared by a function registered
    with `on_clear` in its module (or be listed above as not a cache, with the reason)."""
    missing = []
    for p in _sources():
        src = p.read_text()
        tree = ast.parse(src)
        rel = p.relative_to(ROOT).as_posix()
        registered: set[str] = set()
        funcs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "on_clear":
                fn = node.args[1]
                if isinstance(fn, ast.Attribute) and isinstance(fn.value, ast.Name):
                    registered.add(fn.value.id)             # `_SCALARS.clear`
                elif isinstance(fn, ast.Name) and fn.id in funcs:
                    registered |= {n.id for n in ast.walk(funcs[fn.id])
                                   if isinstance(n, ast.Name)}
        for name in _module_containers(tree):
            key = f"{rel}:{name}"
            if key in NOT_CACHES or name in registered:
                continue
            if re.search(rf"^{name}\b.*=\s*\\?\s*\n?\s*Memo\(", src, re.M):
                continue
            missing.append(key)
    assert not missing, f"module-level caches not cleared by tj.clear_caches(): {missing}"
