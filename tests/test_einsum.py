"""einsum against NumPy's (eagerly and compiled, float and int, size-0 axes, hypothesis
equations), its gradients against central finite differences at orders 1 and 2, the plan
(contractions reach `matmul` without transposes where a transpose flag does), and the
errors TensorFlow gives for bad equations."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tracejit as tj
from tests.test_grad_ops import examples, gradcheck, rand

# one compiled lambda per equation and shape, on purpose
pytestmark = pytest.mark.filterwarnings("ignore:.*traced it")

# equation, operand shapes
CASES: list[tuple[str, list[tuple[int, ...]]]] = [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("ii->", [(4, 4)]),
    ("ij->ji", [(3, 4)]),
    ("i,i->", [(5,), (5,)]),
    ("bhqd,bhkd->bhqk", [(2, 3, 4, 5), (2, 3, 6, 5)]),
    ("ii", [(3, 3)]),                       # implicit output: the trace
    ("ba", [(2, 3)]),                       # implicit output: alphabetical, a transpose
    ("Ba,aB", [(2, 3), (3, 2)]),
    ("iij->j", [(3, 3, 2)]),
    ("iii->i", [(3, 3, 3)]),
    ("ijij->ij", [(2, 3, 2, 3)]),
    ("ii->i", [(4, 4)]),
    ("ij->", [(2, 3)]),
    ("ij->j", [(2, 3)]),
    ("i,j->ij", [(2,), (3,)]),
    ("ij,ij->ij", [(2, 3), (2, 3)]),
    ("ij,ij->", [(2, 3), (2, 3)]),
    ("ab,ba->", [(3, 4), (4, 3)]),
    ("bi,bi->b", [(3, 4), (3, 4)]),
    ("ijk,jil->kl", [(2, 3, 4), (3, 2, 5)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
    ("abc,cd,de->abe", [(2, 3, 4), (4, 5), (5, 6)]),
    ("bn,anm,bm->ba", [(2, 3), (4, 3, 5), (2, 5)]),
    ("ij,kl->ijkl", [(2, 3), (1, 2)]),
    ("ij,j->i", [(3, 4), (4,)]),
    ("i,ij->j", [(3,), (3, 4)]),
    ("...ij,...jk->...ik", [(5, 1, 2, 3), (4, 3, 2)]),
    ("...i,...i", [(2, 3), (4, 1, 3)]),     # implicit output with broadcast axes first
    ("...i,...i->...", [(2, 3), (4, 1, 3)]),
    ("ab...,b->...a", [(2, 3, 4), (3,)]),
    ("...", [(2, 3)]),
    ("i...->...", [(2, 3)]),
    ("...ij->...ji", [(2, 3)]),
    (" i j , j k -> i k ", [(2, 3), (3, 4)]),
    ("i->", [(0,)]),
    ("ij,jk->ik", [(0, 3), (3, 2)]),
    ("ij,jk->ik", [(2, 0), (0, 2)]),
    ("ij,j->", [(2, 0), (0,)]),
]
IDS = [f"{eq.replace(' ', '')}-{shapes}" for eq, shapes in CASES]


@pytest.mark.parametrize("eq,shapes", CASES, ids=IDS)
def test_einsum_matches_numpy_eager_and_compiled(eq: str, shapes: list[tuple[int, ...]]
                                                 ) -> None:
    ops = [rand(k, s) for k, s in enumerate(shapes)]
    ref = np.einsum(eq, *ops)
    got = tj.einsum(eq, *[tj.constant(o) for o in ops])
    assert got.shape == ref.shape and got.dtype == np.float64
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-12, atol=1e-12)
    f = tj.function(lambda *a: tj.einsum(eq, *a))
    got32 = f(*[tj.constant(o.astype(np.float32)) for o in ops])
    assert got32.dtype == np.float32
    np.testing.assert_allclose(got32.numpy(), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("eq,shapes", [("ij,jk->ik", [(3, 4), (4, 5)]),
                                       ("bi,bi->b", [(3, 4), (3, 4)]),
                                       ("iij,j->i", [(3, 3, 2), (2,)])])
def test_einsum_of_integers_wraps_as_numpy(eq: str, shapes: list[tuple[int, ...]]) -> None:
    rng = np.random.default_rng(1)
    ops = [rng.integers(-2**20, 2**20, s, dtype=np.int32) for s in shapes]
    with np.errstate(over="ignore"):
        ref = np.einsum(eq, *ops)
    got = tj.function(lambda *a: tj.einsum(eq, *a))(*ops)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got.numpy(), ref)
    np.testing.assert_array_equal(tj.einsum(eq, *ops).numpy(), ref)


@st.composite
def equations(draw: st.DrawFn) -> tuple[str, list[tuple[int, ...]]]:
    """An equation over up to 3 operands of up to 3 axes each, with repeated labels,
    explicit or implicit output, and consistent sizes (0 to 3)."""
    pool = draw(st.lists(st.sampled_from("abcdeX"), min_size=1, max_size=4, unique=True))
    sizes = {c: draw(st.integers(0, 3)) for c in pool}
    terms = draw(st.lists(st.lists(st.sampled_from(pool), max_size=3), min_size=1,
                          max_size=3))
    used = sorted({c for t in terms for c in t})
    eq = ",".join("".join(t) for t in terms)
    if draw(st.booleans()):
        out = draw(st.permutations(used))[:draw(st.integers(0, len(used)))]
        eq += "->" + "".join(out)
    return eq, [tuple(sizes[c] for c in t) for t in terms]


@given(equations())
@examples(60)
def test_einsum_of_drawn_equations_matches_numpy(case: tuple[str, list[tuple[int, ...]]]
                                                 ) -> None:
    eq, shapes = case
    ops = [rand(k, s) for k, s in enumerate(shapes)]
    ref = np.einsum(eq, *ops)
    got = tj.einsum(eq, *[tj.constant(o) for o in ops])
    assert got.shape == ref.shape
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-12, atol=1e-12)


GRAD_CASES = [("ij,jk->ik", [(2, 3), (3, 2)]), ("bhqd,bhkd->bhqk", [(1, 2, 2, 3), (1, 2, 3, 3)]),
              ("ii->", [(3, 3)]), ("iij->ji", [(2, 2, 3)]), ("i,i->", [(4,), (4,)]),
              ("ij->ji", [(2, 3)]), ("...ij,...jk->...ik", [(2, 1, 2, 3), (2, 3, 2)]),
              ("ij,jk,kl->il", [(2, 3), (3, 2), (2, 2)]), ("i,j->ij", [(2,), (3,)])]


@pytest.mark.parametrize("eq,shapes", GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_einsum_gradients_order_1_and_2(eq: str, shapes: list[tuple[int, ...]]) -> None:
    # a product with the operands squared makes the second derivative non-trivial
    gradcheck(lambda *a: tj.einsum(eq, *[x * x for x in a]),
              *[rand(k + 3, s) for k, s in enumerate(shapes)])


def test_einsum_gradient_compiled_matches_eager() -> None:
    a, b = rand(0, (2, 3, 4, 5)), rand(1, (2, 3, 6, 5))

    def grads(x: tj.Tensor, y: tj.Tensor) -> list[tj.Tensor]:
        with tj.GradientTape() as tape:
            tape.watch([x, y])
            z = tj.reduce_sum(tj.sin(tj.einsum("bhqd,bhkd->bhqk", x, y)))
        return tape.gradient(z, [x, y])

    eager = grads(tj.constant(a), tj.constant(b))
    compiled = tj.function(grads)(tj.constant(a), tj.constant(b))
    for e, c in zip(eager, compiled):
        np.testing.assert_allclose(c.numpy(), e.numpy(), rtol=1e-12)


@pytest.mark.parametrize("eq,shapes,prims", [
    ("ij,jk->ik", [(3, 4), (4, 5)], ["matmul"]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)], ["matmul"]),
    ("bhqd,bhkd->bhqk", [(2, 3, 4, 5), (2, 3, 6, 5)], ["matmul"]),
    ("ji,jk->ik", [(4, 3), (4, 5)], ["matmul"]),
    ("ij->ji", [(3, 4)], ["transpose"]),
    ("i,i->", [(5,), (5,)], ["mul", "reduce_sum"]),
    ("ii->", [(4, 4)], ["reshape", "slice", "reduce_sum"]),
])
def test_einsum_plan_uses_the_matmul_kernel_and_fused_loops(
        eq: str, shapes: list[tuple[int, ...]], prims: list[str]) -> None:
    """Contractions are one matmul with transpose flags instead of transposes; the trace is
    a strided slice (O(n), not a mask over n**2 elements)."""
    f = tj.function(lambda *a: tj.einsum(eq, *a))
    text = f.lower(*[np.ones(s, np.float32) for s in shapes]).as_text("opt")
    body = [line.split("=")[1].split("(")[0].strip() for line in text.splitlines()
            if " = " in line]
    assert body == prims, text


def test_einsum_follows_tensorflow_on_labels_and_ellipsis() -> None:
    # named labels never broadcast (NumPy's einsum would), broadcast axes ('...') do
    with pytest.raises(ValueError, match=r"subscript 'j' has sizes 1 and 3"):
        tj.einsum("ij,jk->ik", np.ones((2, 1)), np.ones((3, 4)))
    assert tj.einsum("...i,...i->...", np.ones((2, 3)), np.ones((4, 1, 3))).shape == (4, 2)
    with pytest.raises(ValueError, match=r"broadcast axis \('...'\) has sizes 2 and 3"):
        tj.einsum("...i,...i->...", np.ones((2, 3)), np.ones((3, 3)))


@pytest.mark.parametrize("eq,shapes,match", [
    ("i->ii", [(3,)], "output subscript 'i' appears more than once"),
    ("i->j", [(3,)], "output subscript 'j' names no input axis"),
    ("ij", [(3,)], "'ij' names 2 axes of a rank-1 operand"),
    ("i,i", [(3,)], "2 input subscript"),
    ("...i,...i->i", [(2, 3), (2, 3)], "no '...'"),
    ("i1", [(3, 3)], "subscripts must be letters, got '1'"),
    ("i.j", [(3, 3)], r"'\.' is only allowed as '\.\.\.'"),
    ("i->i->i", [(3,)], "more than one '->'"),
])
def test_einsum_errors_name_the_equation_and_shapes(eq: str, shapes: list[tuple[int, ...]],
                                                    match: str) -> None:
    with pytest.raises(ValueError, match=match) as info:
        tj.einsum(eq, *[np.ones(s, np.float32) for s in shapes])
    assert repr(eq) in str(info.value) and str(shapes[0]) in str(info.value)


def test_einsum_operands_share_a_dtype() -> None:
    with pytest.raises(TypeError, match="float32 and float64"):
        tj.einsum("i,i->", np.ones(2, np.float32), np.ones(2))
    with pytest.raises(ValueError, match="bool"):
        tj.einsum("i->", np.ones(2, bool))
