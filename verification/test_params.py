"""golden.params, the one home for parameter checks: a wrong type is a TypeError (that is also a
ValueError, as DESIGN §4 promises), a wrong value a ValueError, each naming the parameter."""

import pytest

import golden
import hdl
from golden.params import ParameterTypeError, check_choice, check_int


def test_check_int():
    assert check_int("n", 8, 1, 16, power_of_two=True, divides=32) == 8
    for bad, kind in (("8", ParameterTypeError), (True, ParameterTypeError), (8.0, ParameterTypeError),
                      (0, ValueError), (12, ValueError), (64, ValueError)):
        with pytest.raises(kind, match=r"^n="):
            check_int("n", bad, 1, 32, power_of_two=True)
    with pytest.raises(ValueError, match="a multiple of 32"):
        check_int("max_k", 48, 32, multiple_of=32)


def test_check_choice():
    assert check_choice("mode", "a", ("a", "b")) == "a"
    with pytest.raises(ParameterTypeError, match="must be a string"):
        check_choice("mode", 1, ("a", "b"))
    with pytest.raises(ValueError, match="not one of a, b"):
        check_choice("mode", "c", ("a", "b"))


@pytest.mark.parametrize("build, name", [
    (lambda v: hdl.Decoder("e2m1", lanes=v), "lanes"), (lambda v: hdl.Multiplier("e2m1", stages=v), "stages"),
    (lambda v: hdl.MAC("e2m1", lanes=v), "lanes"), (lambda v: hdl.DotEngine("mxfp4", lanes=v), "lanes"),
    (lambda v: hdl.GEMV("mxfp4", 8, max_k=v), "max_k"), (lambda v: hdl.Quantizer("mxfp4", sr_bits=v), "sr_bits"),
    (lambda v: hdl.IntDotEngine("int4", lanes=v), "lanes"), (lambda v: hdl.PackedLoader(32, count_bits=v), "count_bits"),
])
def test_units_raise_type_errors_for_wrong_types_and_value_errors_for_wrong_values(build, name):
    with pytest.raises(TypeError, match=f"^{name}="):
        build("8")
    with pytest.raises(ValueError, match=f"^{name}="):
        build(-1)


@pytest.mark.parametrize("build, name", [
    (lambda v: golden.MiniFloat(2, 1, signed=v), "signed"),
    (lambda v: hdl.PackedLoader(32, compressed=v), "compressed"),
])
@pytest.mark.parametrize("value", ["no", 2, 0, None, 1.0])
def test_a_flag_takes_a_bool(build, name, value):
    """issue 33: ``compressed="no"`` built a compressing loader and ``signed=2`` a 5-bit format
    (Python's truth rules); a flag now takes True or False and names itself otherwise."""
    with pytest.raises(TypeError, match=name):
        build(value)
    with pytest.raises(ValueError, match=name):
        build(value)
    build(True)
    build(False)
