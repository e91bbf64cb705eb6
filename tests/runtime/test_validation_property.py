"""Property tests of the runtime's input check: validate_iq accepts exactly the valid inputs and refuses
everything else with InputError, and Engine.predict on a real engine raises nothing but InputError.

tests/serve/test_runtime.py pins the message of each refusal on hand-picked inputs; here hypothesis
draws the inputs (shapes, ranks, lengths, dtypes, NaN / Inf / huge values, layouts, non-arrays).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from amc.runtime import InputError, Prediction, validate_iq

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

from tests.serve.test_server import engine, model_files  # noqa: E402, F401 - the session's tiny trained model

L = 8  # frame length for the pure validate_iq properties
FLOATS = [np.float16, np.float32, np.float64, np.longdouble]
OTHERS = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.complex64, np.complex128, np.bool_,
          np.dtype("U3"), np.dtype("M8[s]")]
EDGES = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-45, 6.5e4, 3.4e38, -3.4e38, 1e39, 1e300]


@st.composite
def shapes(draw: Any, length: int) -> tuple[int, ...]:
    """Mostly near-valid shapes (one axis off at a time), sometimes anything of rank 0..4."""
    kind = draw(st.sampled_from(["frame", "batch", "batch", "off", "any"]))
    b = draw(st.integers(0, 3))
    if kind == "frame":
        return (2, length)
    if kind == "batch":
        return (b, 2, length)
    if kind == "off":
        shape = [b, 2, length]
        axis = draw(st.integers(0, 2))
        shape[axis] = draw(st.sampled_from([0, 1, 3, length - 1, length + 1, 2 * length]))
        return tuple(shape[draw(st.integers(0, 1)):])  # as (B, 2, L) or (2, L)
    return draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=length + 1))


@st.composite
def iq_inputs(draw: Any, length: int) -> np.ndarray:
    """An array of a random dtype and shape; floats include NaN, Inf, huge and tiny values."""
    dtype = np.dtype(draw(st.sampled_from(FLOATS * 3 + OTHERS)))
    shape = draw(shapes(length))
    if dtype.kind == "f":  # drawn as float64 (values a float16 / float32 holds exactly), then cast
        finite = st.floats(-4, 4, width={2: 16, 4: 32}.get(dtype.itemsize, 64))
        edges = draw(st.booleans())  # half the arrays may hold edge values, the others are plain
        elements = st.one_of(finite, finite, finite, st.sampled_from(EDGES)) if edges else finite
        base = draw(hnp.arrays(np.float64, shape, elements=elements))
        with np.errstate(over="ignore"):
            x = base.astype(dtype)
    else:
        x = draw(hnp.arrays(dtype, shape))
    layout = draw(st.sampled_from(["c", "c", "fortran", "reversed"]))
    if layout == "fortran":
        x = np.asfortranarray(x)
    elif layout == "reversed" and x.ndim:
        x = x[..., ::-1]  # a negative-stride view
    return x


def expected(x: np.ndarray, length: int) -> np.ndarray | None:
    """The oracle: (B, 2, L) float32 for a valid input, None for one that must be refused."""
    if x.dtype.kind != "f" or x.ndim not in (2, 3):
        return None
    b = x[None] if x.ndim == 2 else x
    if b.shape[0] < 1 or b.shape[1:] != (2, length):
        return None
    with np.errstate(over="ignore"):
        f = b.astype(np.float32)
    return f if np.isfinite(f).all() else None


@settings(max_examples=400, deadline=None)
@given(x=iq_inputs(L))
def test_validate_iq_accepts_exactly_the_valid_inputs(x: np.ndarray) -> None:
    want = expected(x, L)
    hypothesis.event("valid" if want is not None else f"refused {x.dtype.kind} rank {x.ndim}")
    if want is None:
        with pytest.raises(InputError) as e:
            validate_iq(x, L)
        assert str(e.value) and "\n" not in str(e.value)
        return
    got = validate_iq(x, L)
    assert got.dtype == np.float32 and got.shape == want.shape and got.flags.c_contiguous
    np.testing.assert_array_equal(got, want)  # the input's values, rounded to float32 and nothing else
    if x.dtype in (np.float16, np.float32):  # exact: float32 holds every value of these
        np.testing.assert_array_equal(got.astype(x.dtype).reshape(x.shape), x)


def _not_arrays() -> st.SearchStrategy[Any]:
    """Things a caller might pass instead of an array: lists (ragged, nested, mixed), scalars, strings,
    None, dicts, torch tensors of other dtypes and layouts."""
    row = st.lists(st.one_of(st.floats(allow_nan=True), st.integers(-3, 3), st.none(), st.text(max_size=2)),
                   min_size=0, max_size=L + 1)
    frame = st.lists(row, min_size=0, max_size=3)
    plain = st.one_of(row, frame, st.lists(frame, max_size=3), st.none(), st.floats(), st.text(max_size=4),
                      st.dictionaries(st.text(max_size=2), st.integers(), max_size=2), st.binary(max_size=4))

    def tensor(kind: str) -> Any:
        import torch

        base = torch.linspace(-1, 1, 2 * 2 * L).reshape(2, 2, L)
        return {"bf16": base.bfloat16(), "f16": base.half(), "grad": base.clone().requires_grad_(True),
                "sparse": base.to_sparse(), "int": base.int(), "complex": base.to(torch.complex64),
                "bool": base > 0, "wrong": base[:, :, :-1]}[kind]

    tensors = st.sampled_from(["bf16", "f16", "grad", "sparse", "int", "complex", "bool", "wrong"]).map(tensor)
    return st.one_of(plain, tensors)


@settings(max_examples=200, deadline=None)
@given(obj=_not_arrays())
def test_validate_iq_refuses_non_arrays_with_input_error_only(obj: Any) -> None:
    try:
        out = validate_iq(obj, L)
    except InputError as e:
        assert str(e) and "\n" not in str(e)
        return
    assert out.dtype == np.float32 and out.ndim == 3 and out.shape[1:] == (2, L)  # e.g. a float tensor
    assert np.isfinite(out).all()


@pytest.fixture(scope="module", params=["onnx", "torch"])
def real_engine(request: pytest.FixtureRequest, engine: Any, model_files: Any) -> Any:  # noqa: F811
    from amc.runtime import Engine

    return engine if request.param == "onnx" else Engine.load(model_files[0], provider="cpu")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_engine_predict_raises_nothing_but_input_error(real_engine: Any, data: Any) -> None:
    length = real_engine.frame_length
    x = data.draw(st.one_of(iq_inputs(length), iq_inputs(length), _not_arrays()))
    try:
        pred = real_engine.predict(x)
    except InputError:
        assert not isinstance(x, np.ndarray) or expected(x, length) is None
        return
    assert isinstance(pred, Prediction)
    n = len(pred.index)
    assert n >= 1 and pred.probs.shape == (n, len(real_engine.classes)) and len(pred.label) == n
    assert not isinstance(x, np.ndarray) or expected(x, length) is not None


def test_torch_tensors_bfloat16_is_widened_and_sparse_refused() -> None:
    import torch

    x = torch.linspace(-2, 2, 2 * 2 * L).reshape(2, 2, L)
    got = validate_iq(x.bfloat16(), L)  # no numpy bfloat16: widened to float32, values kept
    np.testing.assert_array_equal(got, x.bfloat16().float().numpy())
    with pytest.raises(InputError, match=r"IQ tensor cannot become an array \(.*Sparse"):
        validate_iq(x.to_sparse(), L)
