"""Exporting compiled functions: traced signatures written as an artifact (`artifact.py`).

Invariants:
- An export holds each signature's optimized Function as IR text (and, when asked, its
  backward Function), the object code this process compiled for it (and the key that
  says where that code may be reused), how arguments map to parameters and results to
  Python values, and the Variables it reads with their values (unless the caller keeps
  them: pickling passes the Variable objects themselves, so that they stay shared).
- Only what can be rebuilt exactly is exported: a signature keyed by an object (a plain
  object, a complex number) or returning a Python object other than a number, string,
  bool or None raises `TypeError` saying which.
"""
from __future__ import annotations

import importlib
import inspect
import sys
from collections import namedtuple
from typing import TYPE_CHECKING, Any

import llvmlite
import numpy as np

from . import artifact, executables
from .codegen import engine, objcache
from .ir.printer import print_function
from .ir.version import VERSION
from .keys import describe
from .tensor import Tensor
from .tensorspec import TensorSpec
from .variable import Variable

if TYPE_CHECKING:
    from .compile import CompiledFunction
    from .concrete import Concrete

_STATIC_TYPES: dict[str, type] = {"bool": bool, "int": int, "str": str, "NoneType": type(None)}


def example_of(x: Any) -> Any:
    """An argument to trace with for `x` (zeros for a `TensorSpec`, else `x` itself)."""
    if isinstance(x, TensorSpec):
        if not x.shape.is_fully_defined():
            raise ValueError(
                f"export needs every dimension known, but {x!r} has "
                f"{'an unknown rank' if x.shape.rank is None else 'a None dimension'}: "
                "an exported signature is compiled for one shape. Export with the "
                "shape the loaded function will be called with.")
        return np.zeros(tuple(x.shape), x.dtype)
    return x


# ---------------------------------------------------------------- structures as JSON

def tree_to_json(tree: Any) -> Any:
    """A `trees` tree as JSON (namedtuple classes by module, name and fields)."""
    if tree is None:
        return None
    kind, aux, children = tree
    if kind == "dict":
        for k in aux:
            if type(k) not in (str, int, bool):
                raise TypeError(f"a dict key {k!r} of type {type(k).__name__} cannot be "
                                "exported (keys must be str, int or bool)")
        aux = [[type(k).__name__, k] for k in aux]
    elif kind == "namedtuple":
        aux = [aux.__module__, aux.__qualname__, list(aux._fields)]
    return [kind, aux, [tree_to_json(c) for c in children]]


def tree_from_json(j: Any) -> Any:
    """The `trees` tree of `tree_to_json` (a namedtuple class that cannot be imported is
    made again with its name and fields)."""
    if j is None:
        return None
    kind, aux, children = j
    if kind == "dict":
        aux = tuple({"str": str, "int": int, "bool": bool}[t](k) for t, k in aux)
    elif kind == "namedtuple":
        aux = _namedtuple_class(*aux)
    elif kind not in ("list", "tuple"):
        raise ValueError(f"unknown container kind {kind!r}")
    return (kind, aux, tuple(tree_from_json(c) for c in children))


def _namedtuple_class(module: str, qualname: str, fields: list[str]) -> Any:
    try:
        obj: Any = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
        if isinstance(obj, type) and tuple(getattr(obj, "_fields", ())) == tuple(fields):
            return obj
    except Exception:
        pass
    return namedtuple(qualname.rpartition(".")[2], fields)  # type: ignore[misc]


def leaf_to_json(k: Any, where: str) -> dict[str, Any]:
    """The manifest entry of an argument key (`keys.leaf_key`)."""
    kind = k[0]
    if kind == "T":
        if not all(type(d) is int for d in k[1]):
            raise TypeError(
                f"{where} is a tensor of shape {tuple(k[1])}: a shape-polymorphic trace "
                "(from an input_signature, reduce_retracing or a TensorSpec with None) "
                "cannot be exported yet; export it for the shapes it will be called with, "
                "e.g. f.export(tj.TensorSpec([...]))")
        return {"kind": "tensor", "shape": list(k[1]), "dtype": k[2]}
    if kind == "V":
        return {"kind": "variable", "shape": list(k[1]), "dtype": k[2], "trainable": k[3],
                "first": k[4]}
    if kind == "S" and k[1].__name__ in _STATIC_TYPES and k[1] is _STATIC_TYPES[k[1].__name__]:
        return {"kind": "static", "type": k[1].__name__, "value": k[2]}
    if kind == "F" and k[1] is float:
        return {"kind": "static", "type": "float", "value": k[2].hex()}
    raise TypeError(f"{where} is {describe(k)}, which an exported signature cannot hold: "
                    "export signatures whose Python arguments are numbers, strings, bools "
                    "or None (pass other values as tensors)")


