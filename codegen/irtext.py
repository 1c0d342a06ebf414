"""The text of an llvmlite module, as `str(module)` gives it, in about half the time.

llvmlite prints an instruction through several layers of calls per instruction and per
operand (`__str__`, `_to_string`, `descr`, `str.format` of every type and reference).
`module_text` formats the instruction classes the lowering emits with one function
each, and leaves everything else (declarations, globals, metadata, function headers and
any instruction class or attribute it does not know) to llvmlite itself.

Invariant: `module_text(m) == str(m)` for every module, byte for byte (the object code
and the disk cache keys depend on the text). `tests/codegen/test_irtext.py` compares the
two on the modules of every primitive's lowering and on each instruction form handled
here; each formatter below copies the `descr` of its llvmlite class (0.50), including
its spacing and the final `rstrip`.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from llvmlite import ir
from llvmlite.ir import instructions as ins
from llvmlite.ir import types, values

from ..ir.caches import on_clear
from .irbuild import FAST

Formatter = Callable[[Any], str]

# llvmlite keeps a value's reference (its text as an operand) in this attribute, made on
# the value's first `get_reference()` through an AttributeError raised and caught: a third
# of the time of printing W3's modules. `_ref` makes a named value's reference itself
# (`NamedValue._get_reference`'s text) and keeps it where llvmlite would.
_CACHE = "_StringReferenceCaching__cached_refstr"
# Per class: whether its reference is `NamedValue`'s (`%"name"`, `@"name"`).
_PLAIN: dict[type, bool] = {}
on_clear("codegen: which llvmlite classes print NamedValue's reference", _PLAIN.clear)


def _ref(v: Any) -> str:
    """`v.get_reference()`: the same text, kept in the same cache."""
    r = getattr(v, _CACHE, None)
    if r is not None:
        return r  # type: ignore[no-any-return]
    cls = type(v)
    plain = _PLAIN.get(cls)
    if plain is None:
        plain = _PLAIN[cls] = (isinstance(v, values.NamedValue)
                               and cls._get_reference is values.NamedValue._get_reference)
    if not plain:
        return v.get_reference()  # type: ignore[no-any-return]
    name = v._name
    if "\\" in name or '"' in name:
        name = name.replace("\\", "\\5c").replace('"', "\\22")
    r = f'{v.name_prefix}"{name}"'
    setattr(v, _CACHE, r)
    return r


def _meta(i: Any) -> str:
    return i._stringify_metadata(leading_comma=True) if i.metadata else ""


def _descr(i: Any) -> str:
    """llvmlite's own `descr` (what `str(i)` adds to the `%name = ` prefix)."""
    buf: list[str] = []
    i.descr(buf)
    return "".join(buf)


def _generic(i: Any) -> str:
    op = i.opname
    if i.flags:
        op = " ".join([op] + i.flags)
    refs = ", ".join([_ref(o) for o in i.operands])
    return f"{op} {i.type} {refs}{_meta(i)}"


def _cast(i: Any) -> str:
    (v,) = i.operands
    return f"{i.opname} {v.type} {_ref(v)} to {i.type} {_meta(i)}"


def _compare(i: Any) -> str:
    a, b = i.operands
    flags = "".join([" " + f for f in i.flags])
    return f"{i.opname}{flags} {i.op} {a.type} {_ref(a)}, {_ref(b)} {_meta(i)}"


def _load(i: Any) -> str:
    (p,) = i.operands
    align = "" if i.align is None else f", align {i.align:d}"
    return f"load {i.type}, {p.type} {_ref(p)}{align}{_meta(i)}"


def _store(i: Any) -> str:
    v, p = i.operands
    align = "" if i.align is None else f", align {i.align:d}"
    return f"store {v.type} {_ref(v)}, {p.type} {_ref(p)}{align}{_meta(i)}"


