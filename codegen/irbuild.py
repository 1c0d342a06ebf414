"""`Builder`: llvmlite's `IRBuilder`, making the common instructions in fewer calls.

llvmlite makes one instruction through six to nine Python calls: the builder method (and
its decorator's wrapper), the class's `__init__` chain down to `NamedValue`, which names
the value through `NameScope.register` and `deduplicate`, then `_insert`. That was about
a third of lowering W3. `Builder` makes the instructions the lowering emits most (binary
operations, casts, compares, select, load, store, getelementptr, phi, call, branches,
return) and basic blocks in one call each: the same classes with the same attributes,
named from the function's scope exactly as `NameScope.register` names them.

Invariants:
- An instruction or block made here equals, attribute by attribute, the one
  `ir.IRBuilder` makes from the same calls, and gets the same name, so a module and its
  text are those llvmlite's own builder makes (`tests/codegen/test_irbuild.py` builds
  every primitive's lowering both ways and compares the texts, and each method's
  instruction field by field).
- Anything else goes to llvmlite's own method: opaque pointers or an explicit element
  type, debug metadata on the builder, call attributes or calling conventions, metadata
  arguments, operands of mismatched types (llvmlite raises its error).
- The fast paths copy the private layout of llvmlite's classes in the releases of
  `VERIFIED` (the ones the tests above ran on). Under any other release, or one without
  the private helper imported below, `FAST` is False:
  `Builder` is llvmlite's own `IRBuilder`, `new_function` and `set_weights` call
  llvmlite, and `irtext.module_text` is `str(module)`; slower, never wrong.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import llvmlite
from llvmlite import ir
from llvmlite.ir import instructions as ins
from llvmlite.ir import types

try:        # private: a release without it takes llvmlite's own builder (FAST is False)
    from llvmlite.ir.builder import _label_suffix
    _PRIVATE_HELPERS = True
except ImportError:
    _PRIVATE_HELPERS = False

# llvmlite releases (major.minor) whose classes the fast paths were checked against
# (tests/codegen/test_irbuild.py and test_irtext.py run under each: 0.45.1 to 0.50.0).
VERIFIED = ("0.45", "0.46", "0.47", "0.48", "0.49", "0.50")


def verified(version: str) -> bool:
    """Whether llvmlite `version` is one of `VERIFIED`."""
    return ".".join(version.split(".")[:2]) in VERIFIED


FAST = verified(llvmlite.__version__) and _PRIVATE_HELPERS

_new = object.__new__
_Base = ir.IRBuilder
_VOID = types.VoidType()
_LABEL = types.LabelType()
_I1 = types.IntType(1)
_TYPED_PTR = type(types.IntType(8).as_pointer())      # llvmlite's typed pointer class
_CMP = {">": "gt", "<": "lt", "==": "eq", "!=": "ne", ">=": "ge", "<=": "le"}


def _name(scope: Any, name: str) -> str:
    """`scope.register(name, deduplicate=True)`, inline."""
    used = scope._useset
    if name in used:
        base, counts = name, scope._basenamemap
        while name in used:
            counts[base] += 1
            name = f"{base}.{counts[base]}"
    used.add(name)
    return name


def _make(cls: type, block: Any, typ: Any, opname: str, operands: Any, name: str,
          flags: Sequence[str] = ()) -> Any:
    """An instruction of class `cls` in `block`, as `Instruction.__init__` makes it (not
    inserted)."""
    i: Any = _new(cls)
    i.parent = block
    i.type = typ
    i._name = _name(block.scope, name)
    i.opname = opname
    i.operands = operands
    i.flags = list(flags)
    i.metadata = {}
    return i


def known_metadata(module: ir.Module, operands: tuple[Any, ...] | None) -> Any:
    """The node of `module` that `module.add_metadata(list(operands))` would return, if it
    made one already (llvmlite's metadata cache, keyed by the operands' values), else
    None; always None without the fast paths. It spares making the operands again."""
    return module._metadatacache.get(operands) if FAST else None


# The operands of a branch-weights node (`PredictableInstr.set_weights`), to find a
# module's node without making them again: equal operands are one key of the module's
# metadata cache (`Module.add_metadata`).
_WEIGHTS = {w: (ir.MetaDataString(ir.Module(), "branch_weights"),
                *(ir.Constant(types.IntType(32), x) for x in w))
            for w in ((99, 1), (1, 99))}


def set_weights(br: Any, weights: tuple[int, int]) -> None:
    """`br.set_weights(weights)`, reusing the module's node when it has one."""
    module = br.parent.parent.module
    md = known_metadata(module, _WEIGHTS.get(weights))
    if md is None:
        br.set_weights(list(weights))
        return
    _name(module.scope, "")     # what the MetaDataString set_weights makes would register
    br.metadata["prof"] = md