def leaf_from_json(j: dict[str, Any]) -> Any:
    """The argument key of a manifest entry (`leaf_to_json`)."""
    kind = j["kind"]
    if kind == "tensor":
        return ("T", tuple(int(d) for d in j["shape"]), str(np.dtype(j["dtype"]).str))
    if kind == "variable":
        return ("V", tuple(int(d) for d in j["shape"]), str(np.dtype(j["dtype"]).str),
                bool(j["trainable"]), int(j["first"]))
    if kind == "static" and j["type"] == "float":
        return ("F", float, bytes.fromhex(j["value"]))
    if kind == "static":
        t = _STATIC_TYPES[j["type"]]
        v = j["value"]
        if t is not type(None) and type(v) is not t:
            raise ValueError(f"a static {j['type']} holds {v!r}")
        return ("S", t, v)
    raise ValueError(f"unknown argument kind {kind!r}")


def params_of(sig: inspect.Signature | None) -> list[list[Any]] | None:
    """The Python function's parameters: [name, kind, has a default] each."""
    if sig is None:
        return None
    return [[p.name, int(p.kind), p.default is not inspect.Parameter.empty]
            for p in sig.parameters.values()]


# ---------------------------------------------------------------- export

class _Exporter:
    """Builds one artifact: the Variables table, the sections and the manifest."""

    def __init__(self, values: bool):
        self.w = artifact.Writer()
        self.values = values
        self.variables: list[Variable] = []
        self._var_index: dict[int, int] = {}
        self._n = 0
        self.libraries: dict[str, dict[str, Any]] = {}

    def _name(self, what: str) -> str:
        self._n += 1
        return f"{self._n}.{what}"

    def variable(self, var: Variable) -> int:
        i = self._var_index.get(id(var))
        if i is None:
            i = self._var_index[id(var)] = len(self.variables)
            self.variables.append(var)
        return i

    def variables_json(self) -> list[dict[str, Any]]:
        return [{"name": v.name, "dtype": v.dtype.str, "shape": list(v.shape),
                 "trainable": v.trainable,
                 "value": self.w.array(self._name("variable"), v.numpy()) if self.values
                 else None} for v in self.variables]

    def function(self, fn: Any, exe: Any) -> dict[str, Any]:
        text = print_function(fn)
        obj = getattr(exe, "object_code", None)
        if obj is not None:
            from .codegen import runtime
            for sym, key, lib in runtime.libraries_of(obj):
                if sym not in self.libraries:
                    self.libraries[sym] = {"symbol": sym, "key": key,
                                           "object": self.w.add(self._name("o"), lib)}
        return {"ir": self.w.add(self._name("ir"), text.encode()),
                "object": self.w.add(self._name("o"), obj) if obj is not None else None,
                "object_key": objcache.key_for(text)}

    def signature(self, key: Any, conc: Concrete, backward: bool, where: str) -> dict[str, Any]:
        tree, leaf_keys = key[0], key[1]
        leaves = [leaf_to_json(k, f"{where}: argument leaf {i}")
                  for i, k in enumerate(leaf_keys)]
        out_kind: list[Any] = []
        for k in conc.out_kind:
            if k[0] == "r":
                out_kind.append(["r", k[1]])
            elif k[0] == "t":
                out_kind.append(["t", self.w.array(self._name("result"), k[1])])
            elif k[1] is None or type(k[1]) in (bool, int, float, str):
                out_kind.append(["c", k[1]])
            else:
                raise TypeError(f"{where} returns a {type(k[1]).__name__}, which an export "
                                "cannot hold: return tensors, numbers, strings or None")
        captures: list[dict[str, Any]] = []
        for obj, src in zip(conc.captures, conc.capture_src):
            if src is not None:
                captures.append({"leaf": src})
            elif isinstance(obj, Variable):
                captures.append({"variable": self.variable(obj)})
            else:
                assert isinstance(obj, Tensor)
                captures.append({"constant": self.w.array(self._name("constant"), obj._data)})
        assigned = [{"leaf": src} if src is not None else {"variable": self.variable(var)}
                    for var, src in zip(conc.assigned, conc.assigned_src)]
        fwd = self.function(conc.opt_fn, conc.executable())
        bwd = None
        if backward:
            from .ir.prims.call import backward_of
            prepare_backward(conc)
            b = backward_of(conc.opt_fn)
            bwd = {**self.function(b.fn, executables.native(b.fn)),
                   "connected": list(b.connected)}
        return {"in_tree": tree_to_json(tree), "leaves": leaves,
                "out_tree": tree_to_json(conc.out_tree), "out_kind": out_kind,
                "n_out": conc.n_out, "n_checks": conc.n_checks, "captures": captures,
                "assigned": assigned,
                "forward": fwd, "backward": bwd}


