"""Runtime-sized rules of the batched kernels (`lower_poly.py`): convolutions, pools and
the LAPACK primitives, whose unknown dimensions are batch dimensions.

Such an instruction is independent per item of its batch (an image for `conv` and the
pools, a matrix for the LAPACK kernels). Its fixed-shape lowering (`lower_conv`,
`lower_pool`, `lower_lapack*`, unchanged) is compiled for a block of `block` items into an
internal function of the module (a `Lowerer` of a one-instruction Function, the way
`lower_region` lowers a body), and again for one item when `block > 1`; the runtime-sized
code calls it on consecutive blocks of the batch, whose length is read at run time, then
item by item on the rest. So the kernels run the same code as fixed shapes do, per block.

Invariants:
- `BATCH[prim](ins)` gives the number of leading batch axes of each operand and each
  result (0: not batched); every unknown dimension of the instruction is in such an axis
  (`kernel_blocker` says why not otherwise, and the function compiles per shape).
  Batch axes are flattened into one: item `k` of a value starts at `k * (its elements per
  item)`.
- A result without a batch axis is a sum over the items (`conv_filter_grad`): it is
  zeroed, and each block's product is added to it from a scratch buffer (`temporaries`).
- `max_pool_argmax` numbers elements of the block's input: the block's first element is
  added to each index.
- A failing call ends the function: NOMEM as it is; a kernel's own failure (a singular
  matrix: `(info, batch number)` in the status) with the batch number made global and the
  code of this instruction, so `FAILURES` raises what fixed-shape code raises.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from llvmlite import ir

from ..ir import Function, Instr, TensorType, Value, dims
from ..ir.prims.registry import get_primitive
from .fusion import make_plan
from .llvmtypes import I32, scalar_constant
from .loops import const, for_range
from .lower import NOMEM, Lowerer
from .lower_elementwise import convert
from .poly_rows import PolyRows

LAPACK = ("cholesky", "eigh", "lu", "qr", "slogdet", "solve", "svd", "triangular_solve")
POOLS = ("avg_pool", "max_pool", "max_pool_argmax")


def _matrices(ins: Instr) -> tuple[list[int], list[int]]:
    r = ins.inputs[0].ndim - 2
    return [r] * len(ins.inputs), [r] * len(ins.outs)


#: The leading batch axes of each operand and result, by primitive (see the invariants).
BATCH: dict[str, Callable[[Instr], tuple[list[int], list[int]]]] = {
    "conv": lambda ins: ([1, 0], [1]),
    "conv_filter_grad": lambda ins: ([1, 1], [0]),
    **{p: (lambda ins: ([1], [1])) for p in POOLS},
    **{p: _matrices for p in LAPACK},
}

#: Items per block: about this many output rows (positions, matrix elements) per call.
BLOCK_WORK = 1024
BLOCK_MAX = 64


def kernel_blocker(ins: Instr) -> str | None:
    """None when the unknown dimensions of `ins` (a primitive of `BATCH`) are all batch
    dimensions, else why it needs concrete sizes."""
    ins_b, outs_b = BATCH[ins.prim](ins)
    for v, r in list(zip(ins.inputs, ins_b)) + list(zip(ins.outs, outs_b)):
        if dims.is_symbolic(v.type.shape[r:]):
            return f"{ins.prim} (an unknown dimension other than a batch dimension)"
    return None


def _item_shape(v: Value, r: int, count: int) -> tuple[int, ...]:
    return ((count,) + tuple(v.type.shape[r:])) if r else tuple(v.type.shape)


def item_function(ins: Instr, count: int) -> Function:
    """`ins` on `count` items: one instruction, its batch axes one axis of `count`."""
    ins_b, outs_b = BATCH[ins.prim](ins)
    params = [Value(TensorType(_item_shape(x, r, count), x.dtype))
              for x, r in zip(ins.inputs, ins_b)]
    outs = [Value(TensorType(_item_shape(o, r, count), o.dtype))
            for o, r in zip(ins.outs, outs_b)]
    types = get_primitive(ins.prim).infer([p.type for p in params], ins.params)
    assert [t.shape for t in types] == [o.type.shape for o in outs], (ins.prim, types)
    return Function(f"{ins.prim}_{count}", params, [Instr(ins.prim, params, ins.params, outs)],
                    outs)


def _block(ins: Instr) -> int:
    """Items per call of the block kernel: enough rows of work per call that the call
    overhead and small GEMMs do not dominate."""
    x, r = ins.inputs[0], BATCH[ins.prim](ins)[0][0]
    if ins.prim in LAPACK:
        per = dims.size(x.type.shape[r:])
    else:
        per = dims.size(x.type.shape[1:-1])
    assert isinstance(per, int)
    return max(1, min(BLOCK_MAX, -(-BLOCK_WORK // max(1, per))))


class PolyKernels(PolyRows):
    """The batched kernels' rule (see the module docstring)."""

    def temporaries(self, ins: Instr) -> list[Value]:
        if ins.prim in BATCH:
            _, outs_b = BATCH[ins.prim](ins)
            return [Value(o.type) for o, r in zip(ins.outs, outs_b) if not r]
        return super().temporaries(ins)

    def _kernel(self, ins: Instr) -> None:
        b = self.b
        ins_b, outs_b = BATCH[ins.prim](ins)
        block = _block(ins)
        total = self.dim(dims.size(ins.inputs[0].type.shape[:ins_b[0]]))
        kernels = {}
        for count in sorted({block, 1}):
            fn = item_function(ins, count)
            sub = Lowerer(make_plan(fn), self.module,
                          self.module.get_unique_name(f"kernel_{ins.prim}_{count}"))
            sub.run()
            kernels[count] = sub.fn
        sums = [o for o, r in zip(ins.outs, outs_b) if not r]
        temps = dict(zip((id(o) for o in sums), self.temps.get(id(ins), [])))
        for o in sums:
            zero = scalar_constant(0, o.dtype)
            self.nest([self.count(o)], lambda i, o=o, z=zero: self.store(o, i[0], z), "z")

        def run(count: int, start: ir.Value) -> None:
            args = []
            for v, r in list(zip(ins.inputs, ins_b)) + list(zip(ins.outs, outs_b)):
                if not r:
                    args.append(self.ptr(temps[id(v)]) if id(v) in temps else self.ptr(v))
                    continue
                per = self.dim(dims.size(v.type.shape[r:]))     # known: `kernel_blocker`
                args.append(b.gep(self.ptr(v), [b.mul(start, per)], inbounds=True))
            rc = b.call(kernels[count], args + [self.status])
            with b.if_then(b.icmp_signed("!=", rc, ir.Constant(I32, 0)), likely=False):
                self._kernel_failed(ins, rc, start)
            for o in sums:
                t = temps[id(o)]
                self.nest([self.count(o)], lambda i, o=o, t=t: self.store(
                    o, i[0], b.fadd(self.load(o, i[0]), self.load(t, i[0]))), "sum")
            if ins.prim == "max_pool_argmax":
                self._offset_indices(ins, count, start)

        full = b.udiv(total, const(block))
        with for_range(b, full, name="block") as k:
            run(block, b.mul(k, const(block)))
        if block > 1:
            with for_range(b, b.mul(full, const(block)), total, name="item") as k:
                run(1, k)

    _conv = _conv_filter_grad = _kernel
    _avg_pool = _max_pool = _max_pool_argmax = _kernel
    _cholesky = _eigh = _lu = _qr = _slogdet = _solve = _svd = _triangular_solve = _kernel

    def _kernel_failed(self, ins: Instr, rc: ir.Value, start: ir.Value) -> None:
        """End the function after a kernel's failure `rc` (see the module invariants)."""
        b = self.b
        with b.if_then(b.icmp_signed("==", rc, ir.Constant(I32, NOMEM))):
            self.release()
            b.ret(rc)
        at = b.gep(self.status, [const(1)])
        b.store(b.add(b.load(at), start), at)
        code = self.number[id(ins)] + 1
        b.store(const(code), b.gep(self.status, [const(2)]))
        self.release()
        b.ret(ir.Constant(I32, code))

    def _offset_indices(self, ins: Instr, count: int, start: ir.Value) -> None:
        """The argmax indices of the items from `start` made indices into the whole input
        (the kernel numbered the elements of its block)."""
        b = self.b
        x, out = ins.inputs[0], ins.outs[0]
        per_in = dims.size(x.type.shape[1:])
        per_out = dims.size(out.type.shape[1:])
        assert isinstance(per_in, int) and isinstance(per_out, int)
        first = convert(b, b.mul(start, const(per_in)), np.int64, out.dtype)
        base = b.mul(start, const(per_out))
        with for_range(b, count * per_out, name="arg") as i:
            at = b.add(base, i)
            self.store(out, at, b.add(self.load(out, at), first))
