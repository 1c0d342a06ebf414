"""docs/ops.md, the table of public ops and primitives (`tracejit/opstable.py`): current,
derived (every public function of the table of names and every primitive of the registry
appears, each op's gradient column follows from the primitives its example binds), and
printed by `tracejit ops`."""
from __future__ import annotations

import re

import tracejit as tj
from tracejit import cli, exports, opstable
from tracejit.ir.prims import all_primitives

TEXT = opstable.render()


def _rows() -> dict[str, tuple[str, str]]:
    """public path -> (its row's paths cell, gradient) for every row of the ops table."""
    out = {}
    for line in TEXT.split("## Primitives")[0].splitlines():
        m = re.match(r"\| `\w+` \| (.*) \| (\w+|\?) \|$", line)
        if m:
            for p in re.findall(r"`([\w.]+)`", m.group(1)):
                out[p] = (m.group(1), m.group(2))
    return out


def test_docs_ops_md_is_current() -> None:
    assert opstable.path().read_text() == TEXT, \
        "docs/ops.md is stale: run `python -m tracejit.opstable --write`"


def test_every_public_function_and_primitive_is_listed() -> None:
    rows = _rows()
    for ns in exports.NAMESPACES:
        for name, obj in exports.TABLE[ns].items():
            if callable(obj) and not isinstance(obj, type):
                assert (f"tj.{ns}.{name}" if ns else f"tj.{name}") in rows, (ns, name)
    for name, p in all_primitives().items():
        assert f"| `{name}` | {p.kind} | {p.gradient} |" in TEXT, name


def test_every_op_has_a_known_gradient_and_the_column_is_right() -> None:
    rows = _rows()
    unknown = sorted(p for p, (_, g) in rows.items() if g == "?")
    assert not unknown, f"ops whose docstring example never calls them: {unknown}"
    assert rows["tj.exp"][1] == rows["tj.matmul"][1] == rows["tj.einsum"][1] == "yes"
    assert rows["tj.nn.softmax_cross_entropy_with_logits"][1] == "yes"
    assert rows["tj.sign"][1] == "zero"
    # a transformation's result is called in its example: jacfwd(f)(x) is differentiable
    assert rows["tj.autodiff.jacfwd"][1] == rows["tj.autodiff.hvp"][1] == "yes"
    for op in ("tj.equal", "tj.floor", "tj.argmax", "tj.math.is_nan", "tj.ones"):
        assert rows[op][1] == "no", op
    # one row per function: tj.exp and tj.math.exp are one op
    assert rows["tj.exp"][0] == rows["tj.math.exp"][0]
    assert tj.math.exp is tj.exp


def test_tracejit_ops_prints_the_table(capsys: object) -> None:
    assert cli.run(["ops"]) == TEXT


def test_readme_links_the_table() -> None:
    readme = (opstable.path().parent.parent / "README.md").read_text()
    assert "docs/ops.md" in readme
