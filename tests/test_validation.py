"""reid_fast.validation: wrong type -> TypeError, wrong value -> ValueError, the message
names the argument and shows the value; values come back converted."""

from __future__ import annotations

import math

import numpy as np
import pytest

from reid_fast import validation as v


def test_integer():
    assert v.integer("k", 3) == 3 and type(v.integer("k", np.int64(3))) is int
    assert v.integer("k", 0, 0, 5) == 0 and v.integer("k", 5, 0, 5) == 5
    for bad in (True, 2.0, "3", None):
        with pytest.raises(TypeError, match=rf"k must be an integer, got {type(bad).__name__} "):
            v.integer("k", bad)
    with pytest.raises(ValueError, match="k must be >= 1, got 0"):
        v.integer("k", 0, 1)
    with pytest.raises(ValueError, match="k must be <= 4, got 5"):
        v.integer("k", 5, high=4)
    with pytest.raises(ValueError, match="k must be between 0 and 4, got 5"):
        v.integer("k", 5, 0, 4)
    with pytest.raises(ValueError, match=r"k must be between 0 and the number of rows \(4\), got -1"):
        v.integer("k", -1, 0, 4, high_name="the number of rows")


def test_real():
    assert v.real("a", 2) == 2.0 and type(v.real("a", np.float32(0.5))) is float
    assert v.real("a", math.inf, finite=False) == math.inf
    for bad in (True, "1", None, [1.0]):
        with pytest.raises(TypeError, match="a must be a real number, got"):
            v.real("a", bad)
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(ValueError, match=f"a must be finite, got {bad!r}"):
            v.real("a", bad)
    with pytest.raises(ValueError, match="a must be finite, got nan"):
        v.real("a", math.nan, finite=False)
    with pytest.raises(ValueError, match=r"a must be in \[0, 1\], got 1.5"):
        v.real("a", 1.5, 0.0, 1.0)
    with pytest.raises(ValueError, match="a must be >= 0, got -0.25"):
        v.real("a", -0.25, 0.0)
    with pytest.raises(ValueError, match="a must be <= 2, got 3"):
        v.real("a", 3, high=2.0)
    with pytest.raises(ValueError, match="a must be > 0, got 0.0"):
        v.real("a", 0.0, positive=True)
    assert v.probability("p", 1) == 1.0
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\], got -0.1"):
        v.probability("p", -0.1)


def test_zero_dimensional_arrays_are_their_number():
    """A 0-d NumPy array or torch tensor is checked, converted and shown as the number it
    holds (the message used to show ``tensor(0.5000)`` and refuse it)."""
    torch = pytest.importorskip("torch")
    assert v.integer("k1", torch.tensor(20)) == 20 and type(v.integer("k1", np.array(3))) is int
    assert v.real("lambda_", torch.tensor(0.25)) == 0.25 and type(v.real("a", np.array(2.0))) is float
    with pytest.raises(ValueError, match=r"lambda_ must be in \[0, 1\], got 1.5$"):
        v.probability("lambda_", torch.tensor(1.5))
    with pytest.raises(TypeError, match=r"k1 must be an integer, got float 2.0$"):
        v.integer("k1", torch.tensor(2.0))
    with pytest.raises(TypeError, match=r"k1 must be an integer, got bool True$"):
        v.integer("k1", np.array(True))
    with pytest.raises(TypeError, match=r"k1 must be an integer, got Tensor tensor\(\[2\]\)"):
        v.integer("k1", torch.tensor([2]))


def test_sequences():
    assert v.size_hw("size", (3, np.int64(4))) == (3, 4) and v.size_hw("size", [1, 1]) == (1, 1)
    for bad, error in (((0, 4), ValueError), ((4,), ValueError), ((1, 2, 3), ValueError),
                       ((2.0, 4), TypeError), ((True, 4), TypeError), ("ab", TypeError),
                       (5, TypeError)):
        with pytest.raises(error, match="size must be a pair"):
            v.size_hw("size", bad)
    assert v.interval("r", (0.5, 2)) == (0.5, 2.0)
    with pytest.raises(ValueError, match=r"r must be a pair \(a, b\) with 0 <= a <= b <= 1, got \(0.9, 0.5\)"):
        v.interval("r", (0.9, 0.5), 0.0, 1.0)
    with pytest.raises(TypeError, match=r"r\[1\] must be a real number"):
        v.interval("r", (0.1, "x"))
    with pytest.raises(ValueError, match="r must have 2 values, got 3"):
        v.interval("r", (1, 2, 3))
    with pytest.raises(TypeError, match="r must be a sequence of 2 values"):
        v.interval("r", 0.5)
    assert v.integer_range("c", (2, 3), 1) == (2, 3)
    with pytest.raises(ValueError, match=r"c must have c\[0\] <= c\[1\], got \(3, 2\)"):
        v.integer_range("c", (3, 2), 1)
    with pytest.raises(ValueError, match=r"c\[0\] must be >= 1, got 0"):
        v.integer_range("c", (0, 2), 1)
    assert v.reals("mean", (0.1, 0.2, 0.3), 3) == (0.1, 0.2, 0.3)
    with pytest.raises(ValueError, match=r"std\[1\] must be > 0, got 0"):
        v.reals("std", (1, 0, 1), 3, positive=True)


def test_one_of():
    assert v.one_of("metric", "cosine", ("cosine", "l2")) == "cosine"
    with pytest.raises(ValueError, match="metric must be one of 'cosine', 'l2', got 'l1'"):
        v.one_of("metric", "l1", ("cosine", "l2"))
    with pytest.raises(TypeError, match="metric must be a string, got int 3"):
        v.one_of("metric", 3, ("cosine",))