def _gep(i: Any) -> str:
    idx = ", ".join([f"{x.type} {_ref(x)}" for x in i.indices])
    op = "getelementptr inbounds" if i.inbounds else "getelementptr"
    p = i.pointer
    return f"{op} {i.source_etype}, {p.type} {_ref(p)}, {idx} {_meta(i)}"


def _terminator(i: Any) -> str:
    refs = ", ".join([f"{o.type} {_ref(o)}" for o in i.operands])
    return f"{i.opname} {refs}{_meta(i)}"


def _ret(i: Any) -> str:
    if i.operands:
        (v,) = i.operands
        return f"{i.opname} {v.type} {_ref(v)}{_meta(i)}"
    return f"{i.opname}{_meta(i)}"


def _phi(i: Any) -> str:
    incoming = ", ".join([f"[{_ref(v)}, {_ref(b)}]"
                          for v, b in i.incomings])
    return f"phi {' '.join(i.flags)} {i.type} {incoming} {_meta(i)}"


def _select(i: Any) -> str:
    c, a, b = i.operands
    return (f"select {' '.join(i.flags)} {c.type} {_ref(c)}, "
            f"{a.type} {_ref(a)}, {b.type} {_ref(b)} {_meta(i)}")


def _alloca(i: Any) -> str:
    text = f"{i.opname} {i.allocated_type}"
    if i.operands:
        (n,) = i.operands
        text += f", {n.type} {_ref(n)}"
    if i.align is not None:
        text += f", align {i.align}"
    return text + _meta(i)


def _call(i: Any) -> str:
    if i.arg_attributes or i.attributes or i.cconv:
        return _descr(i)
    callee = i.operands[0]
    fnty = callee.function_type
    ty = fnty if fnty.var_arg else fnty.return_type
    args = ", ".join([f"{a.type} {_ref(a)}" for a in i.operands[1:]])
    tail = f"{i.tail} " if i.tail else ""
    fm = " " + " ".join(i.fastmath._to_list(fnty.return_type)) if i.fastmath else ""
    return f"{tail}{i.opname}{fm} {ty} {_ref(callee)}({args}){_meta(i)}"


# Keyed by the exact class: a subclass (InvokeInstr, SwitchInstr, ...) has its own descr.
_FORMAT: dict[type, Formatter] = {
    ins.Instruction: _generic, ins.CastInstr: _cast, ins.ICMPInstr: _compare,
    ins.FCMPInstr: _compare, ins.LoadInstr: _load, ins.StoreInstr: _store,
    ins.GEPInstr: _gep, ins.Branch: _terminator, ins.ConditionalBranch: _terminator,
    ins.Ret: _ret, ins.PhiInstr: _phi, ins.SelectInstr: _select, ins.AllocaInstr: _alloca,
    ins.CallInstr: _call,
}


def _function(f: ir.Function) -> str:
    """`str(f)` of a defined function."""
    buf: list[str] = []
    f.descr_prototype(buf)
    buf.append("{\n")
    get, void = _FORMAT.get, types.VoidType
    for blk in f.blocks:
        buf.append(f"{blk._format_name()}:\n")
        for i in blk.instructions:
            fmt = get(type(i))
            if fmt is None:
                buf.append(f"  {i}\n")
            elif isinstance(i.type, void):
                buf.append(f"  {fmt(i).rstrip()}\n")
            else:
                buf.append(f"  {_ref(i)} = {fmt(i).rstrip()}\n")
    buf.append("}\n")
    return "".join(buf)


def module_text(m: ir.Module) -> str:
    """`str(m)`, byte for byte (see the module docstring).

    Example: `engine.compile_object(module_text(module))`."""
    if not FAST:
        return str(m)
    lines = [f'; ModuleID = "{m.name}"', f'target triple = "{m.triple}"',
             f'target datalayout = "{m.data_layout}"', ""]
    lines += [t.get_declaration() for t in m.get_identified_types().values()]
    lines += [_function(v) if type(v) is ir.Function and v.blocks else str(v)
              for v in m.globals.values()]
    lines += m._get_metadata_lines()
    return "\n".join(lines)
