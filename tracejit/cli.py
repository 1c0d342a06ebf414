"""`tracejit dump`: show what the compiler makes of a function, stage by stage.

    tracejit dump examples/tutorial.py:gradient_wrt_input --arg f32[2,2] --stage grad
    tracejit dump model.py:loss --arg f32[4,3] --arg f32[3] --grad --stage opt
    tracejit dump kernel.tjir --stage llvm
    tracejit dump model.py:loss --arg f32[4,3] --arg f32[3] --stage jvp

Invariants: every failure is one line on stderr and a non-zero exit status (2 for a bad
command line, 1 for an error in the user's code or the compiler), never a traceback.
"""
from __future__ import annotations

import argparse
import ast
import importlib.util
import inspect
import math
import os
import re
import sys
from typing import Any, NoReturn
from collections.abc import Callable

import numpy as np

from .stages import IR_STAGES, STAGES, Pipeline
_DTYPES = {"f32": np.float32, "f64": np.float64, "i32": np.int32, "i64": np.int64,
           "bool": np.bool_}
_SPEC = re.compile(r"^\s*(f32|f64|i32|i64|bool)\s*\[\s*([0-9,\s]*)\]\s*$")


class UsageError(Exception):
    """A bad command line (exit status 2)."""


class UserError(Exception):
    """An error in the user's file or function, or in compiling it (exit status 1)."""


def parse_arg_spec(spec: str) -> Any:
    """`f32[4,3]` -> an array of that type (a dynamic argument); `var:f32[3]` -> a
    tj.Variable of that type; a Python literal (`6`, `0.5`, `"name"`, `None`) -> that
    value (a static argument)."""
    if spec.strip().startswith("var:"):
        value = parse_arg_spec(spec.strip()[4:])
        if not isinstance(value, np.ndarray):
            raise UsageError(f"bad argument spec {spec!r}: var: takes a tensor type, e.g. "
                             "var:f32[3]")
        import tracejit as tj
        return tj.Variable(value)
    m = _SPEC.match(spec)
    if m:
        dims = [d.strip() for d in m.group(2).split(",") if d.strip()]
        shape = tuple(int(d) for d in dims)
        return _sample(shape, _DTYPES[m.group(1)])
    if re.match(r"^\s*[a-z]+\d*\s*\[", spec):
        raise UsageError(f"bad argument spec {spec!r}: expected a dtype among "
                         f"{', '.join(_DTYPES)} and a shape such as [4,3] or [] for a scalar")
    try:
        return ast.literal_eval(spec)
    except (ValueError, SyntaxError):
        raise UsageError(f"bad argument spec {spec!r}: expected a tensor type such as "
                         "f32[4,3] or a Python literal such as 6, 0.5 or 'name'") from None


def _sample(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """Deterministic sample values (only types matter for the dump; values keep any
    data-dependent checks, e.g. indices, in range)."""
    from .ir.core import TensorType
    from .ir.memory import check_allocation
    try:  # before NumPy allocates and fills it
        check_allocation([TensorType(shape, dtype)], "sample argument")
    except MemoryError as e:
        raise UsageError(str(e)) from None
    n = math.prod(shape)
    if np.dtype(dtype).kind == "f":
        return (np.linspace(0.5, 1.5, n) if n else np.zeros(0)).astype(dtype).reshape(shape)
    if np.dtype(dtype).kind == "b":
        return np.zeros(shape, dtype)
    return np.zeros(shape, dtype)


def load_function(target: str) -> Callable[..., Any]:
    if ":" not in target:
        raise UsageError(f"expected FILE.py:FUNCTION or FILE.tjir, got {target!r}")
    path, name = target.rsplit(":", 1)
    if not os.path.isfile(path):
        raise UsageError(f"no such file: {path}")
    spec = importlib.util.spec_from_file_location("_tracejit_dump_target", path)
    if spec is None or spec.loader is None:
        raise UsageError(f"cannot import {path} as a Python module")
    mod = importlib.util.module_from_spec(spec)
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    try:
        spec.loader.exec_module(mod)
    except SystemExit:
        raise UserError(f"importing {path} called sys.exit()") from None
    except Exception as e:
        raise UserError(f"importing {path} failed: {type(e).__name__}: {_one_line(e)}") \
            from None
    finally:
        sys.path.pop(0)
    fn = getattr(mod, name, None)
    if fn is None:
        raise UsageError(f"{path} has no function {name!r}")
    if not callable(fn):
        raise UsageError(f"{path}:{name} is not a function")
    return getattr(fn, "python_function", fn)


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split("\n")).replace("   at ", " at ").strip()