def _argument(cls: type, fn: Any, typ: Any) -> Any:
    """An `ir.Argument` or `ir.ReturnValue` of `fn`, as `_BaseArgument.__init__` makes it."""
    a: Any = _new(cls)
    a.parent = fn
    a.type = typ
    a._name = _name(fn.scope, "")
    attrs: Any = set.__new__(ir.values.ArgumentAttributes)
    attrs._align = attrs._dereferenceable = attrs._dereferenceable_or_null = 0
    a.attributes = attrs
    return a


def new_function(module: ir.Module, ftype: ir.FunctionType, name: str) -> ir.Function:
    """`ir.Function(module, ftype, name)`, as `Function.__init__` makes it, each argument
    in one call (a function of a dozen arguments took a dozen chains of five)."""
    if not FAST:
        return ir.Function(module, ftype, name)
    f: Any = _new(ir.Function)
    f.parent = module
    f.type = ftype.as_pointer()
    f._name = module.scope.register(name)       # a global's name is not deduplicated
    f.linkage = f.storage_class = f.section = ""
    f.metadata = {}
    f.ftype = ftype
    f.scope = ir._utils.NameScope()
    f.blocks = []
    f.attributes = ir.values.FunctionAttributes()
    f.args = tuple([_argument(ir.Argument, f, t) for t in ftype.args])
    f.return_value = _argument(ir.values.ReturnValue, f, ftype.return_type)
    module.add_global(f)
    f.calling_convention = ""
    return f


def _binop(method: str, opname: str) -> Any:
    slow = getattr(_Base, method)

    def op(self: Builder, lhs: Any, rhs: Any, name: str = "", flags: Sequence[str] = ()
           ) -> Any:
        t = lhs.type
        if self.debug_metadata is not None or (t is not rhs.type and t != rhs.type):
            return slow(self, lhs, rhs, name, flags)
        return self._put(_make(ins.Instruction, self._block, t, opname, (lhs, rhs), name,
                               flags))
    return op


def _cast(method: str) -> Any:
    slow = getattr(_Base, method)

    def op(self: Builder, val: Any, typ: Any, name: str = "") -> Any:
        if val.type is typ or self.debug_metadata is not None or val.type == typ:
            return slow(self, val, typ, name)
        return self._put(_make(ins.CastInstr, self._block, typ, method, [val], name))
    return op


