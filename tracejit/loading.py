"""Loading exported functions (`tj.load`): artifacts back into callable compiled functions.

Invariants:
- Nothing is traced: each signature's Concrete is rebuilt from the stored optimized IR
  (parsed and verified), the argument and result maps, and the Variables (made from the
  stored values, or the ones the caller passes when unpickling).
- Stored object code runs only if `codegen.objcache.key_for(ir)` here equals the key it
  was compiled under (same IR, CPU, features, versions, BLAS and codegen sources) and the
  caller allows it; then loading runs no LLVM pass. Otherwise the IR is compiled, once per
  process: the code of each IR text is kept (`_CODE`), so unpickling a function again (in
  a Dask worker, say) reuses it.
- A damaged, truncated, foreign-format or malformed artifact raises `ArtifactError`
  before anything in it runs.
"""
from __future__ import annotations

import hashlib
import inspect
import logging
import os
import weakref
from typing import Any

import numpy as np

from . import artifact, executables
from .compile import CompiledFunction
from .concrete import Concrete
from .context import TraceInterpreter
from .errors import ArtifactError
from .export import leaf_from_json, tree_from_json
from .ir.caches import Memo
from .ir.core import Function, current_interpreter
from .keys import describe
from .tensor import Tensor
from .variable import Variable

log = logging.getLogger("tracejit")

# The executable of each IR text loaded in this process (by the digest of the text and of
# the object code used, or "compiled"): a function unpickled again reuses it.
_CODE: Memo[str, tuple[Function, Any, bool]] = Memo("loaded artifacts: executables",
                                                    limit=256)


def load(source: Any, *, object_code: bool = True,
         variables: list[Variable] | None = None) -> LoadedFunction:
    """A compiled function from an artifact of `f.export` (a path or the bytes).

    Its calls run the exported code: nothing is traced, and when this host and install
    match the exporting one (CPU, versions) the stored object code is loaded with no LLVM
    work; otherwise the stored IR is compiled (once per process). The Variables it reads
    are new `tj.Variable`s with the exported values (`.variables`), unless `variables`
    gives the ones to use. With `object_code=False` the stored machine code is never run
    (the IR is compiled): for artifacts from sources you do not trust with your process.
    A damaged artifact raises `tj.errors.ArtifactError` and nothing in it runs.

    >>> v = tj.Variable([1., 2.], name="v")
    >>> f = tj.function(lambda x: tj.reduce_sum(x * v))
    >>> g = tj.load(f.export(tj.TensorSpec([2])))
    >>> g(tj.constant([3., 4.])).numpy(), [w.name for w in g.variables]
    (array(11., dtype=float32), ['v:0'])
    """
    data, where = _read(source)
    r = artifact.Reader(data, where)
    try:
        return _build(r, object_code, variables)
    except ArtifactError:
        raise
    except (KeyError, IndexError, TypeError, ValueError) as e:
        raise r.malformed(f"{type(e).__name__}: {e}") from None


def _read(source: Any) -> tuple[bytes, str]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        return data, f"the artifact ({len(data)} bytes)"
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as fh:
            return fh.read(), f"artifact {os.fspath(source)!r}"
    raise TypeError(f"tj.load needs a path or the bytes of an artifact, got "
                    f"{type(source).__name__}")


def _base_name(name: str) -> str:
    return name[:-2] if name.endswith(":0") else name


def _variables(r: artifact.Reader, given: list[Variable] | None) -> list[Variable]:
    table = r.manifest["variables"]
    if given is not None:
        if len(given) != len(table):
            raise r.malformed(f"{len(table)} Variables, {len(given)} given")
        for v, j in zip(given, table):
            if v.shape != tuple(j["shape"]) or v.dtype != np.dtype(j["dtype"]):
                raise r.malformed(f"Variable {j['name']} is {j['dtype']}{j['shape']}, the "
                                  f"one given {v.dtype}{list(v.shape)}")
        return list(given)
    out = []
    for j in table:
        if j["value"] is None:
            raise r.malformed(f"Variable {j['name']} has no value stored")
        a = r.array(j["value"])
        if a.shape != tuple(j["shape"]) or a.dtype != np.dtype(j["dtype"]):
            raise r.malformed(f"Variable {j['name']}'s value does not match its type")
        out.append(Variable(a, trainable=bool(j["trainable"]), name=_base_name(j["name"])))
    return out