def with_gradient(fn: Callable[..., Any]) -> Callable[..., Any]:
    """fn(*args) -> (fn(*args), d fn / d tensor args), for a scalar-valued fn."""
    import tracejit as tj

    def value_and_grad(*args: Any) -> Any:
        tensors = [a for a in args if isinstance(a, tj.Tensor) and a.dtype.kind == "f"]
        if not tensors:
            raise UserError("--grad needs at least one float tensor argument")
        with tj.GradientTape() as tape:
            tape.watch(tensors)
            y = fn(*args)
        if not isinstance(y, tj.Tensor) or y.shape != ():
            shape = getattr(y, "shape", type(y).__name__)
            raise UserError(f"--grad needs a function with a scalar result; "
                            f"{getattr(fn, '__name__', 'it')} returned {shape}")
        return y, tape.gradient(y, tensors, unconnected_gradients="zero")
    value_and_grad.__name__ = getattr(fn, "__name__", "f") + "_grad"
    try:
        value_and_grad.__signature__ = inspect.signature(fn)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        pass
    return value_and_grad


def dump_python(target: str, specs: list[str], stage: str, grad: bool) -> Any:
    """The text (or Function) of `stage` for a Python function."""
    import tracejit as tj
    fn = load_function(target)
    args = [parse_arg_spec(s) for s in specs]
    args = [tj.constant(a) if isinstance(a, np.ndarray) else a for a in args]
    return lower(fn, args, target, stage, grad)


def lower(fn: Callable[..., Any], args: list[Any], target: str, stage: str,
          grad: bool) -> Any:
    """`fn` traced for `args` (as its value and gradient with `grad`), compiled lazily."""
    import tracejit as tj
    if grad:
        fn = with_gradient(fn)
    compiled = tj.compile(fn)
    try:
        lowered = compiled.lower(*args)
    except (UserError, UsageError):
        raise
    except TypeError as e:
        if "argument" in str(e) and "positional" in str(e) or "required" in str(e):
            raise UsageError(f"{target}: {_one_line(e)} (give one --arg per parameter)") \
                from None
        raise UserError(_one_line(e)) from None
    except Exception as e:
        raise UserError(f"{type(e).__name__}: {_one_line(e)}") from None
    if stage == "grad" and not lowered.concrete.grad_fns:
        raise UsageError(f"{target} computes no gradient (no tape.gradient inside), so there "
                         "is no 'grad' stage: add --grad to differentiate it with respect to "
                         "its tensor arguments")
    return lowered


def dump_ir_file(path: str, stage: str, grad: bool) -> tuple[Pipeline, Any]:
    """The stages of an IR file, and None; with `grad`, those of the Lowered value and
    gradient of the function (exactly as for a Python function), and that Lowered."""
    from .ir.parser import parse
    if not os.path.isfile(path):
        raise UsageError(f"no such file: {path}")
    try:
        with open(path, encoding="utf-8") as fh:
            fn = parse(fh.read())
    except Exception as e:
        raise UserError(f"{path}: {_one_line(e)}") from None
    if grad:
        # After the scalar, a traced function's results may hold its checks' (`assert`s,
        # or a loop's or branch's joined ones): bool results, kept as checks.
        if not fn.results or fn.results[0].type.shape != () or any(
                r.type.dtype != np.bool_ for r in fn.results[1:]):
            raise UserError(f"--grad needs a function with one scalar result; @{fn.name} "
                            f"returns {', '.join(str(t) for t in fn.out_types)}")
        lowered = lower(_replayer(fn), _sample_args(fn), path, stage, grad)
        return Pipeline.of_concrete(lowered.concrete), lowered
    if stage == "grad":
        raise UsageError("an IR file has no tape, so there is no 'grad' stage: add --grad")
    return Pipeline.of_function(fn), None


def _replayer(fn: Any) -> Callable[..., Any]:
    """A Python function that replays an IR Function through `bind` (so a tape records
    it), with the Function's name and parameter names."""
    from .context import keep_checks
    from .ir.interp import run
    from .ir.printer import value_names

    def replay(*args: Any) -> Any:
        outs = run(fn, args)
        keep_checks(outs[1:])       # the checks stay results of the trace (`dump_ir_file`)
        return outs[0]
    names = value_names(fn)
    replay.__name__ = fn.name
    replay.__signature__ = inspect.Signature([  # type: ignore[attr-defined]
        inspect.Parameter(names[id(p)][1:], inspect.Parameter.POSITIONAL_OR_KEYWORD)
        for p in fn.params])
    return replay


def _sample_args(fn: Any) -> list[Any]:
    import tracejit as tj
    return [tj.constant(_sample(tuple(p.type.shape), np.dtype(p.type.dtype)))
            for p in fn.params]


