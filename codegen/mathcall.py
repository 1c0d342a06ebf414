"""Out-of-line math: one scalar function and one vector variant per (function, type) and
module, called from fused loops whose inline math would make LLVM's work too large.

The inline functions of `mathlib` are 35-140 LLVM instructions each (sin/cos/tan twice
over, with the task's exact-reduction version), and LLVM's O3 pipeline and code
generator grow faster than linearly with a loop body: a chain of 500 inline sines took
47 s to compile. A task whose inline math costs more than the plan's budget
(`fusion.TASK_MATH_BUDGET`, `fusion.MODULE_MATH_BUDGET`) calls these functions instead, so each
function is optimized and compiled once per module and every use costs one call.

Invariants:
- `function(module, name, ty)` returns the scalar function `tj.<name>.<f32|f64>`
  (internal, `noinline`, `memory(none)`), defined once per module. It carries the
  attribute `vector-function-abi-variant` naming its vector variant
  `tj.<name>.<f32|f64>.v<W>` over `W` lanes (the host's widest vector register), so
  LLVM's loop vectorizer replaces each call by one call of the variant per `W` elements.
  The variant is kept alive until the vectorizer ran by `llvm.compiler.used`
  (`finish(module)` emits it).
- Both compute exactly what the inline code with the exact-reduction fallback computes
  (`lower_elementwise.trig`): sin/cos/tan of a finite argument beyond `limit(name, type)` come
  from the C library's function, lane by lane, so results do not depend on the choice.
- The variant is written as a loop over its lanes (inline scalar math through a stack
  array), which the loop vectorizer turns into straight vector code; or, where `mathvec`
  has an explicit body for the function and type on this host, it is that body, and the
  scalar function is lane 0 of it (so an element's result does not depend on whether its
  loop was vectorized).
"""
from __future__ import annotations

from llvmlite import ir

from . import engine, mathvec
from .irbuild import Builder, new_function
from .loops import const, for_range, unless_rare
from .mathlib import FUNCTIONS, emit_math
from .mathtrig import FAST32_LIMIT, TAN64_LIMIT

# The magnitudes up to which mathlib's inline argument reduction holds its bound, per
# type, and where one function's differs (float64 tan shares float32's fast reduction).
TRIG_LIMIT = {"float": FAST32_LIMIT, "double": 1e15}
LIMIT_OF = {("tan", "double"): TAN64_LIMIT}
LIBM = {("sin", "float"): "sinf", ("cos", "float"): "cosf", ("tan", "float"): "tanf",
        ("sin", "double"): "sin", ("cos", "double"): "cos", ("tan", "double"): "tan"}
# The functions whose inline argument reduction has a range limit (the C library beyond).
TRIG = frozenset(name for name, _ in LIBM)
I1 = ir.IntType(1)
I32 = ir.IntType(32)
USED = "llvm.compiler.used"


class _Function(ir.Function):  # type: ignore[misc]  # llvmlite has no type hints
    """An `ir.Function` whose definition carries attributes llvmlite does not know
    (`memory(none)`, `willreturn`, string attributes)."""

    extra = ""

    def descr_prototype(self, buf: list[str]) -> None:
        tmp: list[str] = []
        super().descr_prototype(tmp)
        line = tmp[0]
        buf.append(line[:-1] + " " + self.extra + "\n" if self.extra else line)


def lanes(ty: ir.Type) -> int:
    """Elements of `ty` in the host's widest vector register."""
    feats = engine.host_info(machine=False)["features"].split(",")
    bits = 512 if "+avx512f" in feats else 256 if "+avx" in feats else 128
    return bits // (64 if isinstance(ty, ir.DoubleType) else 32)


def _tag(ty: ir.Type) -> str:
    return "f64" if isinstance(ty, ir.DoubleType) else "f32"


def limit(name: str, ty: ir.Type) -> float:
    """The magnitude up to which the inline `name` (sin, cos or tan) of type `ty` holds
    the bound."""
    return LIMIT_OF.get((name, str(ty)), TRIG_LIMIT[str(ty)])


