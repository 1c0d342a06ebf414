"""A bounded run of the control-flow Python-program fuzzer (`tests/fuzz/pycontrol.py`; the
long runs are `tests/fuzz/fuzz.py`'s): random programs of `tj.cond`, `switch_case`,
`while_loop`, `fori_loop`, `scan`, `foldl`/`foldr` and `map_fn`, nested, eager vs
compiled, and their gradients on eager, inside-compiled and around-compiled tapes vs each
other and vs central finite differences (orders 1 and 2); and the checker itself."""
from __future__ import annotations

import re
from typing import Any

from hypothesis import HealthCheck, given, settings

from tests.fuzz.checks import Report
from tests.fuzz.pycontrol import PRELUDE, check_control, control_case

SETTINGS: dict[str, Any] = {"deadline": None, "database": None,
                             "suppress_health_check": [HealthCheck.too_slow]}


@settings(max_examples=3, derandomize=True, **SETTINGS)
@given(control_case())
def test_control_flow_programs_agree_in_every_mode_and_with_finite_differences(
        source: str) -> None:
    report = Report()
    check_control(source, report)
    assert not report.mismatches, f"{report.mismatches[0].message}\n{source}"
    assert report.checks >= 5


def test_control_flow_programs_cover_every_construct() -> None:
    sources: list[str] = []

    @settings(max_examples=150, derandomize=True, **SETTINGS)
    @given(control_case())
    def draw(source: str) -> None:
        sources.append(source)
    draw()
    text = "\n".join(sources)
    for construct in ["tj.cond(", "tj.switch_case(tj.constant(", "tj.switch_case(tj.cast(",
                      "tj.while_loop(", "maximum_iterations=", '["n"] + 1', "(tj.constant(0), ",
                      "tj.fori_loop(0, ", "tj.fori_loop(tj.constant(0)", "tj.scan(",
                      "reverse=True", "initializer=", "tj.foldl(", "tj.foldr(", "tj.map_fn(",
                      "SECOND_ORDER = True", "* v0"]:
        assert construct in text, construct
    # A data-dependent trip count, zero-trip loops, and control flow nested inside a loop
    # body or branch.
    assert re.search(r"while_loop\(lambda y\d+, n\d+: tj\.reduce_sum\(y\d+\) < ", text)
    assert re.search(r"< 0, lambda", text)
    assert re.search(r"lambda [^\n]*tj\.(cond|while_loop|fori_loop|scan|switch_case)\(", text)
    # Loops carrying several values of different shapes and dtypes (an int32 among
    # them), with a trip count that is a tensor of the data, over every loop kind.
    assert re.search(r"\(lambda a\d+, s\d+, m\d+, k\d+: ", text)
    for construct in ["tj.cast(tj.reduce_sum(y) > 0.0, tj.int32) + ", ", tj.range(",
                      "tj.reduce_mean(m", "tj.foldl(lambda c, i", "tj.scan(lambda c, i"]:
        assert construct in text, construct


def test_check_control_reports_a_wrong_gradient() -> None:
    good = PRELUDE + '''
SECOND_ORDER = True

def new_world():
    return {"v0": tj.Variable(np.float64(0.5), name="v0")}

def make(world):
    v0 = world["v0"]

    def f(x, w):
        y = tj.fori_loop(0, 3, lambda i, u: tj.tanh(u) * w + v0, x)
        return tj.reduce_sum(tj.cond(tj.reduce_sum(y) > 0.0, lambda: y * y, lambda: -y))
    return f

X = np.array([0.3, -0.2, 0.9], np.float64)
W = np.float64(0.7)
'''
    report = Report()
    check_control(good, report)
    assert not report.mismatches and report.checks == 10
    # Every tape agrees on a wrong gradient (a custom gradient twice the true one): only
    # finite differences can tell.
    bad = good.replace("    def f(x, w):", '''    @tj.custom_gradient
    def double(t):
        return t * 1.0, lambda dy: 2.0 * dy

    def f(x, w):
        x = double(x)''')
    report = Report()
    check_control(bad, report)
    assert [m.kind for m in report.mismatches] == ["py-control"]
    assert "central differences" in report.mismatches[0].message
