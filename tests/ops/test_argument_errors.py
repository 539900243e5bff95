"""Bad inputs get a clear error of the right type whose message names the argument and the
bad value (texts from reid_fast/ops/_arrays.py, distance.py and knn.py).

Every case runs through both pairwise_distance and knn, on both paths.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import reid_fast
import reid_testing as rt

torch = rt.torch


def _pairwise(x, y, **kwargs):
    return reid_fast.pairwise_distance(x, y, **kwargs)


def _knn(x, y, **kwargs):
    return reid_fast.knn(x, y, kwargs.pop("k", 2), **kwargs)


def _pairwise_framework(x, y, **kwargs):
    return reid_fast.pairwise_distance(x, y, path="framework", **kwargs)


def _knn_framework(x, y, **kwargs):
    return reid_fast.knn(x, y, kwargs.pop("k", 2), path="framework", **kwargs)


# Both ops on both paths (docs/design.md 3.1): the checks come before the path is taken.
OPS = [pytest.param(_pairwise, id="pairwise_distance"), pytest.param(_knn, id="knn"),
       pytest.param(_pairwise_framework, id="pairwise_distance-framework"),
       pytest.param(_knn_framework, id="knn-framework")]


def f32(*shape):
    return np.ones(shape, dtype=np.float32)


def t32(*shape):
    return torch.ones(shape, dtype=torch.float32)


def _nan_at(array, index, value=np.nan):
    array = array.copy() if isinstance(array, np.ndarray) else array.clone()
    array[index] = value
    return array


def finite(name: str, row: int) -> str:
    """The key part of the NaN/Inf error: it names the argument and the first bad row.

    The CPU path reports "<name> must be finite, got a NaN or Inf value in row <row>" (found
    while packing), the framework path "<name> must be finite, got <count> NaN or Inf
    value(s), the first at index (<row>, <column>)"; either is accepted.
    """
    return rf"{name} must be finite, got .*NaN or Inf value.*(row {row}\b|index \({row}, )"


# (x, y, expected exception, message regex)
BAD_INPUTS = [
    pytest.param(
        f32(3), f32(4, 3), ValueError, r"x must be 2-D \(rows, features\), got shape \(3,\)", id="x-1d"
    ),
    pytest.param(
        f32(4, 3), f32(3), ValueError, r"y must be 2-D \(rows, features\), got shape \(3,\)", id="y-1d"
    ),
    pytest.param(
        f32(2, 3, 4),
        f32(4, 4),
        ValueError,
        r"x must be 2-D \(rows, features\), got shape \(2, 3, 4\)",
        id="x-3d",
    ),
    pytest.param(
        f32(), f32(4, 3), ValueError, r"x must be 2-D \(rows, features\), got shape \(\)", id="x-0d"
    ),
    pytest.param(
        np.ones((4, 3), np.int64),
        f32(4, 3),
        TypeError,
        r"x must be float32, float16 or bfloat16, got int64",
        id="x-int64",
    ),
    pytest.param(
        np.ones((4, 3), np.float64),
        f32(4, 3),
        TypeError,
        r"x must be float32, float16 or bfloat16, got float64 \(convert it first",
        id="x-float64",
    ),
    pytest.param(
        f32(4, 3),
        np.ones((4, 3), np.float64),
        TypeError,
        r"y must be float32, float16 or bfloat16, got float64",
        id="y-float64",
    ),
    pytest.param(
        np.ones((4, 3), bool),
        f32(4, 3),
        TypeError,
        r"x must be float32, float16 or bfloat16, got bool",
        id="x-bool",
    ),
    pytest.param(
        torch.ones(4, 3, dtype=torch.float64),
        t32(4, 3),
        TypeError,
        r"x must be float32, float16 or bfloat16, got float64",
        id="torch-x-float64",
    ),
    pytest.param(
        torch.ones(4, 3, dtype=torch.int64),
        t32(4, 3),
        TypeError,
        r"x must be float32, float16 or bfloat16, got int64",
        id="torch-x-int64",
    ),
    pytest.param(
        [[1.0, 2.0], [3.0, 4.0]],
        f32(3, 2),
        TypeError,
        r"x must be a torch.Tensor, numpy.ndarray or cupy.ndarray, got builtins.list",
        id="x-list",
    ),
    pytest.param(
        f32(3, 2),
        [[1.0, 2.0]],
        TypeError,
        r"y must be a torch.Tensor, numpy.ndarray or cupy.ndarray, got builtins.list",
        id="y-list",
    ),
    pytest.param(
        f32(3, 2), 1.5, TypeError, r"y must be a torch.Tensor, numpy.ndarray or cupy.ndarray", id="y-float"
    ),
    pytest.param(
        f32(4, 3),
        f32(5, 4),
        ValueError,
        r"y must have as many columns as x \(3\), got shape \(5, 4\)",
        id="d-mismatch",
    ),
    pytest.param(
        f32(4, 3),
        np.ones((5, 3), np.float16),
        TypeError,
        r"y must have the same dtype as x \(float32\), got float16",
        id="y-dtype-differs",
    ),
    pytest.param(
        t32(4, 3),
        torch.ones(5, 3, dtype=torch.bfloat16),
        TypeError,
        r"y must have the same dtype as x \(float32\), got bfloat16",
        id="torch-y-dtype-differs",
    ),
    pytest.param(
        t32(4, 3), f32(5, 3), TypeError, r"y must be a torch array like x, got numpy", id="torch-x-numpy-y"
    ),
    pytest.param(
        f32(4, 3), t32(5, 3), TypeError, r"y must be a numpy array like x, got torch", id="numpy-x-torch-y"
    ),
    pytest.param(
        f32(3, 0),
        f32(4, 0),
        ValueError,
        r"x must have at least one feature column, got shape \(3, 0\)",
        id="zero-columns",
    ),
    pytest.param(
        t32(3, 0),
        t32(4, 0),
        ValueError,
        r"x must have at least one feature column, got shape \(3, 0\)",
        id="torch-zero-columns",
    ),
    pytest.param(
        _nan_at(f32(4, 3), (1, 2)),
        f32(5, 3),
        ValueError,
        finite("x", 1),
        id="x-nan",
    ),
    pytest.param(
        f32(4, 3),
        _nan_at(f32(5, 3), (4, 0), np.inf),
        ValueError,
        finite("y", 4),
        id="y-inf",
    ),
    pytest.param(
        f32(4, 3),
        _nan_at(_nan_at(f32(5, 3), (2, 1), -np.inf), (3, 1)),
        ValueError,
        finite("y", 2),
        id="y-neg-inf-and-nan",
    ),
    pytest.param(
        _nan_at(np.ones((4, 3), np.float16), (0, 0)),
        np.ones((5, 3), np.float16),
        ValueError,
        finite("x", 0),
        id="x-nan-float16",
    ),
    pytest.param(
        _nan_at(torch.ones(4, 3, dtype=torch.bfloat16), (3, 2)),
        torch.ones(5, 3, dtype=torch.bfloat16),
        ValueError,
        finite("x", 3),
        id="x-nan-bfloat16",
    ),
    pytest.param(
        _nan_at(t32(4, 3), (2, 1), np.inf),
        t32(5, 3),
        ValueError,
        finite("x", 2),
        id="torch-x-inf",
    ),
    pytest.param(
        # NaN hidden outside a non-contiguous view must not count; inside it must.
        _nan_at(f32(4, 6), (1, 2))[:, ::2],
        f32(5, 3),
        ValueError,
        finite("x", 1),
        id="x-nan-in-strided-view",
    ),
]


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("x, y, error, message", BAD_INPUTS)
def test_bad_input(op, x, y, error, message):
    with pytest.raises(error, match=message):
        op(x, y)


@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta state")
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("layout", ["to_sparse", "to_sparse_csr"])
def test_sparse_torch_tensors(op, layout):
    """A sparse tensor is not a feature matrix: a TypeError naming it (it used to be a
    RuntimeError about memory formats from torch)."""
    sparse = getattr(t32(3, 4), layout)()
    with pytest.raises(TypeError, match=r"x must be a dense \(strided\) torch\.Tensor, got layout torch\.sparse_"):
        op(sparse, t32(5, 4))


@pytest.mark.parametrize("op", OPS)
def test_nan_outside_view_is_ignored(op):
    """A NaN in the parent array but outside the (non-contiguous) view is not an error."""
    parent = _nan_at(f32(4, 6), (1, 1))
    op(parent[:, ::2], f32(5, 3))


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("metric", ["manhattan", "Euclidean", "", "cos"])
def test_unknown_metric(op, metric):
    with pytest.raises(
        ValueError,
        match=r"metric must be one of euclidean, sqeuclidean, cosine, inner; got " + re.escape(repr(metric)),
    ):
        op(f32(3, 2), f32(4, 2), metric=metric)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("metric", [None, 3, ["cosine"]])
def test_metric_not_a_string(op, metric):
    with pytest.raises(TypeError, match=r"metric must be a string, one of euclidean, .*; got "
                                        + type(metric).__name__):
        op(f32(3, 2), f32(4, 2), metric=metric)


@pytest.mark.parametrize("k", [0, -1, 6, 100])
def test_k_out_of_range(k):
    with pytest.raises(
        ValueError, match=rf"k must be between 1 and the number of rows of y \(m = 5\), got {k}"
    ):
        reid_fast.knn(f32(3, 2), f32(5, 2), k)


@pytest.mark.parametrize("n", [0, 3])
def test_k_with_empty_gallery(n):
    """knn needs m >= 1: with an empty gallery no k is valid (even with no queries)."""
    with pytest.raises(ValueError, match=r"k must be between 1 and the number of rows of y \(m = 0\), got 1"):
        reid_fast.knn(f32(n, 2), f32(0, 2), 1)


@pytest.mark.parametrize(
    "k, shown",
    [(2.0, r"float 2\.0"), ("3", r"str '3'"), (None, r"NoneType None"), (np.float32(2), r"float32")],
)
def test_k_not_an_integer(k, shown):
    with pytest.raises(TypeError, match=rf"k must be an integer, got {shown}"):
        reid_fast.knn(f32(3, 2), f32(5, 2), k)


def test_k_checked_with_empty_queries():
    """k is validated even when there are no queries."""
    with pytest.raises(ValueError, match=r"k must be between 1 and the number of rows of y \(m = 5\), got 6"):
        reid_fast.knn(f32(0, 2), f32(5, 2), 6)


@pytest.mark.parametrize("op", OPS)
def test_cuda_array_with_cpu_only_build(op):
    """CUDA tensors given to a build without CUDA: RuntimeError, not a crash."""
    if reid_fast.build_info()["cuda"]:
        pytest.skip("reid_fast was built with CUDA")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device (to make a CUDA tensor)")
    x = torch.ones(3, 2, device="cuda")
    y = torch.ones(4, 2, device="cuda")
    with pytest.raises(RuntimeError, match=r"built without CUDA"):
        op(x, y)


@pytest.mark.parametrize("op", OPS)
def test_device_mismatch(op):
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    with pytest.raises(ValueError, match=r"y must be on the same device as x \(cpu\), got cuda:0"):
        op(t32(3, 2), torch.ones(4, 2, device="cuda:0"))


@pytest.mark.cuda
@pytest.mark.cupy
@pytest.mark.parametrize("op", OPS)
def test_cupy_x_torch_y(op):
    import cupy

    with pytest.raises(TypeError, match=r"y must be a cupy array like x, got torch"):
        op(cupy.ones((3, 2), dtype=cupy.float32), torch.ones(4, 2, device="cuda"))


@pytest.mark.cuda
@pytest.mark.parametrize("op", OPS)
def test_cuda_nan(op):
    x = torch.ones(3, 2, device="cuda")
    x[2, 1] = float("nan")
    with pytest.raises(ValueError, match=finite("x", 2)):
        op(x, torch.ones(4, 2, device="cuda"))


@pytest.mark.parametrize("framework", ["numpy", "torch"])
@pytest.mark.parametrize(
    "op, x, y, name, row",
    [
        pytest.param(_knn, f32(0, 3), _nan_at(f32(5, 3), (3, 1)), "y", 3, id="knn-no-queries-nan-in-y"),
        pytest.param(
            _pairwise, f32(0, 3), _nan_at(f32(5, 3), (3, 1)), "y", 3, id="pairwise-no-queries-nan-in-y"
        ),
        pytest.param(
            _pairwise, _nan_at(f32(4, 3), (2, 0)), f32(0, 3), "x", 2, id="pairwise-empty-gallery-nan-in-x"
        ),
    ],
)
def test_nan_rejected_when_the_other_side_is_empty(op, x, y, name, row, framework):
    """NaN/Inf inputs are rejected whatever the other input's size: the check must not be
    skipped with the computation when there is nothing to compute."""
    if framework == "torch":
        x, y = torch.from_numpy(x), torch.from_numpy(y)
    with pytest.raises(ValueError, match=finite(name, row)):
        op(x, y)