def far_argument(b: ir.IRBuilder, x: ir.Value, name: str) -> ir.Value:
    """Whether `x` is finite and beyond the inline `name`'s reduction range."""
    ty = x.type
    fabs = b.module.declare_intrinsic("llvm.fabs", [ty], ir.FunctionType(ty, [ty]))
    ax = b.call(fabs, [x])
    return b.and_(b.fcmp_ordered(">", ax, ir.Constant(ty, limit(name, ty))),
                  b.fcmp_ordered("<", ax, ir.Constant(ty, float("inf"))))


def libm(module: ir.Module, name: str, ty: ir.Type) -> ir.Function:
    """The C library's sin/cos/tan for `ty`, declared on first use."""
    cname = LIBM[(name, str(ty))]
    fn = module.globals.get(cname)
    if fn is None:
        fn = new_function(module, ir.FunctionType(ty, [ty]), cname)
    return fn


def _exact_if_far(b: ir.IRBuilder, name: str, x: ir.Value, y: ir.Value) -> ir.Value:
    """`y`, or the C library's result where `x` is far (sin/cos/tan only)."""
    if name not in TRIG:
        return y
    return unless_rare(b, far_argument(b, x, name), y,
                       lambda: b.call(libm(b.module, name, x.type), [x]))


def function(module: ir.Module, name: str, ty: ir.Type) -> ir.Function:
    """The scalar out-of-line `name` for `ty` (with its vector variant), defined in
    `module` on first use. Example: `b.call(function(module, "sin", F32), [x])`."""
    sname = f"tj.{name}.{_tag(ty)}"
    fn = module.globals.get(sname)
    if fn is not None:
        return fn
    nargs = FUNCTIONS[name][0]
    w = lanes(ty)
    wide = _define_vector(module, name, ty, w, nargs, f"{sname}.v{w}")
    # Narrower variants (for the vectorizer's epilogue loops) pad to `w` lanes with
    # zeros and call the widest one: without them each epilogue element is a scalar call.
    maps = [f"_ZGV_LLVM_N{w}{'v' * nargs}_{sname}({sname}.v{w})"]
    for n in (w // 2, w // 4):
        if n >= 2:
            _define_narrow(module, wide, ty, n, w, nargs, f"{sname}.v{n}")
            maps.append(f"_ZGV_LLVM_N{n}{'v' * nargs}_{sname}({sname}.v{n})")
    fn = _Function(module, ir.FunctionType(ty, [ty] * nargs), sname)
    fn.linkage = "internal"
    fn.attributes.add("noinline")
    fn.attributes.add("nounwind")
    fn.extra = f'memory(none) willreturn "vector-function-abi-variant"="{",".join(maps)}"'
    b = Builder(fn.append_basic_block("entry"))
    args = list(fn.args)
    if mathvec.body(name, ty) is not None:
        # lane 0 of the explicit vector body: the same result wherever an element falls
        vty = ir.VectorType(ty, w)
        vargs = [b.insert_element(ir.Constant(vty, None), a, I32(0)) for a in args]
        b.ret(b.extract_element(b.call(wide, vargs, attrs=("noinline",)), I32(0)))
        return fn
    b.ret(_exact_if_far(b, name, args[0], emit_math(b, name, args)))
    return fn


def _aligned_alloca(b: ir.IRBuilder, aty: ir.Type, vty: ir.VectorType) -> ir.Value:
    """A stack array aligned as the vector type it is loaded and stored as: those loads and
    stores assume the vector's ABI alignment (its size), and an array of its elements is
    only element-aligned (an aligned vector move to it faults)."""
    s = b.alloca(aty)
    s.align = vty.count * (8 if isinstance(vty.element, ir.DoubleType) else 4)
    return s


def _define_vector(module: ir.Module, name: str, ty: ir.Type, w: int, nargs: int,
                   vname: str) -> ir.Function:
    vty = ir.VectorType(ty, w)
    aty = ir.ArrayType(ty, w)
    fn = new_function(module, ir.FunctionType(vty, [vty] * nargs), vname)
    fn.linkage = "internal"
    fn.attributes.add("noinline")
    fn.attributes.add("nounwind")
    b = Builder(fn.append_basic_block("entry"))
    explicit = mathvec.body(name, ty)
    if explicit is not None and w == mathvec.width(ty):
        # inlined into the vectorized loops after O3 (`llvmjob.optimize`), where their
        # constants and tables stay in registers across iterations; the scalar function
        # and the narrow variants call it (call sites marked `noinline`: one more copy
        # of the body per module, not one per caller)
        fn.attributes.discard("noinline")
        fn.attributes.add("alwaysinline")
        b.ret(explicit(b, list(fn.args)))
        return fn
    srcs = []
    for a in fn.args:
        s = _aligned_alloca(b, aty, vty)
        b.store(a, b.bitcast(s, vty.as_pointer()))
        srcs.append(s)
    dst = _aligned_alloca(b, aty, vty)
    far = b.alloca(I1)
    b.store(ir.Constant(I1, 0), far)
    with for_range(b, w, name="lane") as i:
        xs = [b.load(b.gep(s, [const(0), i])) for s in srcs]
        b.store(emit_math(b, name, xs), b.gep(dst, [const(0), i]))
        if name in TRIG:
            b.store(b.or_(b.load(far), far_argument(b, xs[0], name)), far)
    if name in TRIG:
        with b.if_then(b.load(far), likely=False):
            with for_range(b, w, name="exact") as i:
                x = b.load(b.gep(srcs[0], [const(0), i]))
                with b.if_then(far_argument(b, x, name), likely=False):
                    b.store(b.call(libm(module, name, ty), [x]), b.gep(dst, [const(0), i]))
    b.ret(b.load(b.bitcast(dst, vty.as_pointer())))
    return fn


def _define_narrow(module: ir.Module, wide: ir.Function, ty: ir.Type, n: int, w: int,
                   nargs: int, vname: str) -> ir.Function:
    vty = ir.VectorType(ty, n)
    fn = new_function(module, ir.FunctionType(vty, [vty] * nargs), vname)
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    b = Builder(fn.append_basic_block("entry"))
    zero = ir.Constant(vty, None)
    pad = ir.Constant(ir.VectorType(ir.IntType(32), w), [k if k < n else n for k in range(w)])
    args = [b.shuffle_vector(a, zero, pad) for a in fn.args]
    # (never inlined: an explicit body is inlined only where the vectorizer calls it)
    r = b.call(wide, args, attrs=("noinline",))
    b.ret(b.shuffle_vector(r, ir.Constant(r.type, None),
                           ir.Constant(ir.VectorType(ir.IntType(32), n), list(range(n)))))
    return fn


def finish(module: ir.Module) -> None:
    """Keep every vector variant of `module` alive until the vectorizer ran, and every
    scalar function's signature as its variants' names say (`llvm.compiler.used`); call
    once, after lowering."""
    # The scalar functions too: an internal function whose address is not taken may lose
    # an argument that every call passes as the same constant (IPSCCP and dead argument
    # elimination: `polygamma(1.0, x)`), and its vector-variant attribute, naming two
    # arguments, then fails verification.
    vecs = [g for g in module.global_values
            if isinstance(g, ir.Function) and g.name.startswith("tj.") and g.blocks]
    if not vecs or USED in module.globals:
        return
    voidp = ir.IntType(8).as_pointer()
    aty = ir.ArrayType(voidp, len(vecs))
    g = ir.GlobalVariable(module, aty, USED)
    g.linkage = "appending"
    g.section = "llvm.metadata"
    g.initializer = ir.Constant(aty, [f.bitcast(voidp) for f in vecs])
