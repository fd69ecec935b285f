"""The one home for parameter checks of golden functions and hdl components.

A wrong *type* raises :class:`ParameterTypeError`, a ``TypeError`` that is also a ``ValueError``
(DESIGN §4 promises a ValueError for every bad parameter; Amaranth's convention is TypeError for
a wrong type: both hold). A wrong *value* raises ``ValueError``. Every message starts with
``name=value`` and says what is allowed.
"""

from __future__ import annotations


class ParameterTypeError(TypeError, ValueError):
    """A parameter of the wrong type (a str where an int belongs, a bool for a count, ...)."""


def is_int(value) -> bool:
    """An int that is not a bool (JSON and numpy hand out both)."""
    return isinstance(value, int) and not isinstance(value, bool)


def check_int(name: str, value, low: int | None = None, high: int | None = None, *,
              power_of_two: bool = False, multiple_of: int | None = None, divides: int | None = None) -> int:
    """``value`` if it is an int (not a bool) in ``[low, high]``, a power of two, a multiple of
    ``multiple_of`` and a divisor of ``divides`` as asked."""
    if not is_int(value):
        raise ParameterTypeError(f"{name}={value!r} must be an integer, not {type(value).__name__}")
    rules = []
    if low is not None and high is not None:
        rules.append(f"from {low} to {high}")
    elif low is not None:
        rules.append(f"at least {low}")
    elif high is not None:
        rules.append(f"at most {high}")
    if power_of_two:
        rules.append("a power of two")
    if multiple_of:
        rules.append(f"a multiple of {multiple_of}")
    if divides:
        rules.append(f"a divisor of {divides}")
    bad = ((low is not None and value < low) or (high is not None and value > high)
           or (power_of_two and (value < 1 or value & (value - 1)))
           or (multiple_of and value % multiple_of) or (divides and (value < 1 or divides % value)))
    if bad:
        raise ValueError(f"{name}={value!r} must be {', '.join(rules)}")
    return value


def check_bool(name: str, value) -> bool:
    """``value`` if it is a bool (numpy's too): a flag takes True or False, not ``"no"`` or 2,
    which Python's truth rules would silently read as True."""
    if not isinstance(value, (bool, __import__("numpy").bool_)):
        raise ParameterTypeError(f"{name}={value!r} must be True or False, not {type(value).__name__}")
    return bool(value)


def check_choice(name: str, value, choices) -> str:
    """``value`` if it is one of the strings ``choices``."""
    if not isinstance(value, str):
        raise ParameterTypeError(f"{name}={value!r} must be a string, one of {', '.join(choices)}")
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not one of {', '.join(choices)}")
    return value