def explain_grad(grad: Any, residuals: list[Any], trace_fn: Any) -> str:
    """A comment line saying what each parameter of a gradient Function stands for: the
    forward values it needs (residuals, named as in the trace), tensors a custom gradient
    captured, and the seeds."""
    from .ir.printer import value_names
    fn = grad.fn
    mine, theirs = value_names(fn), value_names(trace_fn)
    n_res, n_extra = len(grad.residuals), len(grad.extra_params)
    parts = []
    for k, p in enumerate(fn.params[:n_res]):
        t = residuals[k] if k < len(residuals) else None
        v = getattr(t, "_val", None)
        parts.append(f"{mine[id(p)]} = {theirs.get(id(v), 'a value from outside the trace')}")
    for p in fn.params[n_res:n_res + n_extra]:
        parts.append(f"{mine[id(p)]} = a tensor the custom gradient captured")
    seeds = [mine[id(p)] for p in fn.params[n_res + n_extra:]]
    text = f"// @{fn.name}'s parameters: "
    if parts:
        text += "forward values of the trace (--stage trace): " + ", ".join(parts) + "; "
    return text + f"{', '.join(seeds)}: the cotangent of each target (ones for a scalar)\n"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    p = _Parser(prog="tracejit", description="tracejit: inspect what the compiler makes of "
                "your code.")
    p.add_argument("--version", action="version", version=f"tracejit {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    d = sub.add_parser("dump", help="print a compiler stage of a function",
                       description="Print one compiler stage of FILE.py:FUNCTION (traced "
                       "with --arg types) or of an IR file FILE.tjir.")
    d.add_argument("target", metavar="FILE.py:FUNCTION | FILE.tjir")
    d.add_argument("--arg", action="append", default=[], metavar="SPEC",
                   help="one per parameter: a tensor type (f32[4,3], i64[], bool[2]), a "
                   "Variable (var:f32[3]) or a Python literal for a static argument "
                   "(6, 0.5, 'name')")
    d.add_argument("--stage", default=None, help="trace | grad | jvp | opt | plan | llvm | "
                   "asm (default: opt, or grad with --grad; jvp: forward mode, the tangent "
                   "Function of the trace w.r.t. every float argument; plan: the fusion of "
                   "opt into loop nests and kernels)")
    d.add_argument("--grad", action="store_true",
                   help="differentiate a scalar-valued function w.r.t. its tensor arguments")
    d.add_argument("--format", default="text", help="text | dot (Graphviz; IR stages only)")
    d.add_argument("-o", "--output", default=None, help="write to this file instead of stdout")
    o = sub.add_parser("ops", help="print the table of public ops and primitives",
                       description="Print every public op with the namespaces it is public "
                       "in and whether it has a gradient, and every primitive of the IR "
                       "(the text of docs/ops.md).")
    o.add_argument("-o", "--output", default=None, help="write to this file instead of stdout")
    return p


def run(argv: list[str]) -> str:
    args = build_parser().parse_args(argv)
    if args.command == "ops":
        from .opstable import render
        return render()
    if args.command != "dump":
        raise UsageError("missing command: try `tracejit dump --help` or `tracejit ops`")
    stage = args.stage or ("grad" if args.grad else "opt")
    if stage not in STAGES:
        raise UsageError(f"unknown stage {stage!r}; stages are {', '.join(STAGES)}")
    if args.format not in ("text", "dot"):
        raise UsageError(f"unknown format {args.format!r}; formats are text and dot")
    if args.format == "dot" and stage not in IR_STAGES:
        raise UsageError(f"--format dot draws IR stages ({', '.join(IR_STAGES)}), not {stage}")
    if args.target.endswith(".tjir"):
        if args.arg:
            raise UsageError("an IR file declares its own parameter types: drop --arg")
        pipeline, lowered = dump_ir_file(args.target, stage, args.grad)
    else:
        lowered = dump_python(args.target, args.arg, stage, args.grad)
        pipeline = Pipeline.of_concrete(lowered.concrete)
    if stage not in IR_STAGES:
        if lowered is None:     # an IR file: its compiler errors are internal errors
            try:
                text = pipeline.text(stage)
            except MemoryError as e:    # but its types are the user's: too big to run
                raise UserError(f"{args.target}: {_one_line(e)}") from None
        else:
            try:
                text = pipeline.text(stage)
            except Exception as e:
                raise UserError(f"code generation failed: {_one_line(e)}") from None
        return text if text.endswith("\n") else text + "\n"
    fns = pipeline.functions(stage)
    if args.format == "dot":
        from .dot import to_dot
        return to_dot(fns)
    from .ir.printer import print_function
    if stage == "grad" and lowered is not None:
        c = lowered.concrete
        return "\n\n".join(explain_grad(g, c.grad_residuals.get(id(g), []), c.trace_fn)
                            + print_function(g.fn) for g in c.grad_fns) + "\n"
    return "\n\n".join(print_function(f) for f in fns) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        build_parser().print_help()
        return 2
    try:
        text = run(argv)
    except UsageError as e:
        print(f"tracejit: error: {e}", file=sys.stderr)
        return 2
    except UserError as e:
        print(f"tracejit: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # a compiler bug must still be one line, never a traceback
        print(f"tracejit: internal error: {type(e).__name__}: {_one_line(e)}", file=sys.stderr)
        return 1
    out = None
    try:
        out = build_parser().parse_args(argv).output
    except UsageError:
        pass
    if out:
        try:
            with open(out, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as e:
            print(f"tracejit: error: cannot write {out}: {e.strerror}", file=sys.stderr)
            return 1
    else:
        sys.stdout.write(text)
    return 0