class Builder(ir.IRBuilder):  # type: ignore[misc]
    """`ir.IRBuilder` with the fast paths of the module docstring."""

    def _put(self, i: Any) -> Any:
        self._block.instructions.insert(self._anchor, i)
        self._anchor += 1
        return i

    shl, lshr, ashr = _binop("shl", "shl"), _binop("lshr", "lshr"), _binop("ashr", "ashr")
    add, sub, mul = _binop("add", "add"), _binop("sub", "sub"), _binop("mul", "mul")
    fadd, fsub, fmul = _binop("fadd", "fadd"), _binop("fsub", "fsub"), _binop("fmul", "fmul")
    udiv, sdiv, fdiv = _binop("udiv", "udiv"), _binop("sdiv", "sdiv"), _binop("fdiv", "fdiv")
    urem, srem, frem = _binop("urem", "urem"), _binop("srem", "srem"), _binop("frem", "frem")
    or_, and_, xor = _binop("or_", "or"), _binop("and_", "and"), _binop("xor", "xor")
    trunc, zext, sext = _cast("trunc"), _cast("zext"), _cast("sext")
    fptrunc, fpext, bitcast = _cast("fptrunc"), _cast("fpext"), _cast("bitcast")
    fptoui, uitofp = _cast("fptoui"), _cast("uitofp")
    fptosi, sitofp = _cast("fptosi"), _cast("sitofp")
    ptrtoint, inttoptr = _cast("ptrtoint"), _cast("inttoptr")

    def append_basic_block(self, name: str = "") -> ir.Block:
        fn = self._block.parent
        blk: Any = _new(ir.Block)
        blk.parent = fn
        blk.type = _LABEL
        blk._name = _name(fn.scope, name)
        blk.scope = fn.scope
        blk.instructions = []
        blk.terminator = None
        fn.blocks.append(blk)
        return blk

    @contextlib.contextmanager
    def if_then(self, pred: Any, likely: bool | None = None) -> Iterator[ir.Block]:
        bb = self._block
        bbif = self.append_basic_block(_label_suffix(bb.name, ".if"))
        bbend = self.append_basic_block(_label_suffix(bb.name, ".endif"))
        br = self.cbranch(pred, bbif, bbend)
        if likely is not None:
            set_weights(br, (99, 1) if likely else (1, 99))
        self.position_at_end(bbif)
        yield bbend
        if self._block.terminator is None:
            self.branch(bbend)
        self.position_at_end(bbend)

    def _icmp(self, prefix: str, cmpop: str, lhs: Any, rhs: Any, name: str) -> Any:
        op = _CMP.get(cmpop)
        if op is None or self.debug_metadata is not None or isinstance(lhs.type,
                                                                       types.VectorType):
            return _Base._icmp(self, prefix, cmpop, lhs, rhs, name)
        if cmpop not in ("==", "!="):
            op = prefix + op
        i = _make(ins.ICMPInstr, self._block, _I1, "icmp", [lhs, rhs], name)
        i.op = op
        return self._put(i)

    def _fcmp(self, prefix: str, cmpop: str, lhs: Any, rhs: Any, name: str,
              flags: Sequence[str]) -> Any:
        op = prefix + _CMP[cmpop] if cmpop in _CMP else cmpop
        i = _make(ins.FCMPInstr, self._block, _I1, "fcmp", [lhs, rhs], name, flags)
        i.op = op
        return self._put(i)

    def _fcmp_or_slow(self, prefix: str, slow: Any, cmpop: str, lhs: Any, rhs: Any,
                      name: str, flags: Sequence[str]) -> Any:
        """`_fcmp`, or llvmlite's `slow` method where the fast path does not apply."""
        op = prefix + _CMP[cmpop] if cmpop in _CMP else cmpop
        if (self.debug_metadata is not None or op not in ins.FCMPInstr.VALID_OP
                or isinstance(lhs.type, types.VectorType)
                or any(f not in ins.FCMPInstr.VALID_FLAG for f in flags)):
            return slow(self, cmpop, lhs, rhs, name, flags)
        return self._fcmp(prefix, cmpop, lhs, rhs, name, flags)

    def fcmp_ordered(self, cmpop: str, lhs: Any, rhs: Any, name: str = "",
                     flags: Sequence[str] = ()) -> Any:
        return self._fcmp_or_slow("o", _Base.fcmp_ordered, cmpop, lhs, rhs, name, flags)

    def fcmp_unordered(self, cmpop: str, lhs: Any, rhs: Any, name: str = "",
                       flags: Sequence[str] = ()) -> Any:
        return self._fcmp_or_slow("u", _Base.fcmp_unordered, cmpop, lhs, rhs, name, flags)

    def select(self, cond: Any, lhs: Any, rhs: Any, name: str = "",
               flags: Sequence[str] = ()) -> Any:
        t = lhs.type
        if self.debug_metadata is not None or (t is not rhs.type and t != rhs.type):
            return _Base.select(self, cond, lhs, rhs, name, flags)
        return self._put(_make(ins.SelectInstr, self._block, t, "select", [cond, lhs, rhs],
                               name, flags))

    def load(self, ptr: Any, name: str = "", align: int | None = None,
             typ: Any = None) -> Any:
        pt = ptr.type
        if (typ is not None or type(pt) is not _TYPED_PTR or self.debug_metadata is not None
                or isinstance(ptr, ins.AllocaInstr)):
            return _Base.load(self, ptr, name, align, typ)
        i = _make(ins.LoadInstr, self._block, pt.pointee, "load", [ptr], name)
        i.align = align
        return self._put(i)

    def store(self, value: Any, ptr: Any, align: int | None = None) -> Any:
        pt = ptr.type
        if (type(pt) is not _TYPED_PTR or self.debug_metadata is not None
                or (pt.pointee is not value.type and pt.pointee != value.type)):
            return _Base.store(self, value, ptr, align)
        i = _make(ins.StoreInstr, self._block, _VOID, "store", [value, ptr], "")
        i.align = align
        return self._put(i)

    def gep(self, ptr: Any, indices: Any, inbounds: bool = False, name: str = "",
            source_etype: Any = None) -> Any:
        pt = ptr.type
        if (source_etype is not None or type(pt) is not _TYPED_PTR
                or self.debug_metadata is not None):
            return _Base.gep(self, ptr, indices, inbounds, name, source_etype)
        # GEPInstr.__init__'s result type (typed pointers).
        typ, last, space = pt, None, 0
        for x in indices:
            last, typ = typ, typ.gep(x)
            if isinstance(last, types.PointerType):
                space = last.addrspace
        if not isinstance(typ, types.PointerType) and isinstance(last, types.PointerType):
            typ = last
        else:
            typ = typ.as_pointer(space)
        i = _make(ins.GEPInstr, self._block, typ, "getelementptr", [ptr] + list(indices),
                  name)
        i.source_etype = pt.pointee
        i.pointer = ptr
        i.indices = indices
        i.inbounds = inbounds
        return self._put(i)

    def phi(self, typ: Any, name: str = "", flags: Sequence[str] = ()) -> Any:
        if self.debug_metadata is not None:
            return _Base.phi(self, typ, name, flags)
        i = _make(ins.PhiInstr, self._block, typ, "phi", (), name, flags)
        i.incomings = []
        return self._put(i)

    def call(self, fn: Any, args: Any, name: str = "", cconv: Any = None, tail: Any = False,
             fastmath: Any = (), attrs: Any = (), arg_attrs: Any = None) -> Any:
        if (cconv is not None or attrs or arg_attrs or self.debug_metadata is not None
                or type(fn) is not ir.Function):
            return _Base.call(self, fn, args, name, cconv, tail, fastmath, attrs,
                                     arg_attrs)
        fty = fn.ftype
        args = list(args)
        for a, t in zip(args, fty.args):
            if a.type is not t and (isinstance(t, types.MetaDataType) or a.type != t):
                return _Base.call(self, fn, args, name, cconv, tail, fastmath,
                                         attrs, arg_attrs)
        if len(args) < len(fty.args):
            return _Base.call(self, fn, args, name, cconv, tail, fastmath, attrs,
                                     arg_attrs)
        i: Any = _new(ins.CallInstr)
        i.cconv = fn.calling_convention
        i.tail = tail if isinstance(tail, str) and tail in ins.TailMarkerOptions else (
            "tail" if tail else "")
        i.fastmath = ins.FastMathFlags(fastmath)
        i.attributes = ins.CallInstrAttributes(())
        i.arg_attributes = {}
        i.parent = self._block
        i.type = fty.return_type
        i._name = _name(self._block.scope, name)
        i.opname = "call"
        i.operands = [fn] + args
        i.flags = []
        i.metadata = {}
        return self._put(i)

    def _terminate(self, i: Any) -> Any:
        assert self._block.terminator is None
        self._put(i)
        self._block.terminator = i
        return i

    def branch(self, target: Any) -> Any:
        if self.debug_metadata is not None:
            return _Base.branch(self, target)
        return self._terminate(_make(ins.Branch, self._block, _VOID, "br", [target], ""))

    def cbranch(self, cond: Any, truebr: Any, falsebr: Any) -> Any:
        if self.debug_metadata is not None:
            return _Base.cbranch(self, cond, truebr, falsebr)
        return self._terminate(_make(ins.ConditionalBranch, self._block, _VOID, "br",
                                     [cond, truebr, falsebr], ""))

    def ret(self, value: Any) -> Any:
        if self.debug_metadata is not None:
            return _Base.ret(self, value)
        return self._terminate(_make(ins.Ret, self._block, _VOID, "ret", [value], ""))

    def ret_void(self) -> Any:
        if self.debug_metadata is not None:
            return _Base.ret_void(self)
        return self._terminate(_make(ins.Ret, self._block, _VOID, "ret void", [], ""))


# The methods above that replace llvmlite's (tests compare each with llvmlite's own).
FAST_METHODS = tuple(k for k, v in vars(Builder).items()
                     if callable(v) and not k.startswith("__") and k not in ("_put",
                                                                            "_terminate",
                                                                            "_fcmp",
                                                                            "_fcmp_or_slow"))

if not FAST:
    Builder = ir.IRBuilder  # type: ignore[misc]  # noqa: F811
