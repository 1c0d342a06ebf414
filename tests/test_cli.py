"""`tracejit dump`, run as a user runs it: in a subprocess, checking stdout, stderr and the
exit status of every stage and every documented error path."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = str(ROOT / "examples" / "tutorial.py")


def dump(*args: str, cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tracejit", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> str:
    d = tmp_path_factory.mktemp("cli")
    p = d / "model.py"
    p.write_text(textwrap.dedent("""
        import tracejit as tj

        def loss(w, x):
            return tj.reduce_sum(tj.tanh(tj.matmul(x, w)))

        def bad_shapes(a, b):
            return a + b

        def not_scalar(x):
            return x * 2.0

        def scaled(x, k):
            return x * k
    """))
    return str(p)


def test_version_and_help() -> None:
    r = dump("--version")
    assert r.returncode == 0 and r.stdout.startswith("tracejit ")
    r = dump("--help")
    assert r.returncode == 0 and "dump" in r.stdout
    r = dump("dump", "--help")
    assert r.returncode == 0 and "--stage" in r.stdout and "--grad" in r.stdout


def test_console_script_is_installed() -> None:
    # pip puts the script in this interpreter's scripts directory; a `tracejit` found
    # first on PATH may belong to another Python (a version manager's shim).
    scripts = sysconfig.get_path("scripts")
    exe = shutil.which("tracejit", path=scripts) if scripts else None
    if exe is None:
        pytest.skip(f"no console script in {scripts} (package not installed with pip)")
    r = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "tracejit" in r.stdout


def test_stage_trace_of_tutorial() -> None:
    r = dump("dump", f"{TUTORIAL}:gradient_wrt_input", "--arg", "f32[2,2]", "--stage", "trace")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("func @gradient_wrt_input(%x: f32[2,2]) -> f32[2,2] {")
    assert "reduce_sum(%x) {axes=(0,1), keepdims=False} : f32[]" in r.stdout
    assert "broadcast_to" in r.stdout  # the replayed gradient is part of the trace


def test_stage_grad_shows_gradient_function() -> None:
    r = dump("dump", f"{TUTORIAL}:gradient_wrt_input", "--arg", "f32[2,2]", "--stage", "grad")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("// @grad's parameters: ")
    assert r.stdout.splitlines()[1].startswith("func @grad(")
    assert "%seed: f32[]" in r.stdout and "-> f32[2,2]" in r.stdout


def test_stage_jvp_shows_the_tangent_function(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text("import tracejit as tj\n"
                   "def f(x, w):\n"
                   "    return tj.reduce_sum(tj.tanh(x @ w))\n")
    r = dump("dump", f"{src}:f", "--arg", "f32[2,3]", "--arg", "f32[3,2]", "--stage", "jvp")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("func @jvp_f(%x: f32[2,3], %w: f32[3,2], %x_t: f32[2,3], "
                               "%w_t: f32[3,2]) -> (f32[], f32[]) {")
    # product rule of x @ w: two matmuls of a tangent and a primal
    assert "matmul(%x_t, %w)" in r.stdout and "matmul(%x, %w_t)" in r.stdout


def test_stage_opt_static_argument() -> None:
    r = dump("dump", f"{TUTORIAL}:grad", "--arg", "f32[]", "--arg", "6", "--stage", "opt")
    assert r.returncode == 0, r.stderr
    # d/dx x^3 = 3 x^2: the loop ran 3 multiplications for y = 6
    assert r.stdout.count("mul(") >= 1 and "func @grad(%x: f32[]) -> f32[]" in r.stdout


def test_grad_flag(model: str) -> None:
    r = dump("dump", f"{model}:loss", "--arg", "f32[3,2]", "--arg", "f32[4,3]", "--grad")
    assert r.returncode == 0, r.stderr
    assert "func @grad(" in r.stdout and "matmul" in r.stdout
    r = dump("dump", f"{model}:loss", "--arg", "f32[3,2]", "--arg", "f32[4,3]", "--grad",
             "--stage", "opt")
    assert r.returncode == 0, r.stderr
    assert "-> (f32[], f32[3,2], f32[4,3])" in r.stdout


@pytest.mark.parametrize("stage,needle", [("llvm", "define"), ("asm", "ret")])
def test_native_stages(model: str, stage: str, needle: str) -> None:
    r = dump("dump", f"{model}:loss", "--arg", "f32[3,2]", "--arg", "f32[4,3]", "--stage",
             stage)
    assert r.returncode == 0, r.stderr
    assert needle in r.stdout


def test_plan_stage_shows_the_fusion(tmp_path: Path) -> None:
    # W2's value and gradient: one loop storing the gradient and reducing the value.
    src = tmp_path / "w2.py"
    src.write_text(
        "import tracejit as tj\n"
        "def f(x):\n"
        "    with tj.GradientTape() as t:\n"
        "        t.watch(x)\n"
        "        y = tj.reduce_sum(tj.tanh(x) * tj.exp(-x * x) + tj.sin(x) ** 2)\n"
        "    return y, t.gradient(y, x)\n")
    r = dump("dump", f"{src}:f", "--arg", "f32[1000]", "--stage", "plan")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("loop (1000,): store ")
    assert "(reduce_sum->out0)" in lines[0] and "->out1" in lines[0]
    assert lines[1] == "scratch: -"
    ir_file = tmp_path / "f.tjir"
    ir_file.write_text(dump("dump", f"{src}:f", "--arg", "f32[1000]").stdout)
    r2 = dump("dump", str(ir_file), "--stage", "plan")
    assert r2.returncode == 0 and r2.stdout.splitlines() == lines
    assert "--format dot draws IR stages" in _error(dump("dump", str(ir_file), "--stage",
                                                         "plan", "--format", "dot"))


def test_dot_format(model: str, tmp_path: Path) -> None:
    out = tmp_path / "g.dot"
    r = dump("dump", f"{model}:loss", "--arg", "f32[3,2]", "--arg", "f32[4,3]", "--grad",
             "--stage", "opt", "--format", "dot", "-o", str(out))
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert text.startswith("digraph tracejit {") and text.rstrip().endswith("}")
    assert "->" in text and 'label="matmul' in text
    # balanced braces and quotes: a minimal DOT well-formedness check
    assert text.count("{") == text.count("}")
    assert all(line.count('"') % 2 == 0 for line in text.splitlines())
    dot = shutil.which("dot")
    if dot:
        svg = subprocess.run([dot, "-Tsvg", str(out)], capture_output=True, text=True,
                             timeout=60)
        assert svg.returncode == 0 and "<svg" in svg.stdout


def _dot_structure(text: str) -> tuple[list[tuple[str, str | None]], list[str],
                                       list[tuple[str, str]]]:
    """(cluster label, enclosing cluster label) per cluster, node ids in declaration order,
    and edges, read from DOT text line by line (the layout `to_dot` writes)."""
    clusters: list[tuple[str, str | None]] = []
    stack: list[str] = []
    nodes: list[str] = []
    edges: list[tuple[str, str]] = []
    for line in text.splitlines()[1:]:
        s = line.strip()
        m = re.match(r'subgraph cluster_\w+ \{ label="(.*)";$', s)
        if m:
            clusters.append((m.group(1), stack[-1] if stack else None))
            stack.append(m.group(1))
        elif s == "}":
            if stack:
                stack.pop()
        elif m := re.match(r"(\w+) -> (\w+)( \[style=dashed\])?;$", s):
            edges.append((m.group(1), m.group(2)))
        elif m := re.match(r"(\w+) \[shape=", s):
            nodes.append(m.group(1))
    assert not stack
    return clusters, nodes, edges


def test_dot_draws_regions_as_nested_clusters(tmp_path: Path) -> None:
    src = tmp_path / "loops.py"
    src.write_text(textwrap.dedent("""
        import tracejit as tj

        def looped(x):
            def step(i, c):
                return tj.cond(tj.reduce_sum(c) > 0.0,
                               lambda: tj.fori_loop(0, 2, lambda j, d: d * 0.5, c),
                               lambda: c + 1.0)
            y = tj.fori_loop(0, 3, step, x)
            (z,) = tj.while_loop(lambda v: tj.reduce_sum(v) < 100.0, lambda v: (v * 2.0,),
                                 (y + 1.0,))
            return tj.reduce_sum(z)
    """))
    target = f"{src}:looped"
    r = dump("dump", target, "--arg", "f32[3]", "--format", "dot")
    assert r.returncode == 0, r.stderr
    text = r.stdout
    assert text.count("{") == text.count("}")
    assert all(line.count('"') % 2 == 0 for line in text.splitlines())
    clusters, nodes, edges = _dot_structure(text)
    # one cluster per nested Function, as many as the text form indents
    plain = dump("dump", target, "--arg", "f32[3]")
    assert plain.returncode == 0, plain.stderr
    nested = [ln for ln in plain.stdout.splitlines() if re.match(r"\s+func @", ln)]
    assert len(nested) == 6 and len(clusters) == 1 + len(nested)
    shapes = [(re.sub(r"%\d+", "%N", lab), re.sub(r"%\d+", "%N", par) if par else None)
              for lab, par in clusters]
    assert shapes == [
        ("@looped", None),
        ("scan %N: body (@step#1)", "@looped"),
        ("cond %N: branch 0 (@false_fn)", "scan %N: body (@step#1)"),
        ("cond %N: branch 1 (@true_fn)", "scan %N: body (@step#1)"),
        ("scan %N: body (@step)", "cond %N: branch 1 (@true_fn)"),
        ("while %N: cond (@cond)", "@looped"),
        ("while %N: body (@body)", "@looped")]
    # each cluster label names the instruction's first result, as the text form does
    for lab, _ in clusters[1:]:
        prim, name = lab.split(":")[0].split()
        assert any(re.search(rf"{name}\b.* = {prim}\(", ln) for ln in plain.stdout.splitlines())
    # node ids are unique across clusters, and every edge joins declared nodes
    assert len(nodes) == len(set(nodes)) and len(nodes) > 40
    declared = set(nodes)
    assert all(a in declared and b in declared for a, b in edges)
    # operands flow into every region (dashed edges into its parameters) and every
    # region's return flows back to its instruction
    dashed = re.findall(r"(\w+) -> (\w+) \[style=dashed\];", text)
    rets = [n for n in nodes if n.endswith("_ret")]
    assert len(rets) == len(clusters)
    assert sum(1 for a, _ in dashed if a.endswith("_ret")) == len(nested)
    fed = {m.group(1) for _, b in dashed if (m := re.fullmatch(r"(\w+)_p\d+", b))}
    assert len(fed) == len(nested)
    dot = shutil.which("dot")
    if dot:
        svg = subprocess.run([dot, "-Tsvg"], input=text, capture_output=True, text=True,
                             timeout=60)
        assert svg.returncode == 0 and "<svg" in svg.stdout, svg.stderr


def test_ir_file_round_trip(model: str, tmp_path: Path) -> None:
    r = dump("dump", f"{model}:loss", "--arg", "f32[3,2]", "--arg", "f32[4,3]", "--stage",
             "trace")
    assert r.returncode == 0, r.stderr
    f = tmp_path / "loss.tjir"
    f.write_text(r.stdout)
    r2 = dump("dump", str(f), "--stage", "trace")
    assert r2.returncode == 0, r2.stderr
    assert r2.stdout == r.stdout
    r3 = dump("dump", str(f), "--stage", "llvm")
    assert r3.returncode == 0 and "define" in r3.stdout
    r4 = dump("dump", str(f), "--grad", "--stage", "opt")
    assert r4.returncode == 0 and "func @loss_grad" in r4.stdout


@pytest.mark.parametrize("stage", ["trace", "grad", "opt"])
def test_grad_of_an_ir_file_is_shown_as_for_python_input(model: str, tmp_path: Path,
                                                         stage: str) -> None:
    # The value-and-gradient function, traced as for the Python function the IR came
    # from (--grad --stage trace showed the forward only; the default showed a backward
    # with unexplained residual parameters).
    types = ["--arg", "f32[3,2]", "--arg", "f32[4,3]"]
    f = tmp_path / "loss.tjir"
    f.write_text(dump("dump", f"{model}:loss", *types, "--stage", "trace").stdout)
    from_ir = dump("dump", str(f), "--grad", "--stage", stage)
    from_py = dump("dump", f"{model}:loss", *types, "--grad", "--stage", stage)
    assert from_ir.returncode == 0, from_ir.stderr
    assert from_ir.stdout == from_py.stdout
    if stage == "trace":
        assert from_ir.stdout.startswith(
            "func @loss_grad(%w: f32[3,2], %x: f32[4,3]) -> (f32[], f32[3,2], f32[4,3])")


def test_grad_stage_says_what_each_parameter_is(model: str, tmp_path: Path) -> None:
    r = dump("dump", f"{model}:loss", "--arg", "f32[3,2]", "--arg", "f32[4,3]", "--grad")
    assert r.returncode == 0, r.stderr
    first, second = r.stdout.splitlines()[:2]
    # %1 of the trace is tanh(matmul(x, w)); x and w are the parameters.
    assert first == ("// @grad's parameters: forward values of the trace (--stage trace): "
                     "%arg0 = %1, %arg1 = %x, %arg2 = %w; %seed: the cotangent of each "
                     "target (ones for a scalar)")
    assert second.startswith("func @grad(%arg0: f32[4,2], %arg1: f32[4,3], %arg2: f32[3,2], "
                             "%seed: f32[])")
    g = tmp_path / "grad.tjir"      # the comment keeps the text parseable
    g.write_text(r.stdout)
    assert dump("dump", str(g), "--stage", "trace").stdout.startswith(second)


def test_every_stage_of_an_ir_file_ends_with_a_newline(model: str, tmp_path: Path) -> None:
    f = tmp_path / "loss.tjir"
    f.write_text(dump("dump", f"{model}:loss", "--arg", "f32[3,2]", "--arg", "f32[4,3]",
                      "--stage", "trace").stdout)
    for extra in ([], ["--grad"]):
        for stage in ("trace", "opt", "plan", "llvm", "asm"):
            r = dump("dump", str(f), "--stage", stage, *extra)
            assert r.returncode == 0, r.stderr
            assert r.stdout.endswith("\n") and not r.stdout.endswith("\n\n"), (stage, extra)


def _error(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


def test_errors_are_one_line(model: str, tmp_path: Path) -> None:
    assert "no such file" in _error(dump("dump", "nope.py:f", "--arg", "f32[2]"))
    assert "has no function 'nope'" in _error(dump("dump", f"{model}:nope"))
    assert "bad argument spec" in _error(dump("dump", f"{model}:loss", "--arg", "f33[2]"))
    assert "bad argument spec" in _error(dump("dump", f"{model}:loss", "--arg", "f32[2,x]"))
    assert "unknown stage" in _error(dump("dump", f"{model}:loss", "--arg", "f32[3,2]",
                                          "--arg", "f32[4,3]", "--stage", "bogus"))
    msg = _error(dump("dump", f"{model}:bad_shapes", "--arg", "f32[3]", "--arg", "f32[4]"))
    assert "(3,)" in msg and "(4,)" in msg and "model.py:" in msg
    msg = _error(dump("dump", f"{model}:scaled", "--arg", "f32[3]", "--arg", "2",
                      "--stage", "grad"))
    assert "--grad" in msg
    msg = _error(dump("dump", f"{model}:not_scalar", "--arg", "f32[3]", "--grad"))
    assert "scalar" in msg
    bad = tmp_path / "bad.tjir"
    bad.write_text("func @f(%x: f32[2]) -> f32[2] {\n  %0 = nope(%x) : f32[2]\n"
                   "  return %0\n}\n")
    assert "bad.tjir" in _error(dump("dump", str(bad)))
    # Types too big for any memory are the file's, not the compiler's, fault.
    huge = tmp_path / "huge.tjir"
    huge.write_text("func @f(%x: f32[99999999999,99999999999]) -> f32[99999999999,99999999999]"
                    " {\n  %0 = mul(%x, %x) : f32[99999999999,99999999999]\n  return %0\n}\n")
    msg = _error(dump("dump", str(huge), "--stage", "asm"))
    assert msg.startswith("tracejit: error: ") and "huge.tjir" in msg and "bytes" in msg, msg
    assert _error(dump("dump", f"{model}:loss", "--arg", "f32[3,2]")).startswith("tracejit")


def test_module_entry_point_matches_console_script() -> None:
    r = dump("--version")
    env = dict(os.environ)
    r2 = subprocess.run([sys.executable, "-c", "from tracejit.cli import main; main()",
                         "--version"], capture_output=True, text=True, timeout=60, env=env)
    assert r.stdout == r2.stdout


def test_the_cli_and_lower_as_text_show_the_same_stages(model: str) -> None:
    """`tracejit dump` and `f.lower(...).as_text(stage)` are one stage pipeline."""
    import importlib.util

    import numpy as np
    import tracejit as tj
    spec = importlib.util.spec_from_file_location("_cli_model", model)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    lowered = tj.compile(mod.loss).lower(np.ones((3, 2), np.float32),
                                         np.ones((4, 3), np.float32))
    for stage in ("trace", "opt", "plan", "llvm"):
        r = dump("dump", f"{model}:loss", "--arg", "f32[3,2]", "--arg", "f32[4,3]",
                 "--stage", stage)
        assert r.returncode == 0, r.stderr
        text = lowered.as_text(stage)
        assert r.stdout == (text if text.endswith("\n") else text + "\n"), stage
    with pytest.raises(ValueError, match="stages are trace, grad, jvp, opt, plan, llvm, asm"):
        lowered.as_text("ir")


def test_grad_of_an_ir_file_with_checks(tmp_path: Path) -> None:
    """A traced function's results end with its checks' (`assert`s): --grad of its IR
    file takes the scalar as the value and keeps the checks, as for the Python input."""
    src = tmp_path / "checked.py"
    src.write_text(textwrap.dedent("""\
        import tracejit as tj

        def f(x):
            tj.debugging.assert_greater(x, 0.)
            return tj.reduce_sum(x * x)

        def g(x):
            y = tj.cond(x[0] > 0., lambda: tj.debugging.check_numerics(x, "m"), lambda: x)
            return tj.reduce_sum(y)
        """))
    trace = dump("dump", f"{src}:f", "--arg", "f32[3]", "--stage", "trace")
    assert trace.returncode == 0, trace.stderr
    assert trace.stdout.startswith("func @f(%x: f32[3]) -> (f32[], bool[])")
    ir_file = tmp_path / "f.tjir"
    ir_file.write_text(trace.stdout)
    from_ir = dump("dump", str(ir_file), "--grad", "--stage", "opt")
    from_py = dump("dump", f"{src}:f", "--arg", "f32[3]", "--grad", "--stage", "opt")
    assert from_ir.returncode == 0, from_ir.stderr
    assert "assert(" in from_ir.stdout and "-> (f32[], f32[3], bool[])" in from_ir.stdout
    assert from_ir.stdout == from_py.stdout     # the message names the Python line
    # checks inside a branch come back as the branch's result
    trace = dump("dump", f"{src}:g", "--arg", "f32[3]", "--stage", "trace")
    assert trace.stdout.startswith("func @g(%x: f32[3]) -> (f32[], bool[])"), trace.stdout
    ir_file.write_text(trace.stdout)
    from_ir = dump("dump", str(ir_file), "--grad", "--stage", "opt")
    assert from_ir.returncode == 0, from_ir.stderr
