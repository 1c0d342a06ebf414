"""Differential fuzzing of tracejit: random programs, native code vs the reference
interpreter, the optimize pipeline, and gradients vs finite differences; and random
compiled Python programs vs eager execution.

    python tests/fuzz/fuzz.py --programs 10000 --seed 0 [--jobs 2] [--grad-order 2]
    python tests/fuzz/fuzz.py --replay tests/fuzz/failures/native-0123abcd.ir
    python tests/fuzz/fuzz.py --replay tests/fuzz/failures/py-result-0123abcd.py

Each program is drawn by hypothesis (`tests/strategies.py`'s `programs`, in a seeded
`@given` loop with shrinking off, so a run is reproducible) with a random configuration:
dtypes (float32, float64, ints, bools), shapes (small high-rank tensors, or up to a few
hundred elements along an axis so vector loops and their remainders run), special values
(NaN, inf, -0.0, huge and subnormal floats, extreme integers) in constants and inputs, and
guarded or unguarded math.
Every third program is also paired with a smooth float64 program whose gradients are
checked at orders 1..`--grad-order`. The checks are `tests/fuzz/checks.py`'s.
Every `--python-every`-th program (default 4) is instead a Python function compiled with
`tj.compile` (`tests/fuzz/pyprogs.py`): static arguments of every kind, Variables read,
assigned, passed and returned, called several times and compared call by call with eager
execution; it is saved as a `.py` module when it fails.
Every `--control-every`-th program (default 4, offset by one from the Python programs) is
a Python program with control flow (`tests/fuzz/pycontrol.py`: `tj.cond`, `switch_case`,
`while_loop`, `fori_loop`, `scan`, `foldl`/`foldr`, `map_fn`, nested), compared eager vs
compiled, and its gradients (eager tape, tape inside the compiled function, compiled
function under an eager tape, orders 1 and 2) with each other and with finite
differences. The IR programs draw region instructions too (`tests/strategies_regions.py`).

The work is split into chunks of `--chunk` programs, each run by a worker process (at most
`--jobs` at once), so a crash or hang in native code loses one program, not the run: the
worker saves the program it is about to run, and the parent records it as a `crash` (or
`hang`) failure and resumes the chunk after it. Every mismatch is printed and saved to
`--out` (default `tests/fuzz/failures/`) as IR text (`.ir`, the printer's format, with the
message in `//` comments) and its inputs (`.npz`); unstable cases go to `--out`/unstable/
for a look, without counting as mismatches. The run ends with the counts of
programs, checks, unstable cases (too ill-conditioned to judge, `checks.py`) and
mismatches; the exit status is 1 if there were mismatches.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hseed
from hypothesis import strategies as st
from tracejit.ir.printer import print_function

from tests.fuzz import checks
from tests.fuzz.checks import forward_case, gradient_case
from tests.fuzz.pycontrol import MARKER, check_control, control_case
from tests.fuzz.pyprogs import check_python, python_case

# ------------------------------------------------------------------------- running

DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "failures")
#: A program running longer is reported as a hang (a second-order control-flow program
#: compiles for a minute on a loaded machine).
HANG_SECONDS = 900


def run_chunk(seed: int, count: int, skip: int, grad_order: int, out: str,
              inflight: str, python_every: int = 4, control_every: int = 4,
              regions: float = 0.1) -> checks.Report:
    """Programs `skip`..`count-1` of the chunk drawn from `seed` (every `python_every`-th
    a compiled Python program, every `control_every`-th a control-flow program)."""
    report = checks.Report(on_mismatch=lambda m: _announce(m, out),
                           on_unstable=lambda m: checks.save(m, os.path.join(out, "unstable")))
    index = [0]

    @hseed(seed)
    @settings(max_examples=count, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck), derandomize=False)
    @given(forward_case(regions), st.integers(0, 2), gradient_case(regions), python_case(),
           control_case())
    def body(case: Any, every: int, gcase: Any, source: str, control: str) -> None:
        k = index[0]
        index[0] += 1
        if k < skip or k >= count:
            return
        if control_every and k % control_every == (control_every - 2) % control_every:
            _mark(inflight, k, control, None)
            check_control(control, report, seed=k)
            _mark(inflight, k + 1, None, None)
            return
        if python_every and k % python_every == python_every - 1:
            _mark(inflight, k, source, None)
            check_python(source, report, seed=k)
            _mark(inflight, k + 1, None, None)
            return
        fn, args, s = case
        _mark(inflight, k, fn, args)
        checks.check_forward(fn, args, report, seed=s)
        if grad_order and every == 0:
            gfn, gargs, gs = gcase
            _mark(inflight, k, gfn, gargs)
            checks.check_gradients(gfn, gargs, report, order=grad_order, seed=gs)
        _mark(inflight, k + 1, None, None)

    body()
    return report


def _mark(path: str, k: int, fn: Any, args: Any) -> None:
    """Save the program about to run (`path.ir`, `path.npz`) and its index in the chunk
    (`path`), so the parent can report it if this process dies."""
    if isinstance(fn, str):   # a Python program's source
        with open(path + ".py", "w") as f:
            f.write(fn)
        _remove(path + ".ir")
    elif fn is not None:
        with open(path + ".ir", "w") as f:
            f.write(print_function(fn) + "\n")
        np.savez(path + ".npz", **{f"arg{i}": x for i, x in enumerate(args)})
        _remove(path + ".py")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"index": k}, f)
    os.replace(tmp, path)


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def _announce(m: checks.Mismatch, out: str) -> None:
    path = checks.save(m, out)
    text = print_function(m.fn) if not isinstance(m.fn, str) else \
        "(a compiled Python program; replay it with --replay)"
    print(f"MISMATCH [{m.kind}] {m.message}\n  saved {path}\n{text}", flush=True)


# ------------------------------------------------------------------------- driver


def _chunk_seed(seed: int, chunk: int) -> int:
    return int(np.random.SeedSequence([seed, chunk]).generate_state(1)[0])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--programs", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--grad-order", type=int, default=2)
    ap.add_argument("--chunk", type=int, default=200)
    ap.add_argument("--python-every", type=int, default=4,
                    help="every N-th program is a compiled Python program (0: none)")
    ap.add_argument("--control-every", type=int, default=4,
                    help="every N-th program is a Python program with control flow, "
                         "checked with its gradients (0: none)")
    ap.add_argument("--regions", type=float, default=0.1,
                    help="share of the IR programs' operations drawn among the region "
                         "instructions while, scan and cond")
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--replay", nargs="*", help="re-check saved failures (.ir files)")
    ap.add_argument("--worker", nargs=3, type=int, metavar=("CHUNK", "COUNT", "SKIP"),
                    help=argparse.SUPPRESS)
    ap.add_argument("--inflight", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.replay is not None:
        return replay(a.replay, a.grad_order)
    if a.worker:
        chunk, count, skip = a.worker
        r = run_chunk(_chunk_seed(a.seed, chunk), count, skip, a.grad_order, a.out,
                      a.inflight, a.python_every, a.control_every, a.regions)
        print("RESULT " + json.dumps({"programs": r.programs, "duplicates": r.duplicates,
                                      "py_programs": r.py_programs,
                                      "control_programs": r.control_programs,
                                      "grad_programs": r.grad_programs, "checks": r.checks,
                                      "unstable": r.unstable,
                                      "mismatches": len(r.mismatches)}), flush=True)
        return 0
    return drive(a)


def drive(a: argparse.Namespace) -> int:
    n_chunks = -(-a.programs // a.chunk)
    todo = [(c, min(a.chunk, a.programs - c * a.chunk), 0) for c in range(n_chunks)]
    running: list[tuple[subprocess.Popen[bytes], tuple[int, int, int], str]] = []
    totals = {"programs": 0, "py_programs": 0, "control_programs": 0, "grad_programs": 0,
              "checks": 0, "unstable": 0, "mismatches": 0, "duplicates": 0}
    start = time.time()
    os.makedirs(a.out, exist_ok=True)
    print(f"fuzz: {a.programs} programs (every {a.python_every or 'no'}-th a compiled Python "
          f"program, every {a.control_every or 'no'}-th one with control flow), seed "
          f"{a.seed}, {a.jobs} job(s), gradient order {a.grad_order}, failures in {a.out}",
          flush=True)
    try:
        _loop(a, todo, running, totals, start)
    finally:
        for p, _, _ in running:  # interrupted: stop the workers too
            p.kill()
    print(f"FUZZ DONE: seed {a.seed}: {totals['programs']} programs tried ("
          f"{totals['py_programs']} of them compiled Python programs, each called several "
          f"times against eager execution, {totals['control_programs']} of those with "
          f"control flow and gradients; plus "
          f"{totals['grad_programs']} smooth programs for gradient checks), "
          f"{totals['checks']} checks done, {totals['unstable']} unstable (too "
          f"ill-conditioned to judge), {totals['mismatches']} mismatches (+"
          f"{totals['duplicates']} repeats of one); {time.time() - start:.0f} s", flush=True)
    return 1 if totals["mismatches"] else 0


def _loop(a: argparse.Namespace, todo: list[tuple[int, int, int]], running: list[Any],
          totals: dict[str, int], start: float) -> None:
    """Keep `a.jobs` workers busy until every chunk is done; tally their results."""
    while todo or running:
        while todo and len(running) < a.jobs:
            job = todo.pop(0)
            inflight = os.path.join(a.out, f".inflight-{a.seed}-{job[0]}")
            cmd = [sys.executable, os.path.abspath(__file__), "--seed", str(a.seed),
                   "--grad-order", str(a.grad_order), "--out", a.out, "--inflight", inflight,
                   "--python-every", str(a.python_every),
                   "--control-every", str(a.control_every), "--regions", str(a.regions),
                   "--worker", *map(str, job)]
            # A hung worker's marker is old: the new worker's clock starts now (else every
            # worker resuming the chunk was killed at once as hung, and so on to its end).
            _cleanup(inflight)
            # Output to a file, not a pipe: a chatty worker never blocks on a full pipe.
            with open(inflight + ".log", "w") as log:
                running.append((subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT),
                                job, inflight))
        time.sleep(0.5)
        for p, job, inflight in list(running):
            rc = p.poll()
            if rc is None:
                if _stale(inflight):
                    p.kill()
                    p.wait()
                    rc = -999
                else:
                    continue
            with open(inflight + ".log") as log:
                out = log.read()
            running.remove((p, job, inflight))
            for line in out.splitlines():
                if line.startswith("RESULT "):
                    for k, v in json.loads(line[7:]).items():
                        totals[k] += v
                else:
                    print(line, flush=True)
            if rc != 0:
                # The worker died (segfault, OOM kill, hang): report the program it was
                # running and resume its chunk after it.
                # (never before where the chunk resumed: each death moves on)
                k = max(_crashed_at(inflight, job), job[2])
                kind = "hang" if rc == -999 else "crash"
                _report_crash(inflight, kind, rc, a.out)
                totals["mismatches"] += 1
                totals["programs"] += k - job[2] + 1   # the ones done, and this one
                if k + 1 < job[1]:
                    todo.insert(0, (job[0], job[1], k + 1))
            else:
                _cleanup(inflight)
            done = totals["programs"]
            print(f"fuzz: {done} programs ({totals['py_programs']} Python, "
                  f"{totals['control_programs']} with control flow; "
                  f"+{totals['grad_programs']} for gradients), "
                  f"{totals['checks']} checks, {totals['unstable']} "
                  f"unstable, {totals['mismatches']} mismatches "
                  f"({time.time() - start:.0f} s)", flush=True)


def _stale(inflight: str) -> bool:
    """The worker has not moved on to a new program for `HANG_SECONDS` (a worker that has
    not yet started its first one has no marker: it is never stale)."""
    try:
        return time.time() - os.path.getmtime(inflight) > HANG_SECONDS
    except OSError:
        return False


def _crashed_at(inflight: str, job: tuple[int, int, int]) -> int:
    try:
        with open(inflight) as f:
            return int(json.load(f)["index"])
    except (OSError, ValueError, KeyError):
        return job[2]


def _report_crash(inflight: str, kind: str, rc: int, out: str) -> None:
    if os.path.exists(inflight + ".py"):
        with open(inflight + ".py") as f:
            source = f.read()
        _announce(checks.Mismatch(kind, f"the process died (status {rc}) running this "
                                  "program", source, []), out)
        return
    if not os.path.exists(inflight + ".ir"):
        print(f"MISMATCH [{kind}] worker exited with status {rc}; no program saved",
              flush=True)
        return
    fn, args = checks.load(inflight + ".ir")
    _announce(checks.Mismatch(kind, f"the process died (status {rc}) running this program",
                              fn, args), out)


def _cleanup(inflight: str) -> None:
    for suffix in ("", ".ir", ".py", ".npz", ".tmp", ".log"):
        try:
            os.remove(inflight + suffix)
        except OSError:
            pass


def replay(paths: list[str], grad_order: int) -> int:
    """Re-run the checks of saved failures and print what they find now."""
    bad = 0
    for path in paths:
        report = checks.Report()
        if path.endswith(".py"):
            with open(path) as f:
                text = f.read()
            (check_control if MARKER in text else check_python)(text, report)
            status = "FAIL" if report.mismatches else "ok"
            print(f"{status} {path}: {report.checks} checks, {report.unstable} unstable")
            for m in report.mismatches:
                print(f"  [{m.kind}] {m.message}")
            bad += bool(report.mismatches)
            continue
        fn, args = checks.load(path)
        if os.path.basename(path).startswith("grad"):
            checks.check_gradients(fn, args, report, order=grad_order)
        else:
            checks.check_forward(fn, args, report)
        status = "FAIL" if report.mismatches else "ok"
        print(f"{status} {path}: {report.checks} checks, {report.unstable} unstable")
        for m in report.mismatches:
            print(f"  [{m.kind}] {m.message}")
        bad += bool(report.mismatches)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