def built_with() -> dict[str, str]:
    """The versions and host an artifact records."""
    info = engine.host_info()
    return {"tracejit": VERSION, "python": sys.version.split()[0], "numpy": np.__version__,
            "llvmlite": llvmlite.__version__, "cpu": info["cpu"],
            "features": info["features"], "triple": info["triple"]}


def export_signatures(name: str, sig: inspect.Signature | None,
                      items: list[tuple[Any, Concrete]], backward: bool = False,
                      values: bool = True) -> tuple[bytes, list[Variable]]:
    """The artifact of the traced signatures `items` ((key, Concrete) pairs) of the
    function `name` with Python signature `sig`, and the Variables it reads in the order
    of its table (their values stored unless not `values`: then the loader must be given
    them)."""
    ex = _Exporter(values)
    sigs = [ex.signature(key, conc, backward, f"{name} (signature {n})")
            for n, (key, conc) in enumerate(items)]
    manifest = {"name": name, "params": params_of(sig), "built_with": built_with(),
                "signatures": sigs, "variables": ex.variables_json(),
                "libraries": list(ex.libraries.values())}
    return artifact.pack(manifest, ex.w), ex.variables


def reduce_compiled(owner: CompiledFunction) -> Any:
    """`__reduce__` of a compiled function: every signature it has traced, as an artifact
    (the Variables pickled alongside as themselves, so that they stay shared with other
    objects of the same pickle)."""
    items = [(k, c) for k, c in list(owner._cache.items()) if len(k) == 2
             and all(x[0] != "T" or all(type(d) is int for d in x[1]) for x in k[1])]
    if not items and owner._cache:
        raise TypeError(f"tj.compile function {owner.__name__!r} has only shape-polymorphic "
                        "traces (from an input_signature, reduce_retracing or a TensorSpec "
                        "with None), which cannot be pickled yet: pickle a function traced "
                        "for fixed shapes (or f.export(tj.TensorSpec([...])))")
    if not items:
        raise TypeError(f"tj.compile function {owner.__name__!r} cannot be pickled before "
                        "it is traced: pickling sends its compiled signatures, not its "
                        "Python code. Call it (or f.export(...)) with the arguments it "
                        "will get first.")
    from .loading import unpickle
    data, variables = export_signatures(owner.__name__, owner._sig, items, values=False)
    return unpickle, (data, variables)


def reduce_concrete(conc: Concrete) -> Any:
    """`__reduce__` of a concrete function: its signature as an artifact."""
    if conc.key is None or len(conc.key) != 2:
        raise TypeError(f"concrete function {conc.name} cannot be pickled (it was traced "
                        "for a call whose Variable argument is also read from outside)")
    from .loading import unpickle
    data, variables = export_signatures(conc.name, conc.python_signature,
                                        [(conc.key, conc)], values=False)
    return unpickle, (data, variables, 0)


def prepare_backward(conc: Concrete) -> None:
    """Build and optimize the backward Function of `conc`'s optimized Function (as a
    `call` of it differentiates with) so that an export can hold it."""
    from .ir.prims.call import Backward, backward_of, set_backward
    b = backward_of(conc.opt_fn)
    if b.fn not in executables.OPTIMIZED_FNS:
        opt = executables._optimized(b.fn)
        set_backward(conc.opt_fn, Backward(opt, b.connected))
