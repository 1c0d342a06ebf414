"""The target checks of `benchmarks/bench.py` for issue 21's W8 (vector math, per dtype:
every function at most NumPy's time and within 4 ulp) and W9 (the MLP step against
hand-written NumPy and PyTorch eager), and the ulp measure W8's errors are given in."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench.py"
_spec = importlib.util.spec_from_file_location("_bench", _PATH)
assert _spec is not None and _spec.loader is not None
bench: Any = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

NAMES = ("sin", "pow")


def w8_rows(times: dict[tuple[str, str], tuple[float, float]], err: float = 1.0
            ) -> list[dict]:
    """Result dicts as bench.py's W8 child returns them: (tracejit us, NumPy us) per
    (function, dtype); a NumPy time of None leaves that row out."""
    out = []
    for (fn, dt), (ours, theirs) in times.items():
        for us, mine in ((ours, True), (theirs, False)):
            if us is None:
                continue
            out.append({"workload": "W8", "peer": ("tracejit.compile " if mine else "np.")
                        + f"{fn} {dt}", "tracejit": mine, "jax_ref": False, "primary": mine,
                        "group": f"{fn} {dt}", "err_unit": "ulp", "err": err,
                        "err_last": err, "status": "ok", "median_us": us, "min_us": us})
    bench.add_ratios(out)
    return out


def by_target(targets: list[dict]) -> dict[str, dict]:
    return {t["target"]: t for t in targets}


def test_w8_ratio_is_per_function_and_dtype_and_every_function_must_be_ahead() -> None:
    res = w8_rows({("sin", "float32"): (400.0, 500.0), ("pow", "float32"): (1700.0, 700.0),
                   ("sin", "float64"): (1900.0, 16000.0), ("pow", "float64"): (900.0, 1000.0)})
    ours = {r["group"]: r["x_best_peer"] for r in res if r["tracejit"]}
    assert ours["sin float32"] == 0.8 and ours["pow float64"] == 0.9
    t = by_target(bench.w8_targets(res, NAMES))
    f32 = t["float32: every function <= 1.0x NumPy"]
    assert f32["met"] is False and "pow 2.43x" in f32["value"] and "1 of 2 ahead" in f32["value"]
    f64 = t["float64: every function <= 1.0x NumPy"]
    assert f64["met"] is True and "slowest pow 0.90x" in f64["value"]
    assert t["float32: every function within 4 ulp"]["met"] is True


def test_w8_accuracy_target_misses_above_4_ulp() -> None:
    res = w8_rows({("sin", "float32"): (400.0, 500.0)}, err=4.5)
    t = by_target(bench.w8_targets(res, NAMES))
    assert t["float32: every function within 4 ulp"]["met"] is False
    assert "sin 4.50" in t["float32: every function within 4 ulp"]["value"]
    # nothing measured in float64: unknown, not met
    assert t["float64: every function <= 1.0x NumPy"]["met"] is None
    # pow not run (a --peers selection): "every function" is unknown, not met
    res = w8_rows({("sin", "float32"): (400.0, 500.0)})
    t = by_target(bench.w8_targets(res, NAMES))
    assert t["float32: every function <= 1.0x NumPy"]["met"] is None
    assert "not run: pow" in t["float32: every function <= 1.0x NumPy"]["value"]
    assert t["float32: every function within 4 ulp"]["met"] is None


def test_w8_failed_row_misses_and_missing_peer_is_unknown() -> None:
    res = w8_rows({("sin", "float32"): (400.0, None), ("pow", "float32"): (500.0, 900.0)})
    t = by_target(bench.w8_targets(res, NAMES))
    assert t["float32: every function <= 1.0x NumPy"]["met"] is None
    assert "no ratio: sin" in t["float32: every function <= 1.0x NumPy"]["value"]
    pow_row = next(r for r in res if r["peer"] == "tracejit.compile pow float32")
    pow_row.update(status="mismatch", err=100.0)
    t = by_target(bench.w8_targets(res, NAMES))
    assert t["float32: every function <= 1.0x NumPy"]["met"] is False
    assert "pow MISMATCH" in t["float32: every function <= 1.0x NumPy"]["value"]


def w9_rows(ours: float, numpy: float, torch: float | None) -> list[dict]:
    rows = [("tracejit.compile (Variables, SGD inside the step)", ours, True),
            ("numpy (hand-written backward + SGD)", numpy, False)]
    if torch is not None:
        rows.append(("torch eager autograd.grad + SGD", torch, False))
    return [{"workload": "W9", "peer": name, "tracejit": mine, "jax_ref": False,
             "primary": mine, "status": "ok", "median_us": us, "min_us": us}
            for name, us, mine in rows]


def test_w9_targets_half_of_numpy_and_at_most_torch_eager() -> None:
    met = [t["met"] for t in bench.w9_targets(w9_rows(14.0, 35.0, 180.0))]
    assert met == [True, True]
    met = [t["met"] for t in bench.w9_targets(w9_rows(20.0, 35.0, 15.0))]
    assert met == [False, False]                       # 0.57x NumPy, 1.33x torch
    t = bench.w9_targets(w9_rows(14.0, 35.0, None))
    assert t[0]["met"] is True and t[1]["met"] is None and t[1]["value"] == "n/a"


def test_w9_failed_tracejit_row_misses_every_target() -> None:
    """A step that ran but gave a wrong first loss (or diverged) is a miss, not unknown."""
    rows = w9_rows(14.0, 35.0, 180.0)
    rows[0].update(status="mismatch", err=1.0)
    t = bench.w9_targets(rows)
    assert [x["met"] for x in t] == [False, False]
    assert all("mismatch" in x["value"] for x in t)
    rows[0].update(status="skip")                       # never ran: unknown
    assert [x["met"] for x in bench.w9_targets(rows)] == [None, None]


def test_ulp_error_in_units_of_the_result_type() -> None:
    ref = np.array([1.0, 3.0, -0.75, 0.0, np.inf, np.nan])
    got = ref.astype(np.float32)
    assert bench.ulp_error(got, ref, np.float32) == 0.0
    got[0] = np.nextafter(np.float32(1), np.float32(2))            # one float32 ulp at 1
    assert bench.ulp_error(got, ref, np.float32) == 1.0
    got[0] = 1
    got[2] = np.nextafter(np.float32(-0.75), np.float32(0))       # binade [0.5, 1): 2^-24
    assert bench.ulp_error(got, ref, np.float32) == 1.0
    # a result correctly rounded from a reference halfway between two floats: 0.5 ulp
    assert bench.ulp_error(np.float32([1.0]), np.float64([1 + 2.0 ** -24]), np.float32) == 0.5
    got[2] = -0.75
    got[4] = np.float32(3e38)                                      # finite against inf
    assert bench.ulp_error(got, ref, np.float32) == np.inf
    if np.finfo(np.longdouble).nmant >= 63:                        # x86's 80-bit long double
        ld = np.array([1.0], dtype=np.longdouble) + np.longdouble(2.0) ** -60
        assert bench.ulp_error(np.array([1.0]), ld, np.float64) == 2.0 ** -8


def test_stateful_rows_are_checked_first_against_the_reference_then_for_progress() -> None:
    """A training step's first value must match the reference; after the timing its value
    must be finite and no larger than the first (a diverging step is a MISMATCH)."""
    import argparse

    def stepper(factor: float) -> Any:
        def build(d: dict, o: Any) -> Any:
            state = [2.0]

            def step() -> float:
                value = state[0]
                state[0] *= factor
                return value
            return step, float
        return build

    rows = [bench.Row("W9", "converging", stepper(0.999), stateful=True),
            bench.Row("W9", "diverging", stepper(1.001), stateful=True),
            bench.Row("W9", "wrong start", stepper(0.5), stateful=True, ref="other")]
    opts = argparse.Namespace(budget=0.02, rounds=2, peers="")
    results: list[dict] = []
    bench.run_timed(opts, {}, {"W9": 2.0, "other": 3.0}, "W9", results, rows)
    status = {r["peer"]: r["status"] for r in results}
    assert status == {"converging": "ok", "diverging": "mismatch", "wrong start": "mismatch"}
    ok = results[0]
    assert ok["last_value"] < 2.0 and ok["median_us"] > 0 and "err_last" not in ok
