"""The one home of argument checks for scalars and small sequences.

The rule everywhere in reid_fast: a value of the wrong type raises ``TypeError``, a value
of the right type outside its domain raises ``ValueError``, and the message names the
argument and shows the value: ``"k1 must be an integer, got str '3'"``, ``"p must be in
[0, 1], got 1.5"``. Functions return the value converted (``int``, ``float``, tuples), so
callers validate and normalise in one step. Array checks specific to an op family live
with it (``ops/_arrays.py`` for the native ops); they follow the same rule.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Sequence


INT64_MAX = 2**63 - 1
"""The largest size or count the native core takes (an int64)."""


def _type_name(value: Any) -> str:
    return type(value).__name__


def _scalar(value: Any) -> Any:
    """A 0-d NumPy, torch or CuPy array (``numpy.array(3)``, ``torch.tensor(0.5)``) as the
    Python number it holds, so that checks and messages see the number; anything else as
    it is."""
    module = type(value).__module__.split(".")[0]
    if (module in ("numpy", "torch", "cupy") and getattr(value, "ndim", None) == 0
            and not isinstance(value, numbers.Number)):  # NumPy scalars are numbers already
        return value.item()
    return value


def integer(name: str, value: Any, low: int | None = None, high: int | None = None, *,
            high_name: str = "") -> int:
    """``value`` as an ``int`` in [low, high] (either bound may be None; ``high_name``
    says what the upper bound is, e.g. "the number of gallery rows").

    bool is not an integer here; NumPy integers and 0-d integer arrays are."""
    value = _scalar(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {_type_name(value)} {value!r}")
    value = int(value)
    bound = f"{high_name} ({high})" if high_name else f"{high}"
    if low is not None and high is not None and not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {bound}, got {value}")
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {bound}, got {value}")
    return value


def real(name: str, value: Any, low: float | None = None, high: float | None = None, *,
         positive: bool = False, finite: bool = True) -> float:
    """``value`` as a ``float`` in [low, high], > 0 with ``positive``, finite unless
    ``finite=False``. bool is not a number here; 0-d arrays are their number."""
    value = _scalar(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {_type_name(value)} {value!r}")
    number = float(value)
    if math.isnan(number) or (finite and math.isinf(number)):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if low is not None and high is not None and not low <= number <= high:
        raise ValueError(f"{name} must be in [{low:g}, {high:g}], got {value!r}")
    if low is not None and number < low:
        raise ValueError(f"{name} must be >= {low:g}, got {value!r}")
    if high is not None and number > high:
        raise ValueError(f"{name} must be <= {high:g}, got {value!r}")
    if positive and number <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return number


def probability(name: str, value: Any) -> float:
    """A real number in [0, 1]."""
    return real(name, value, 0.0, 1.0)


def sequence(name: str, value: Any, length: int) -> Sequence[Any]:
    """``value`` as a sequence of exactly ``length`` items (a str is not one)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(f"{name} must be a sequence of {length} values, got "
                        f"{_type_name(value)} {value!r}")
    if len(value) != length:
        raise ValueError(f"{name} must have {length} values, got {len(value)}: {value!r}")
    return value


def size_hw(name: str, value: Any) -> tuple[int, int]:
    """A pair (H, W) of integers >= 1."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(f"{name} must be a pair (H, W) of integers, got {_type_name(value)} "
                        f"{value!r}")
    if any(isinstance(v, bool) or not isinstance(v, numbers.Integral) for v in value):
        raise TypeError(f"{name} must be a pair (H, W) of integers, got {value!r}")
    if len(value) != 2 or min(value) < 1:
        raise ValueError(f"{name} must be a pair (H, W) of integers >= 1, got {tuple(value)!r}")
    return int(value[0]), int(value[1])


def interval(name: str, value: Any, low: float = -math.inf, high: float = math.inf
             ) -> tuple[float, float]:
    """A pair (a, b) of finite numbers with low <= a <= b <= high."""
    a, b = (real(f"{name}[{i}]", v) for i, v in enumerate(sequence(name, value, 2)))
    if not low <= a <= b <= high:
        raise ValueError(f"{name} must be a pair (a, b) with {low:g} <= a <= b <= {high:g}, "
                         f"got {tuple(value)!r}")
    return a, b


def integer_range(name: str, value: Any, low: int) -> tuple[int, int]:
    """An inclusive pair (a, b) of integers with low <= a <= b."""
    a, b = (integer(f"{name}[{i}]", v, low) for i, v in enumerate(sequence(name, value, 2)))
    if a > b:
        raise ValueError(f"{name} must have {name}[0] <= {name}[1], got {tuple(value)!r}")
    return a, b


def reals(name: str, value: Any, length: int, *, positive: bool = False) -> tuple[float, ...]:
    """``length`` finite numbers (e.g. one per RGB channel), each > 0 with ``positive``."""
    return tuple(real(f"{name}[{i}]", v, positive=positive)
                 for i, v in enumerate(sequence(name, value, length)))


def one_of(name: str, value: Any, options: Sequence[str]) -> str:
    """A string among ``options``."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {_type_name(value)} {value!r}")
    if value not in options:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, options))}, got {value!r}")
    return value