def _code(r: artifact.Reader, j: dict[str, Any], object_code: bool
          ) -> tuple[Function, Any, bool]:
    """The parsed Function of a stored IR section, its executable (the stored object code
    when it was made for this host and install, and allowed; else compiled) and whether
    it is the stored object code."""
    from . import codegen
    from .codegen import objcache
    from .ir import verify
    from .ir.parser import parse
    text = r.text(j["ir"])
    obj = r.section(j["object"]) if object_code and j["object"] is not None else None
    usable = obj is not None and objcache.key_for(text) == j["object_key"]
    h = hashlib.sha256(text.encode())
    h.update(hashlib.sha256(obj).digest() if usable and obj is not None else b"compiled")
    hit = _CODE.get(h.hexdigest())
    if hit is not None:
        return hit
    try:
        fn = parse(text)
        verify.verify(fn)
    except Exception as e:
        raise r.malformed(f"its IR does not parse or verify: {e}") from None
    exe = None
    reused = False
    if usable and obj is not None:
        try:
            exe = codegen.load_executable(fn, obj)
            reused = True
            log.debug("%s: @%s loaded from its object code", r.source, fn.name)
        except Exception as e:
            log.debug("%s: the object code of @%s cannot be loaded (%s): compiling its IR",
                      r.source, fn.name, e)
    elif obj is not None:
        log.debug("%s: @%s was compiled for another host or install: compiling its IR",
                  r.source, fn.name)
    if exe is None:
        exe = executables.native(fn, keep=False)
    executables.OPTIMIZED_FNS.add(fn)
    executables.NATIVE_OF[fn] = weakref.ref(exe)
    return _CODE.put(h.hexdigest(), (fn, exe, reused))


def _ref(r: artifact.Reader, j: dict[str, Any], variables: list[Variable],
         where: str) -> tuple[Any, int | None]:
    """A capture or assigned entry: (the object, None) or (None, argument leaf index)."""
    if "leaf" in j:
        return None, int(j["leaf"])
    if "variable" in j:
        return variables[int(j["variable"])], None
    if "constant" in j and where == "capture":
        return Tensor._wrap(r.array(j["constant"])), None
    raise r.malformed(f"a {where} entry {j!r}")


def _concrete(r: artifact.Reader, name: str, params: Any, s: dict[str, Any],
              variables: list[Variable], object_code: bool, keep: list[Any]
              ) -> tuple[Any, Concrete]:
    leaf_keys = tuple(leaf_from_json(j) for j in s["leaves"])
    key = (tree_from_json(s["in_tree"]), leaf_keys)
    dyn_idx = [i for i, k in enumerate(leaf_keys) if k[0] == "T"]
    var_args = any(k[0] == "V" for k in leaf_keys)
    caps = [_ref(r, j, variables, "capture") for j in s["captures"]]
    assigned = [_ref(r, j, variables, "assigned") for j in s["assigned"]]
    fn, exe, reused = _code(r, s["forward"], object_code)
    keep.append((exe, reused))
    _check_signature(r, fn, leaf_keys, dyn_idx, caps, s, len(assigned))
    out_kind: list[Any] = []
    for k in s["out_kind"]:
        if k[0] == "r":
            out_kind.append(("r", int(k[1])))
        elif k[0] == "t":
            out_kind.append(("t", r.array(k[1])))
        else:
            out_kind.append(("c", k[1]))
    captures = [obj for obj, _ in caps]
    conc = Concrete(
        name=name, dyn_idx=dyn_idx, n_leaves=len(leaf_keys), n_dyn=len(dyn_idx),
        out_tree=tree_from_json(s["out_tree"]), out_kind=out_kind, n_out=int(s["n_out"]),
        assigned=[obj for obj, _ in assigned], assigned_src=[k for _, k in assigned],
        captures=captures, capture_src=[k for _, k in caps], var_args=var_args,
        fixed_vars={id(o) for o in captures if isinstance(o, Variable)} if var_args else set(),
        trace_fn=fn, optimized=fn, origins={}, grad_fns=[], grad_residuals={},
        n_checks=int(s.get("n_checks", 0)))
    conc._exe = exe
    conc.key = key
    if s.get("backward"):
        from .ir.prims.call import Backward, set_backward
        b = s["backward"]
        bfn, bexe, breused = _code(r, b, object_code)
        keep.append((bexe, breused))
        connected = [bool(c) for c in b["connected"]]
        if len(bfn.params) != len(fn.params) + len(fn.results) \
                or len(bfn.results) != sum(connected) or len(connected) != len(fn.params):
            raise r.malformed(f"the backward Function of @{fn.name} does not fit it")
        set_backward(fn, Backward(bfn, connected))
    return key, conc


