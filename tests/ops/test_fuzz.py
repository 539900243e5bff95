"""Fuzz test of the public array ops (issue 17): knn, pairwise_distance, topk_rows, rerank,
rerank_distances, rerank_similarities, jaccard_distance(_batched) and
eval.evaluate_ranking, driven with odd shapes, dtypes, memory layouts, magnitudes, sizes
and argument values.

The promise under test: every call either returns the right result or raises a
``TypeError`` (wrong type or dtype) or ``ValueError`` (wrong value) whose message names the
argument at fault; never a crash, a pybind11 signature dump, another exception type or a
silently accepted bad input. Whether an input is valid is decided here, from the rules the
docstrings state, independently of the library; each example carries at most one planted
defect, so that the expected exception type and argument are known. Inputs within a factor
of two of a documented limit (a squared norm near ``_C.MAX_SQUARED_NORM``) may go either
way, but a result must still be right. Results are compared with the float64 reference
(reid_fast.reference) at the tolerances of reid_testing.

Derandomized: CI sees the same examples on every run.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import reid_fast
import reid_testing as rt
from reid_fast import _C, reference
from reid_fast.eval import evaluate_ranking
from reid_fast.reference.metrics import ranking_metrics
from reid_fast.reference.rerank import normalise

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much],
)

FEATURE_DTYPES = ("float32", "float16", "bfloat16")
WRONG_DTYPES = ("float64", "int64", "int32", "uint8", "bool", "complex64")
SCALES = (0.0, 1e-20, 1e-3, 1.0, 1e3, 1e9, 1e18, 1e19, 1e20, 1e30)
LAYOUTS = ("contiguous", "transposed", "strided-rows", "strided-columns", "offset-slice",
           "reversed", "broadcast")
NOT_ARRAYS = (None, "x", 3.0, [[1.0, 2.0]])
FLT_MAX = float(np.finfo(np.float32).max)
PYBIND_DUMP = ("incompatible function arguments", "Invoked with", "(arg0")


def _backends() -> list[tuple[str, str]]:
    backends = [("numpy", "cpu"), ("torch", "cpu")]
    if torch.cuda.is_available() and reid_fast.cuda_status()["usable"]:
        backends.append(("torch", "cuda"))
        if rt.cupy_module() is not None:
            backends.append(("cupy", "cuda"))
    return backends


BACKENDS = _backends()


# --------------------------------------------------------------------------------------
# Inputs and what is wrong with them
# --------------------------------------------------------------------------------------


@dataclass
class Input:
    """A drawn argument: the value the op gets, and what the test knows about it."""

    value: Any
    framework: str | None = None  # None: not an array
    device: str = "cpu"
    dtype: str | None = None
    shape: tuple[int, ...] = ()
    seen: np.ndarray | None = None  # the float64 values the op reads (float dtypes)


@dataclass
class Defect:
    """One planted problem: the exception it must raise and the argument it must name."""

    error: type[Exception]
    argument: str


def _with_layout(values: np.ndarray, layout: str, framework: str, device: str, dtype: str) -> Any:
    """``values`` (2-D) as a ``dtype`` array whose memory has the given layout."""
    rows, d = values.shape
    make = lambda a: rt.make_array(a, framework, device, dtype)  # noqa: E731
    if layout == "transposed":
        return make(np.ascontiguousarray(values.T)).T
    if layout == "strided-rows":
        tall = np.zeros((2 * rows, d))
        tall[::2] = values
        return make(tall)[::2]
    if layout == "strided-columns":
        wide = np.zeros((rows, 2 * d))
        wide[:, ::2] = values
        return make(wide)[:, ::2]
    if layout == "offset-slice":
        padded = np.zeros((rows + 3, d + 5))
        padded[2:2 + rows, 3:3 + d] = values
        return make(padded)[2:2 + rows, 3:3 + d]
    if layout == "reversed" and framework == "numpy":  # negative strides (torch has none)
        return make(np.ascontiguousarray(values[::-1]))[::-1]
    if layout == "broadcast" and rows > 0:  # every row the same memory (stride 0)
        first = make(values[:1])
        if framework == "numpy":
            return np.broadcast_to(first, (rows, d))
        return first.expand(rows, d)
    return make(values)


def _cast(values: np.ndarray, framework: str, device: str, dtype: str) -> Any:
    """``values`` as any dtype, including the ones the ops refuse."""
    if dtype in FEATURE_DTYPES:
        return rt.make_array(values, framework, device, dtype)
    with np.errstate(invalid="ignore", over="ignore"):
        host = values.astype(np.float32).astype(dtype) if dtype != "bool" else values > 0
    if framework == "numpy":
        return host
    if framework == "torch":
        return torch.from_numpy(np.ascontiguousarray(host)).to(device)
    return rt.cupy_module().asarray(host)


def array_input(draw, shape: tuple[int, ...], values: np.ndarray | None = None, *,
                dtypes: tuple[str, ...] = FEATURE_DTYPES, backend: tuple[str, str] | None = None,
                wrong_dtype: bool = False, wrong_ndim: bool = False,
                special: str | None = None) -> Input:
    """An array of ``shape`` holding ``values`` (drawn features when None), in a drawn
    dtype of ``dtypes`` (of WRONG_DTYPES with ``wrong_dtype``) and layout; ``wrong_ndim``
    flattens or adds a dimension; ``special`` plants a NaN or an Inf."""
    framework, device = backend or draw(st.sampled_from(BACKENDS))
    choices = WRONG_DTYPES if wrong_dtype else dtypes
    dtype = draw(st.sampled_from([d for d in choices if rt.supports(framework, d)]))
    if values is None:
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        values = rt.random_features(rng, *shape, draw(st.sampled_from(SCALES)))
    values = np.array(values, dtype=np.float64)
    if special is not None and values.size:
        position = draw(st.integers(0, values.size - 1))
        values.reshape(-1)[position] = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf}[special]
    with np.errstate(over="ignore", invalid="ignore"):
        if wrong_ndim:
            flat = draw(st.booleans())
            array = _cast(values.reshape(-1) if flat else values[None], framework, device, dtype)
        elif dtype in FEATURE_DTYPES:
            array = _with_layout(values, draw(st.sampled_from(LAYOUTS)), framework, device, dtype)
        else:
            array = _cast(values, framework, device, dtype)
    seen = rt.to_float64(array) if dtype in FEATURE_DTYPES else None
    return Input(array, framework, device, dtype, tuple(int(s) for s in array.shape), seen)


@st.composite
def features(draw, rows: int, d: int, name: str, backend: tuple[str, str] | None = None,
             defect: str = "none", like: Input | None = None) -> tuple[Input, Defect | None]:
    """A (rows, d) feature matrix with the planted ``defect``: "none", "type" (not an
    array), "dtype", "ndim", "nan", "inf"; of ``like``'s dtype where that is a feature
    dtype."""
    if defect == "type":
        return Input(draw(st.sampled_from(NOT_ARRAYS))), Defect(TypeError, name)
    dtypes = (like.dtype,) if like is not None and like.dtype in FEATURE_DTYPES else FEATURE_DTYPES
    if backend is not None and not rt.supports(backend[0], dtypes[0]):
        dtypes = FEATURE_DTYPES  # bfloat16 x, NumPy y: another framework is the defect
    array = array_input(draw, (rows, d), backend=backend, dtypes=dtypes,
                        wrong_dtype=defect == "dtype",
                        wrong_ndim=defect == "ndim",
                        special={"nan": "nan", "inf": draw(st.sampled_from(["inf", "-inf"]))}
                        .get(defect))
    problem = {"dtype": TypeError, "ndim": ValueError}.get(defect)
    return array, (Defect(problem, name) if problem else None)  # NaN/Inf: with_value_defects


def with_value_defects(defects: list[Defect], named: tuple[tuple[Input, str], ...]
                       ) -> tuple[list[Defect], bool]:
    """``defects`` and what the values of each 2-D float feature matrix break: NaN/Inf (in
    the dtype the op reads: float16 overflows to Inf) or a squared norm beyond
    MAX_SQUARED_NORM; and whether a row is close enough to that limit to go either way."""
    defects, maybe = list(defects), False
    for inp, name in named:
        if inp.seen is None or inp.seen.ndim != 2 or inp.seen.size == 0:
            continue
        norms = np.sum(inp.seen * inp.seen, axis=1)
        if any(d.argument == name for d in defects):
            continue  # a NaN or Inf planted already
        if not np.isfinite(inp.seen).all() or norms.max() > 2 * _C.MAX_SQUARED_NORM:
            defects.append(Defect(ValueError, name))
        maybe = maybe or bool(norms.max() > _C.MAX_SQUARED_NORM / 2)
    return defects, maybe


def drawn_integer(draw, good: list[int], name: str, low: int, high: int | None
                  ) -> tuple[Any, Defect | None]:
    """An integer argument: one of ``good`` as an int, a NumPy integer or a 0-d tensor; or
    a bad one (out of [low, high], a float, a string, a bool)."""
    kind = draw(st.sampled_from(["int"] * 6 + ["numpy", "tensor", "below", "above", "float",
                                               "str", "bool"]))
    value = draw(st.sampled_from(good))
    if kind == "numpy":
        return np.int64(value), None
    if kind == "tensor":
        return torch.tensor(value), None
    if kind == "below":
        return low - draw(st.sampled_from([1, 2**70])), Defect(ValueError, name)
    if kind == "above" and high is not None:
        return high + draw(st.sampled_from([1, 2**70])), Defect(ValueError, name)
    if kind == "float":
        return value + 0.5, Defect(TypeError, name)
    if kind == "str":
        return str(value), Defect(TypeError, name)
    if kind == "bool":
        return True, Defect(TypeError, name)
    return value, None


def expect(call: Callable[[], Any], defects: list[Defect], arguments: tuple[str, ...],
           maybe_invalid: bool = False) -> Any:
    """Runs ``call``. With no defect it must return (or, where ``maybe_invalid``, may raise a
    ValueError naming an argument): its result is returned. With defects it must raise: the
    planted one's type naming its argument when there is one defect (and no input near a
    limit); a TypeError or ValueError naming one of ``arguments`` otherwise. Returns None
    when it raised."""
    try:
        result = call()
    except (TypeError, ValueError) as error:
        event(f"raised {type(error).__name__}")
        message = str(error)
        assert not any(dump in message for dump in PYBIND_DUMP), f"a pybind11 dump: {message}"
        assert message and "\n" not in message.strip(), f"not one clear line: {message!r}"
        names = lambda args: any(re.search(rf"(?<![\w.]){re.escape(a)}\b", message)  # noqa: E731
                                 for a in args)
        if len(defects) == 1 and not maybe_invalid:
            defect = defects[0]
            assert isinstance(error, defect.error), (
                f"expected {defect.error.__name__} naming {defect.argument}, got "
                f"{type(error).__name__}: {message}")
            assert names((defect.argument,)), f"the message does not name {defect.argument}: {message}"
        else:
            assert defects or (maybe_invalid and isinstance(error, ValueError)), (
                f"a valid input was refused: {type(error).__name__}: {message}")
            assert names(arguments), f"the message names none of {arguments}: {message}"
        return None
    assert not defects, f"accepted silently: {[(d.error.__name__, d.argument) for d in defects]}"
    event("returned a result")
    return result


def assert_like(result: Any, like: Input, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """``result`` has the framework and device of ``like``, ``shape`` and ``dtype``; as NumPy."""
    assert rt.framework_of(result) == like.framework
    assert rt.device_of(result).split(":")[0] == like.device
    assert tuple(result.shape) == shape, (tuple(result.shape), shape)
    assert rt.dtype_of(result) == dtype
    return rt.to_numpy(result)


# --------------------------------------------------------------------------------------
# pairwise_distance and knn
# --------------------------------------------------------------------------------------

FEATURE_DEFECTS = ("none",) * 6 + ("type", "dtype", "ndim", "nan", "inf")


@st.composite
def feature_pairs(draw, max_rows: int = 6, max_dim: int = 6):
    """x (n, d), y (m, d) and their defects: at most one of x's, y's or a mismatch (another
    framework, dtype or width)."""
    n, m = draw(st.integers(0, max_rows)), draw(st.integers(0, max_rows))
    d = draw(st.integers(1, max_dim))
    backend = draw(st.sampled_from(BACKENDS))
    which = draw(st.sampled_from(["x", "y", "pair"]))
    defect = draw(st.sampled_from(FEATURE_DEFECTS))
    x, x_defect = draw(features(n, d, "x", backend, defect if which == "x" else "none"))
    y_backend, mismatch = backend, draw(st.sampled_from(["none", "framework", "dtype", "width"]))
    if which != "pair":
        mismatch = "none"
    if mismatch == "framework":
        others = [b for b in BACKENDS if b[0] != backend[0]]
        y_backend = draw(st.sampled_from(others))
    y, y_defect = draw(features(m, d + (mismatch == "width") * draw(st.sampled_from([1, -d])),
                                "y", y_backend, defect if which == "y" else "none", x))
    defects = [dd for dd in (x_defect, y_defect) if dd]
    if mismatch == "dtype" and x.dtype in FEATURE_DTYPES and y.dtype == x.dtype:
        other = [t for t in FEATURE_DTYPES if t != x.dtype and rt.supports(y_backend[0], t)]
        y = array_input(draw, (m, d), y.seen, backend=y_backend, dtypes=tuple(other))
    if mismatch == "framework":
        defects.append(Defect(TypeError, "y"))
    elif mismatch == "dtype" and x.dtype != y.dtype:
        defects.append(Defect(TypeError, "y"))
    elif mismatch == "width":
        defects.append(Defect(ValueError, "y"))
    defects, maybe = with_value_defects(defects, ((x, "x"), (y, "y")))
    return x, y, defects, maybe


METRIC_CHOICES = rt.METRICS * 3 + ("Euclidean", "", 3)


def metric_defect(metric: Any) -> list[Defect]:
    if not isinstance(metric, str):
        return [Defect(TypeError, "metric")]
    return [] if metric in rt.METRICS else [Defect(ValueError, "metric")]


@SETTINGS
@given(feature_pairs(), st.sampled_from(METRIC_CHOICES),
       st.sampled_from([None, "simt", "framework", "auto", "fast", 1]))
def test_pairwise_distance(pair, metric, path):
    x, y, defects, maybe = pair
    defects = defects + metric_defect(metric)
    if path in ("fast", 1):
        defects.append(Defect(ValueError if path == "fast" else TypeError, "path"))
    result = expect(lambda: reid_fast.pairwise_distance(x.value, y.value, metric, path=path),
                    defects, ("x", "y", "metric", "path"), maybe)
    if result is None:
        return
    got = assert_like(result, x, (x.shape[0], y.shape[0]), "float32")
    expected = reference.pairwise_distance(x.seen, y.seen, metric)
    rt.assert_distances_close(got, expected, rt.distance_tolerance(x.seen, y.seen, metric, expected))


@SETTINGS
@given(feature_pairs(), st.sampled_from(METRIC_CHOICES), st.data())
def test_knn(pair, metric, data):
    x, y, defects, maybe = pair
    m = y.shape[0] if len(y.shape) == 2 else 0
    k, k_defect = drawn_integer(data.draw, list(range(1, m + 1)) or [1], "k", 1, max(m, 1))
    defects = defects + metric_defect(metric) + ([k_defect] if k_defect else [])
    if m == 0 and not defects and k_defect is None:
        defects.append(Defect(ValueError, "k"))  # no k is valid for an empty gallery
    result = expect(lambda: reid_fast.knn(x.value, y.value, k, metric, return_row_max=True),
                    defects, ("x", "y", "k", "metric"), maybe)
    if result is None:
        return
    k = int(k)
    values, indices, row_max = (assert_like(r, x, shape, dtype) for r, shape, dtype in zip(
        result, [(x.shape[0], k)] * 2 + [(x.shape[0],)], ("float32", "int64", "float32")))
    expected = reference.pairwise_distance(x.seen, y.seen, metric)
    tol = rt.distance_tolerance(x.seen, y.seen, metric, expected)
    rt.assert_valid_knn(values, indices, expected, tol, k)
    rt.assert_row_max_close(row_max, expected, tol)


@SETTINGS
@given(st.integers(0, 6), st.integers(0, 8), st.sampled_from(SCALES),
       st.sampled_from(["none"] * 5 + ["type", "dtype", "ndim", "nan", "inf"]), st.data())
def test_topk_rows(n, m, scale, defect, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    values = rng.standard_normal((n, m)) * scale
    if defect == "type":
        matrix, defects = Input(data.draw(st.sampled_from(NOT_ARRAYS))), [Defect(TypeError, "matrix")]
    else:
        matrix = array_input(data.draw, (n, m), values, dtypes=("float32",),
                             wrong_dtype=defect == "dtype", wrong_ndim=defect == "ndim",
                             special={"nan": "nan", "inf": "inf"}.get(defect))
        problem = {"dtype": TypeError, "ndim": ValueError}.get(defect)
        if problem is None and not np.isfinite(matrix.seen).all():
            problem = ValueError  # a planted NaN or Inf that the layout kept
        defects = [Defect(problem, "matrix")] if problem else []
    k, k_defect = drawn_integer(data.draw, list(range(1, m + 1)) or [1], "k", 1, max(m, 1))
    defects += [k_defect] if k_defect else []
    if m == 0 and not defects:
        defects.append(Defect(ValueError, "k"))
    result = expect(lambda: reid_fast.topk_rows(matrix.value, k, return_row_max=True), defects,
                    ("matrix", "k"))
    if result is None:
        return
    k = int(k)
    got, indices, row_max = (assert_like(r, matrix, shape, dtype) for r, shape, dtype in zip(
        result, [(n, k)] * 2 + [(n,)], ("float32", "int64", "float32")))
    tol = np.zeros((n, m)) + 1e-30
    rt.assert_valid_knn(got, indices, matrix.seen, tol, k)
    np.testing.assert_array_equal(row_max, matrix.seen.max(axis=1))


# --------------------------------------------------------------------------------------
# Re-ranking
# --------------------------------------------------------------------------------------


@st.composite
def rerank_params(draw, items: int):
    """k1, k2, lambda_ (k1 within the problem when valid) and their defects."""
    k1, k1_defect = drawn_integer(draw, list(range(1, max(items, 2))), "k1", 1, None)
    k1_value = int(k1) if k1_defect is None else 1
    k2, k2_defect = drawn_integer(draw, list(range(1, k1_value + 2)), "k2", 1, k1_value + 1)
    lambda_ = draw(st.sampled_from([0.0, 0.3, 0.3, 0.3, 1.0, np.float32(0.5), torch.tensor(0.25),
                                    -0.1, 1.5, math.nan, math.inf, "0.3", None]))
    defects = [d for d in (k1_defect, k2_defect) if d]
    if isinstance(lambda_, (str, type(None))):
        defects.append(Defect(TypeError, "lambda_"))
    elif not 0 <= float(lambda_) <= 1:
        defects.append(Defect(ValueError, "lambda_"))
    if k1_defect is not None and k2_defect is None:
        k2 = 1  # valid for any k1
    return k1, k2, lambda_, defects


def problem_size_defects(q: int, g: int, k1: Any, defects: list[Defect], name: str) -> list[Defect]:
    """re-ranking needs q >= 1 and k1 + 1 <= q + g (checked once the rest is valid)."""
    if defects:
        return defects
    if q == 0:
        return [Defect(ValueError, name)]
    if int(k1) + 1 > q + g:
        return [Defect(ValueError, "k1")]
    return []


def assert_rerank(result: Any, like: Input, D: np.ndarray, q: int, k1: Any, k2: Any,
                  lambda_: Any) -> None:
    """The result against reference.rerank_from_matrix(D), fully where D has no near-ties
    at the positions that decide the neighbour sets (reid_testing.boundary_gaps_ok), else its
    shape, dtype and range."""
    got = assert_like(result, like, (q, D.shape[0] - q), "float32")
    k1, k2, lambda_ = int(k1), int(k2), float(lambda_)
    if rt.boundary_gaps_ok(normalise(D), rt.rerank_boundaries(k1, k2)):
        expected = reference.rerank_from_matrix(D, q, k1, k2, lambda_)
        rt.assert_rerank_close(got, expected)
    else:
        assert np.isfinite(got).all() and got.min() >= 0 and got.max() <= 1 + 1e-6


@settings(SETTINGS, max_examples=400)
@given(st.integers(0, 4), st.integers(0, 6), st.integers(1, 5),
       st.sampled_from(["query", "gallery", "pair"]),
       st.sampled_from(FEATURE_DEFECTS), st.data())
def test_rerank(q, g, d, which, defect, data):
    backend = data.draw(st.sampled_from(BACKENDS))
    query, query_defect = data.draw(features(q, d, "query", backend,
                                             defect if which == "query" else "none"))
    gallery, gallery_defect = data.draw(features(g, d, "gallery", backend,
                                                 defect if which == "gallery" else "none", query))
    defects = [dd for dd in (query_defect, gallery_defect) if dd]
    if which == "pair" and defect != "none" and query.dtype in FEATURE_DTYPES:
        others = [t for t in FEATURE_DTYPES if t != query.dtype and rt.supports(backend[0], t)]
        gallery = array_input(data.draw, (g, d), gallery.seen, backend=backend,
                              dtypes=tuple(others))
        defects.append(Defect(TypeError, "gallery"))
    defects, maybe = with_value_defects(defects, ((query, "query"), (gallery, "gallery")))
    k1, k2, lambda_, param_defects = data.draw(rerank_params(q + g))
    defects = problem_size_defects(q, g, k1, defects + param_defects, "query")
    result = expect(lambda: reid_fast.rerank(query.value, gallery.value, k1, k2, lambda_),
                    defects, ("query", "gallery", "k1", "k2", "lambda_"), maybe)
    if result is None:
        return
    both = np.concatenate([query.seen, gallery.seen])
    assert_rerank(result, query, reference.pairwise_distance(both, both, "sqeuclidean"), q, k1,
                  k2, lambda_)


MATRIX_DEFECTS = ("none",) * 5 + ("type", "dtype", "ndim", "shape", "nan", "negative", "huge")


@settings(SETTINGS, max_examples=400)
@given(st.integers(0, 4), st.integers(0, 6), st.sampled_from(["distances", "similarities"]),
       st.sampled_from(["q_g", "q_q", "g_g"]), st.sampled_from(MATRIX_DEFECTS), st.data())
def test_rerank_from_matrices(q, g, convention, which, defect, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    scale = data.draw(st.sampled_from([1e-3, 1.0, 1e3]))
    both = rt.random_features(rng, q + g, data.draw(st.integers(1, 4)), scale)
    if convention == "distances":
        full = reference.pairwise_distance(both, both, "euclidean")
    else:
        full = 1 - reference.pairwise_distance(both, both, "cosine")
    if defect == "huge":
        full = full * 1e20  # the squared distances, (2 - 2 s)^2 too, overflow float32
    blocks = {"q_g": full[:q, q:], "q_q": full[:q, :q], "g_g": full[q:, q:]}
    backend = data.draw(st.sampled_from(BACKENDS))
    inputs, defects = {}, []
    for name, values in blocks.items():
        planted = defect if name == which else "none"
        if planted == "type":
            inputs[name] = Input(data.draw(st.sampled_from(NOT_ARRAYS)))
            defects.append(Defect(TypeError, name))
            continue
        if planted == "shape":
            values = np.concatenate([values, values[:1] if values.shape[0] else np.ones((1, values.shape[1]))])
            defects.append(Defect(ValueError, name))
        if planted == "negative" and convention == "distances" and values.size:
            values = values - values.max() - 1
            defects.append(Defect(ValueError, name))
        inputs[name] = array_input(data.draw, values.shape, values, dtypes=("float32",),
                                   backend=backend, wrong_dtype=planted == "dtype",
                                   wrong_ndim=planted == "ndim",
                                   special="nan" if planted == "nan" else None)
        if planted in ("dtype", "ndim"):
            defects.append(Defect(TypeError if planted == "dtype" else ValueError, name))
        if planted == "nan" and values.size:
            defects.append(Defect(ValueError, name))
    squared = full ** 2 if convention == "distances" else (2 - 2 * full) ** 2
    if defect == "huge" and not defects and full.size and squared.max() > 2 * FLT_MAX:
        defects.append(Defect(ValueError, "q_g"))  # the message names all three blocks
    k1, k2, lambda_, param_defects = data.draw(rerank_params(q + g))
    defects = problem_size_defects(q, g, k1, defects + param_defects, "q_g")
    op = reid_fast.rerank_distances if convention == "distances" else reid_fast.rerank_similarities
    values = [inputs[name].value for name in ("q_g", "q_q", "g_g")]
    result = expect(lambda: op(*values, k1, k2, lambda_), defects,
                    ("q_g", "q_q", "g_g", "k1", "k2", "lambda_", "query"))
    if result is None:
        return
    seen = [inputs[name].seen for name in ("q_g", "q_q", "g_g")]
    assembled = np.block([[seen[1], seen[0]], [seen[0].T, seen[2]]])
    D = assembled ** 2 if convention == "distances" else (2 - 2 * assembled) ** 2
    assert_rerank(result, inputs["q_g"], D, q, k1, k2, lambda_)


# --------------------------------------------------------------------------------------
# Jaccard distances
# --------------------------------------------------------------------------------------

SPARSE_DEFECTS = ("none",) * 6 + (
    "not-rows", "indptr-dtype", "values-dtype", "indptr-2d", "indptr-start", "indptr-decreasing",
    "index-range", "index-order", "negative", "nan", "huge-sum", "num-columns-type",
    "num-columns-negative", "num-columns-huge", "values-length", "indices-framework",
)


def planted_sparse(dense: np.ndarray, defect: str, name: str, backend: tuple[str, str],
                   num_columns: int) -> tuple[Any, Defect | None]:
    """``dense`` (rows, L) as SparseRows on ``backend`` with one planted ``defect``."""
    rows = rt.sparse_rows(dense, "numpy")
    indptr, indices, values = rows.indptr.copy(), rows.indices.copy(), rows.values.copy()
    nnz = indices.shape[0]
    error: type[Exception] | None = ValueError
    if defect == "not-rows":
        return (indptr, indices, values, num_columns), Defect(TypeError, name)
    if defect == "indptr-dtype":
        indptr, error = indptr.astype(np.int32), TypeError
    elif defect == "values-dtype":
        values, error = values.astype(np.float64), TypeError
    elif defect == "indptr-2d":
        indptr = indptr[None]
    elif defect == "indptr-start":
        indptr = indptr + 1
    elif defect == "indptr-decreasing" and indptr.shape[0] > 2 and nnz:
        indptr[1], indptr[2] = nnz, 0
    elif defect == "index-range" and nnz:
        indices[-1] = num_columns
    elif defect == "index-order" and np.any(np.diff(indptr) >= 2):
        row = int(np.flatnonzero(np.diff(indptr) >= 2)[0])
        indices[indptr[row]], indices[indptr[row] + 1] = indices[indptr[row] + 1], indices[indptr[row]]
    elif defect == "negative" and nnz:
        values[0] = -1.0
    elif defect == "nan" and nnz:
        values[-1] = np.nan
    elif defect == "huge-sum" and nnz:
        values[:] = 3e38  # a row sum above jaccard.MAX_ROW_SUM
    elif defect == "num-columns-type":
        num_columns, error = float(num_columns), TypeError
    elif defect == "num-columns-negative" and not nnz:
        num_columns = -1
    elif defect == "num-columns-huge":
        num_columns = 2**64  # above int64
    elif defect == "values-length":
        values = np.concatenate([values, np.ones(1, np.float32)])
    elif defect == "indices-framework" and backend[0] != "torch":
        indices, error = torch.from_numpy(indices), ValueError
    elif defect == "indices-framework":
        indices = indices.tolist()
        error = TypeError
    else:
        error = None  # the defect does not apply to these rows
    converted = [rt._on(a, *backend) if isinstance(a, np.ndarray) else a for a in (indptr, indices, values)]
    return reid_fast.SparseRows(*converted, num_columns), (Defect(error, name) if error else None)


@SETTINGS
@given(st.integers(0, 4), st.integers(0, 5), st.integers(1, 6),
       st.sampled_from(["query", "gallery"]), st.sampled_from(SPARSE_DEFECTS),
       st.sampled_from(["none", "none", "columns", "framework"]), st.data())
def test_jaccard_distance(q, g, columns, which, defect, mismatch, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    scale = data.draw(st.sampled_from([1e-30, 1.0, 1e30]))
    dense = {name: rt.random_rows(rng, rows, columns, 0.6, 0.2) * scale
             for name, rows in (("query", q), ("gallery", g))}
    backend = data.draw(st.sampled_from(BACKENDS))
    sparse, defects = {}, []
    for name in ("query", "gallery"):
        planted = defect if name == which else "none"
        width = columns + (mismatch == "columns" and name == "gallery")
        side = backend
        if mismatch == "framework" and name == "gallery":
            side = next(b for b in BACKENDS if b[0] != backend[0])
        sparse[name], found = planted_sparse(dense[name], planted, name, side, width)
        defects += [found] if found else []
    if not defects and mismatch != "none":
        defects.append(Defect(ValueError, "gallery"))
    splits = data.draw(st.sampled_from(["none", "whole", "halves", "bad", "string"]))
    if splits == "none":
        call = lambda: [reid_fast.jaccard_distance(sparse["query"], sparse["gallery"])]  # noqa: E731
        blocks = [(0, q, 0, g)]
    else:
        q_splits, g_splits = {"whole": ([0, q], [0, g]), "halves": ([0, q // 2, q], [0, g // 2, g]),
                              "bad": ([0, q + 1], [0, g]), "string": ("0q", [0, g])}[splits]
        call = lambda: reid_fast.jaccard_distance_batched(  # noqa: E731
            sparse["query"], sparse["gallery"], q_splits, g_splits)
        blocks = [(a, b, c, d) for a, b, c, d in zip(q_splits, q_splits[1:], g_splits, g_splits[1:])]
        if not defects and splits in ("bad", "string"):
            defects.append(Defect(ValueError if splits == "bad" else TypeError, "query_splits"))
    result = expect(call, defects, ("query", "gallery", "query_splits", "gallery_splits"))
    if result is None:
        return
    expected = rt.dense_jaccard(dense["query"].astype(np.float32), dense["gallery"].astype(np.float32))
    assert len(result) == len(blocks)
    for got, (q0, q1, g0, g1) in zip(result, blocks):
        got = rt.to_numpy(got)
        assert got.shape == (q1 - q0, g1 - g0) and got.dtype == np.float32
        np.testing.assert_allclose(got, expected[q0:q1, g0:g1], rtol=0, atol=1e-5)


# --------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------

ID_KINDS = ("numpy", "torch", "list", "list", "uint64", "float", "string", "length", "2-d")


def planted_ids(values: np.ndarray, kind: str, name: str) -> tuple[Any, Defect | None]:
    """Integer ids or cameras in one of the accepted forms, or with one defect."""
    if kind == "numpy":
        return values.astype(np.int32), None
    if kind == "torch":
        return torch.from_numpy(values), None
    if kind == "list":
        return values.tolist(), None
    if kind == "uint64":
        if values.min() >= 0:
            return values.astype(np.uint64), None
        return values.astype(np.uint64), Defect(ValueError, name)  # -1 would wrap
    if kind == "float":  # an empty float array is an empty sequence of ids
        return values.astype(np.float64) + 0.5, Defect(TypeError, name) if values.size else None
    if kind == "string":
        return [str(v) for v in values], Defect(TypeError, name) if values.size else None
    if kind == "length":
        return np.concatenate([values, values[:1] if values.size else [0]]), Defect(ValueError, name)
    return values[None], Defect(ValueError, name)


@SETTINGS
@given(st.integers(0, 5), st.integers(1, 8), st.sampled_from(["float32", "float32", "float64",
       "float16", "int64", "nan", "3-d", "list"]), st.sampled_from(ID_KINDS),
       st.sampled_from(["query_ids", "gallery_ids", "query_cams", "gallery_cams"]),
       st.sampled_from([1, 5, 100, 2.5, 0, 2**70]), st.booleans(), st.data())
def test_evaluate_ranking(q, g, distance_kind, id_kind, which, top, same_camera_junk, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    # Integer-valued distances: many exact ties, broken by the gallery index.
    distances = rng.integers(0, 4, size=(q, g)).astype(np.float64)
    columns = {"query_ids": rng.integers(-1, 3, q), "gallery_ids": rng.integers(-1, 3, g),
               "query_cams": rng.integers(-1, 2, q), "gallery_cams": rng.integers(-1, 2, g)}
    arguments, defects = {}, []
    for name, values in columns.items():
        arguments[name], found = planted_ids(values, id_kind if name == which else "numpy", name)
        defects += [found] if found else []
    if distance_kind == "nan" and q * g:
        distances[-1, -1] = np.nan
        defects.append(Defect(ValueError, "distances"))
    if distance_kind == "int64":
        matrix = distances.astype(np.int64)
        defects.append(Defect(TypeError, "distances"))
    elif distance_kind == "3-d":
        matrix = distances[None].astype(np.float32)
        defects.append(Defect(ValueError, "distances"))
    elif distance_kind == "list":  # sequences are taken; [] (q = 0) is 1-D
        matrix = distances.tolist()
        if q == 0:
            defects.append(Defect(ValueError, "distances"))
    else:
        matrix = distances.astype(distance_kind if distance_kind != "nan" else "float32")
        if data.draw(st.booleans()):
            matrix = torch.from_numpy(np.ascontiguousarray(matrix))
        elif data.draw(st.booleans()):
            matrix = np.ascontiguousarray(matrix[::-1])[::-1]  # negative strides
    if not isinstance(top, int) or isinstance(top, bool):
        defects.append(Defect(TypeError, "top"))
    elif not 1 <= top <= 2**63 - 1:
        defects.append(Defect(ValueError, "top"))
    result = expect(lambda: evaluate_ranking(matrix, arguments["query_ids"], arguments["gallery_ids"],
                                             arguments["query_cams"], arguments["gallery_cams"],
                                             same_camera_junk=same_camera_junk, top=top),
                    defects, ("distances", *columns, "top"))
    if result is None:
        return
    expected = ranking_metrics(distances, *columns.values(),
                                                 same_camera_junk=same_camera_junk, top=top)
    assert result.num_valid == expected["num_valid"]
    np.testing.assert_allclose(result.average_precision, expected["ap"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(result.average_precision_at_top, expected["ap_top"], rtol=0, atol=1e-6)
    np.testing.assert_array_equal(result.first_positive_rank, expected["first"])
    assert result.mAP == pytest.approx(expected["mAP"], abs=1e-6)
