"""Lowering an IR `Function` into LLVM IR: the `Lowerer`, its memory and the task driver.

`Lowerer` builds the internal function `body(p0.., out0.., status) -> i32`, with one
`noalias` pointer per parameter and output, which runs the tasks of the fusion plan
(`plan.py`) in order and returns 0, NOMEM, or k > 0 when the bounds check of instruction
k-1 failed (after writing index, bound and k to `status`). `build.py` wraps it in the
exported entry function.

Invariants:
- Each instruction is lowered by its rule in `rules.LOWERINGS` (element rules inside a
  loop task's loop, through an `emit.Emitter`; kernel rules as tasks of their own), and
  every failure is re-raised as a `LoweringError` that names the instruction. Loop and
  check tasks are lowered by `lower_tasks`; a large plan's tasks go into segment
  functions (`lower_segments`).
- Elements live in registers as their dtype's LLVM type (`i1` for bool) and in memory as
  the NumPy layout (`i8` for bool); loads and stores are aligned to the element size only.
- No fast-math flags other than `contract` (elementwise) and `reassoc` (reductions).
- A task that computes sin/cos/tan is emitted twice, the second version running only for
  arguments beyond the inline reduction's range (`Lowerer.task`); so every task reads
  only buffers written before it and rewrites all it writes.
- Each scratch buffer is a heap block of its own (`aligned_alloc`, 64 bytes: LLVM knows a
  fresh allocation aliases nothing else), allocated just before the task that writes it
  and freed right after the last task that reads it; every return path frees whatever is
  still allocated.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from llvmlite import ir

from ..ir import Instr, Value
from . import lower_parallel, lower_segments, lower_tasks, mathcall, segments
from .emit import Emitter
from .irbuild import Builder, new_function
from .llvmtypes import I1, I8, I32, VOIDP, mem_type
from .loops import I64, ZERO, const, for_range
from .rules import KERNEL_RULES, LoweringError, kernel_rule, lowering
from .plan import CheckTask, KernelTask, LoopTask, Plan, region_buffers, size_of

if TYPE_CHECKING:
    from .lower_parallel import Chunk
    from .parts import Parts

# Status codes besides 0 and instruction numbers (see build.py).
LAYOUT = -2
NOMEM = -3
BADARGS = -4


class Lowerer:
    """State while lowering one plan into one LLVM module."""

    def __init__(self, plan: Plan, module: ir.Module, name: str = "body",
                 parts: Parts | None = None):
        self.plan = plan
        self.module = module
        # Where the segments of a large plan may go to be compiled in parallel (only the
        # top-level body is split; region bodies stay in the module of their caller).
        self.parts = parts
        fn = plan.fn
        self.buffers = ([(p, None) for p in fn.params] + [(r, k) for k, r in
                                                          enumerate(fn.results)])
        argtys = [mem_type(v.dtype).as_pointer() for v, _ in self.buffers] + [I64.as_pointer()]
        self.fn = new_function(module, ir.FunctionType(I32, argtys), name)
        self.fn.linkage = "internal"
        for a in self.fn.args:
            a.add_attribute("noalias")
        self.status = self.fn.args[-1]
        n_in, n_out = len(fn.params), len(fn.results)
        self.ptrs: dict[int, ir.Value] = {}
        for k, p in enumerate(fn.params):
            self.ptrs.setdefault(id(p), self.fn.args[k])
        self.out_ptrs = list(self.fn.args[n_in:n_in + n_out])
        for vid, k in plan.out_slot.items():
            self.ptrs[vid] = self.out_ptrs[k]
        for v in plan.scratch:     # buffers with no elements are never touched
            if id(v) not in plan.born:
                self.ptrs[id(v)] = ir.Constant(mem_type(v.dtype).as_pointer(), None)
        self.alloca_block = self.fn.append_basic_block("allocas")
        start = self.fn.append_basic_block("start")
        self.b = Builder(start)
        # Heap buffers live at any point are in a table of slots (null when free), which
        # one shared exit block frees on every early return: the code per return path
        # stays constant however many buffers are live (freeing each one there made the
        # code quadratic in the number of scratch buffers).
        n_slots = len(plan.scratch) + 2 + region_buffers(fn)
        self.slots = self.alloca(VOIDP, "slots", n_slots)
        self.free_slots = list(range(n_slots - 1, -1, -1))
        self.slot_of: dict[int, int] = {}
        self.raw_of: dict[int, ir.Value] = {}
        memset = module.declare_intrinsic("llvm.memset", [VOIDP, I64])
        self.b.call(memset, [self.b.bitcast(self.slots, VOIDP), ir.Constant(I8, 0),
                             const(n_slots * 8), ir.Constant(I1, 0)])
        self.rc = self.alloca(I32, "rc")
        self.exit_block: ir.Block | None = None
        self.in_segment = False
        self.value_slot: dict[int, int] = {}
        self.instr_number = {id(ins): k for k, ins in enumerate(plan.fn.instrs)}
        self._globals = 0
        self.const_ptrs: dict[int, ir.Value] = {}
        # Versioning of tasks with sin/cos/tan (see `task`): the current function's flag,
        # made by `far_flag` on first use (None until then).
        self.trig_far: ir.Value | None = None
        self.trig_seen = False
        self.trig_exact = False
        # The current task calls math functions out of line (`mathcall`).
        self.outline_math = False
        # The chunk of a loop task being emitted into a chunk function (`lower_parallel`).
        self.chunk: Chunk | None = None

    # ------------------------------------------------------------------ memory

    def ptr(self, v: Value) -> ir.Value:
        p = self.ptrs.get(id(v))
        if p is None:
            # An arena buffer: its address is computed once per function, in the entry
            # block (after the arena's address), so it dominates every use.
            off = self.arena_off[id(v)]
            assert self.arena is not None
            with self.b.goto_block(self.alloca_block):
                p = self.b.bitcast(self.b.gep(self.arena, [const(off)], inbounds=True),
                                   mem_type(v.dtype).as_pointer())
            self.ptrs[id(v)] = p
        return p

    def load_at(self, ptr: ir.Value, dtype: Any, off: ir.Value) -> ir.Value:
        dt = dtype if isinstance(dtype, np.dtype) else np.dtype(dtype)
        x = self.b.load(self.b.gep(ptr, [off], inbounds=True) if off is not ZERO else ptr,
                        align=dt.itemsize)
        return self.b.icmp_unsigned("!=", x, ir.Constant(I8, 0)) if dt.kind == "b" else x

    def store_at(self, ptr: ir.Value, dtype: Any, off: ir.Value, x: ir.Value) -> None:
        dt = dtype if isinstance(dtype, np.dtype) else np.dtype(dtype)
        if dt.kind == "b":
            x = self.b.zext(x, I8)
        self.b.store(x, self.b.gep(ptr, [off], inbounds=True) if off is not ZERO else ptr,
                     align=dt.itemsize)

    def alloca(self, ty: ir.Type, name: str = "acc", count: int | None = None) -> ir.Value:
        with self.b.goto_block(self.alloca_block):
            return self.b.alloca(ty, size=None if count is None else const(count), name=name)

    def malloc(self, nbytes: int, ty: ir.Type) -> ir.Value:
        """A 64-byte aligned heap buffer; if allocation fails, everything live is freed
        and NOMEM returned. Free it with `free`."""
        size = const(-(-max(1, nbytes) // 64) * 64)
        raw = self.b.call(libc(self.module, "aligned_alloc"), [const(64), size])
        with self.b.if_then(self.b.icmp_unsigned("==", raw, ir.Constant(VOIDP, None)),
                            likely=False):
            self.bail(ir.Constant(I32, NOMEM))
        k = self.free_slots.pop()
        self.b.store(raw, self.slot(k))
        p = self.b.bitcast(raw, ty.as_pointer())
        self.slot_of[id(p)] = k
        self.raw_of[id(p)] = raw
        return p

    def free(self, p: ir.Value) -> None:
        """Free a buffer `malloc` returned."""
        k = self.slot_of.pop(id(p))
        self.free_slots.append(k)
        self.b.call(libc(self.module, "free"), [self.raw_of.pop(id(p))])
        self.b.store(ir.Constant(VOIDP, None), self.slot(k))

    def slot(self, k: int) -> ir.Value:
        """The address of slot `k` of the table of live heap buffers."""
        return self.slots if k == 0 else self.b.gep(self.slots, [const(k)])

    def bail(self, code: ir.Value) -> None:
        """Free every live heap buffer and return `code` (through the shared exit; in a
        segment function, the body's exit after it returns)."""
        if self.in_segment:
            self.b.ret(code)
            return
        if self.exit_block is None:
            self.exit_block = self.fn.append_basic_block("exit")
        self.b.store(code, self.rc)
        self.b.branch(self.exit_block)

    def _emit_exit(self) -> None:
        if self.exit_block is None:
            return
        b = Builder(self.exit_block)
        with for_range(b, len(self.free_slots) + len(self.slot_of), name="slot") as k:
            b.call(libc(self.module, "free"), [b.load(b.gep(self.slots, [k]))])
        b.ret(b.load(self.rc))

    def global_array(self, value: np.ndarray) -> ir.Value:
        """A private constant global holding `value` (C order), as a typed pointer."""
        data = np.ascontiguousarray(value)
        if data.dtype.kind == "b":
            data = data.astype(np.uint8)
        raw = bytearray(data.tobytes())
        aty = ir.ArrayType(I8, max(1, len(raw)))
        g = ir.GlobalVariable(self.module, aty, self.module.get_unique_name("const"))
        self._globals += 1
        g.linkage = "private"
        g.global_constant = True
        g.align = 64
        g.initializer = ir.Constant(aty, raw or bytearray(1))
        with self.b.goto_block(self.alloca_block):
            return self.b.bitcast(g, mem_type(value.dtype).as_pointer())

    def emitter(self, vshape: dict[int, tuple[int, ...]] | None = None) -> Emitter:
        return Emitter(self, vshape)

    def fail_index(self, ins: Instr, index: ir.Value, bound: int) -> None:
        """Write (index, bound, code) to the status buffer and return the code."""
        code = self.instr_number[id(ins)] + 1
        for k, x in enumerate((index, const(bound), const(code))):
            self.b.store(x, self.b.gep(self.status, [const(k)], inbounds=True))
        self.bail(ir.Constant(I32, code))

    # ------------------------------------------------------------------ tasks

    def run(self) -> ir.Function:
        plan = self.plan
        self.born_at: dict[int, list[Value]] = {}
        self.dies_at: dict[int, list[Value]] = {}
        for v in plan.scratch:
            if id(v) in plan.born:      # buffers with no elements are never allocated
                self.born_at.setdefault(plan.born[id(v)], []).append(v)
                self.dies_at.setdefault(plan.dies[id(v)], []).append(v)
        self.stack = segments.stack_scratch(plan)
        self.arena_off, arena_size = segments.arena_scratch(plan, self.stack)
        segs, shared = segments.split(plan, self.stack, arena=self.arena_off)
        for v in plan.scratch:      # stack buffers used by several segments: body's frame
            if id(v) in shared:
                self.ptrs[id(v)] = self.stack_buffer(v)
        arena_raw = self._open_arena(arena_size)
        if len(segs) == 1:
            self.run_tasks(0, len(plan.tasks))
        else:
            lower_segments.emit_segments(self, segs)
        if arena_raw is not None:
            self.free(arena_raw)
        assert not self.slot_of, "a scratch buffer is still allocated at the end"
        self.b.ret(ir.Constant(I32, 0))
        self._emit_exit()
        with self.b.goto_block(self.alloca_block):
            self.b.branch(self.fn.blocks[1])
        mathcall.finish(self.module)
        return self.fn

    def _open_arena(self, size: int) -> ir.Value | None:
        """Allocate the arena of `size` bytes (`segments.arena_scratch`) in the body: the
        call in the entry block (so the buffers' addresses computed there follow it), the
        failure test and its slot in the table at the start. Returns it (None when no
        buffer is in the arena)."""
        self.arena: ir.Value | None = None
        self.arena_slot: int | None = None
        if not size:
            return None
        with self.b.goto_block(self.alloca_block):
            raw = self.b.call(libc(self.module, "aligned_alloc"),
                              [const(64), const(-(-size // 64) * 64)])
        with self.b.if_then(self.b.icmp_unsigned("==", raw, ir.Constant(VOIDP, None)),
                            likely=False):
            self.bail(ir.Constant(I32, NOMEM))
        k = self.free_slots.pop()
        self.b.store(raw, self.slot(k))
        self.slot_of[id(raw)] = k
        self.raw_of[id(raw)] = raw
        self.arena, self.arena_slot = raw, k
        return raw

    def run_tasks(self, start: int, stop: int) -> None:
        """Emit tasks `start` to `stop` of the plan into the current function, each scratch
        buffer allocated before the first task that writes it and freed after the last
        that reads it."""
        for k in range(start, stop):
            for v in self.born_at.get(k, ()):
                if id(v) in self.arena_off:
                    continue
                if id(v) not in self.stack:
                    p = self.malloc(size_of(v.shape) * v.dtype.itemsize, mem_type(v.dtype))
                    self.ptrs[id(v)] = p
                    self.value_slot[id(v)] = self.slot_of[id(p)]
                elif id(v) not in self.ptrs:
                    self.ptrs[id(v)] = self.stack_buffer(v)
            self.task(self.plan.tasks[k])
            for v in self.dies_at.get(k, ()):
                if id(v) not in self.stack and id(v) not in self.arena_off:
                    self.free(self.ptrs[id(v)])

    def stack_buffer(self, v: Value) -> ir.Value:
        """A buffer for `v` in the current function's frame, 64-byte aligned."""
        ty = mem_type(v.dtype)
        with self.b.goto_block(self.alloca_block):
            a = self.b.alloca(ir.ArrayType(ty, max(1, size_of(v.shape))), name="stack")
            a.align = 64
            return self.b.bitcast(a, ty.as_pointer())

    def task(self, task: LoopTask | KernelTask | CheckTask) -> None:
        """Emit `task`. A task that computes sin, cos or tan is emitted twice: the first
        version, all inline vector math, also records whether any argument lay beyond
        the inline reduction's range; only then the second version runs, and recomputes
        the whole task with exact reductions for those arguments. Tasks read only
        buffers written before them and rewrite all they write, so running one again
        is safe. A large loop task runs in chunks on the thread pool (`lower_parallel`),
        each chunk in both versions."""
        if not isinstance(task, CheckTask) and lower_parallel.parallel_task(self, task):
            return
        self.trig_seen, self.trig_exact = False, False
        self.outline_math = not isinstance(task, CheckTask) and task.outline
        start, at = self.b.block, len(self.b.block.instructions)
        self._task(task)
        if self.trig_seen:
            far = self.far_flag()
            # The flag is cleared where the task starts (only in tasks that raise it).
            first = Builder(start)
            first.position_before(start.instructions[at])
            first.store(ir.Constant(I1, 0), far)
            if self.b.block is start:     # straight-line code: still at the block's end
                self.b.position_at_end(start)
            with self.b.if_then(self.b.load(far), likely=False):
                self.trig_exact = True
                self._task(task)
                self.trig_exact = False

    def far_flag(self) -> ir.Value:
        """The current function's flag of sin/cos/tan arguments beyond the inline
        reduction's range (`task`), made on first use: an `alloca` first in the entry
        block (in the body, after the slot table's), where it always was, so the code
        LLVM makes of it is unchanged."""
        if self.trig_far is None:
            ab = Builder(self.alloca_block)
            if self.rc in self.alloca_block.instructions:
                ab.position_after(self.rc)
            else:
                ab.position_at_start(self.alloca_block)
            self.trig_far = ab.alloca(I1, name="far")
        return self.trig_far

    def _task(self, task: LoopTask | KernelTask | CheckTask) -> None:
        if isinstance(task, LoopTask):
            lower_tasks.loop_task(self, task)
        elif isinstance(task, KernelTask):
            with lowering(task.instr):
                KERNEL_RULES[task.instr.prim](self, task.instr)
        else:
            with lowering(task.instr):
                lower_tasks.check_task(self, task)



def libc(module: ir.Module, name: str) -> ir.Function:
    """`aligned_alloc` or `free`, declared in `module` on first use."""
    fn = module.globals.get(name)
    if fn is None:
        ty = (ir.FunctionType(VOIDP, [I64, I64]) if name == "aligned_alloc"
              else ir.FunctionType(ir.VoidType(), [VOIDP]))
        fn = new_function(module, ty, name)
    return fn


@kernel_rule("call", "custom_vjp")
def _call(lw: Lowerer, ins: Instr) -> None:
    raise LoweringError(f"`{ins.prim}` reached the lowering; build_module inlines every call "
                        "and custom_vjp first")