def _check_signature(r: artifact.Reader, fn: Function, leaf_keys: tuple[Any, ...],
                     dyn_idx: list[int], caps: list[tuple[Any, int | None]],
                     s: dict[str, Any], n_assigned: int) -> None:
    """The stored Function takes exactly the buffers the argument map passes it."""
    want = [(leaf_keys[i][1], np.dtype(leaf_keys[i][2])) for i in dyn_idx]
    for obj, k in caps:
        if k is not None:
            if not 0 <= k < len(leaf_keys) or leaf_keys[k][0] != "V":
                raise r.malformed(f"a capture refers to argument leaf {k}")
            want.append((leaf_keys[k][1], np.dtype(leaf_keys[k][2])))
        else:
            want.append((tuple(obj.shape), np.dtype(obj.dtype)))
    got = [(tuple(p.type.shape), np.dtype(p.type.dtype)) for p in fn.params]
    n_out, n_checks = int(s["n_out"]), int(s.get("n_checks", 0))
    if got != want or n_checks < 0 or len(fn.results) != n_out + n_assigned + n_checks or any(
            k[0] == "r" and not 0 <= int(k[1]) < n_out for k in s["out_kind"]):
        raise r.malformed(f"@{fn.name} takes {got} and returns {len(fn.results)} values; "
                          f"its argument map passes {want} and reads {n_out} + {n_assigned}"
                          f" + {n_checks}")


def _build(r: artifact.Reader, object_code: bool, given: list[Variable] | None
           ) -> LoadedFunction:
    m = r.manifest
    variables = _variables(r, given)
    keep: list[Any] = []
    if object_code:
        from .codegen import runtime
        for lib in m.get("libraries", []):
            runtime.offer(str(lib["symbol"]), str(lib["key"]), r.section(lib["object"]))
    sigs = dict(_concrete(r, str(m["name"]), m.get("params"), s, variables, object_code,
                          keep)
                for s in m["signatures"])
    return LoadedFunction(str(m["name"]), m.get("params"), sigs, variables, keep,
                          m["built_with"], r.digest)


def _signature_from(params: list[list[Any]] | None) -> inspect.Signature | None:
    if params is None:
        return None
    return inspect.Signature([
        inspect.Parameter(str(n), inspect._ParameterKind(int(k)),
                          default=_DEFAULT if has_default else inspect.Parameter.empty)
        for n, k, has_default in params])


class _Default:
    def __repr__(self) -> str:
        return "<default>"


_DEFAULT = _Default()


class LoadedFunction(CompiledFunction):
    """A compiled function loaded from an artifact (`tj.load`, or unpickled): it runs
    the exported signatures only (another signature raises `TypeError`), and can be
    exported and pickled again. `variables` are the Variables it reads, `built_with` the
    versions and host it was exported from, `reused_object_code` whether every signature
    runs the stored object code (else its IR was compiled here)."""

    def __init__(self, name: str, params: list[list[Any]] | None, sigs: dict[Any, Concrete],
                 variables: list[Variable], keep: list[Any], built_with: dict[str, str],
                 digest: str):
        super().__init__(self._run_in_trace, name)
        self.__doc__ = f"{name}, loaded from an exported artifact."
        self._sig = _signature_from(params)
        self._cache = dict(sigs)
        self.variables = variables
        self.built_with = built_with
        self.digest = digest
        self._keep = keep       # (executable, reused): the maps above hold them weakly
        self.reused_object_code = all(reused for _, reused in keep)
        for conc in self._cache.values():
            conc.python_signature = self._sig

    def __repr__(self) -> str:
        return f"<tj.load function {self.__name__} ({len(self._cache)} signature(s))>"

    def _clear_cache(self) -> None:
        pass        # its signatures cannot be traced again: `tj.clear_caches` keeps them

    def _trace(self, key: Any, leaves: list[Any], tree: Any, aliased: bool = False,
               shapes: list[Any] | None = None, again: bool = False) -> Concrete:
        def words(k: Any) -> str:
            return "(" + ", ".join(describe(x) for x in k[1]) + ")"
        have = "; ".join(words(k) for k in self._cache)
        raise TypeError(f"{self.__name__} was loaded from an artifact that holds the "
                        f"signatures {have}; this call passes {words(key)}. Export the "
                        "function for these arguments (f.export(...)) where its Python "
                        "code is.")

    def _run_in_trace(self, *args: Any, **kwargs: Any) -> Any:
        """A call inside another trace (or with functions run eagerly): one `call`
        instruction of the stored Function."""
        from .trees import flatten
        leaves, tree = flatten((args, kwargs))
        key = self._key(leaves, tree)
        conc = self._cache.get(key) or self._trace(key, leaves, tree)
        if not isinstance(current_interpreter(), TraceInterpreter):
            return conc._call_recorded(leaves)
        return conc.call_instruction(leaves)


def unpickle(data: bytes, variables: list[Variable], index: int | None = None) -> Any:
    """A pickled compiled function (or, with `index`, its concrete function number
    `index`) from its artifact and its Variables."""
    f = load(data, variables=variables)
    if index is None:
        return f
    return list(f._cache.values())[index]
