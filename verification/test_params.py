"""golden.params, the one home for parameter checks: a wrong type is a TypeError (that is also a
ValueError, as DESIGN §4 promises), a wrong value a ValueError, each naming the parameter."""

import numpy as np
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


# --- hypothesis: every unit's constructor over random parameter types and values -----------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_VALUES = (st.none() | st.booleans() | st.integers(-3, 70) | st.integers(-2 ** 40, 2 ** 40)
           | st.floats(allow_nan=True) | st.text(max_size=6)
           | st.sampled_from(["e2m1", "e4m3", "e5m2", "mxfp4", "nvfp4", "mxfp8_e4m3", "int4", "int8", "fp16", "bf16",
                              "fp32", "fixed", "rne", "rtz", "stochastic", "linear", "diagonal", "e8m0", "ue4m3",
                              "fast", "unpipelined", "block", "value", "floor", "rceil"])
           | st.lists(st.integers(0, 4), max_size=2))
_UNITS = {
    hdl.Decoder: ("fmt", "out", "lanes", "stages"),
    hdl.Multiplier: ("fmt", "out", "lanes", "stages"),
    hdl.MAC: ("fmt", "acc", "rounding", "lanes", "stages"),
    hdl.ScaleApply: ("fmt", "mode", "input", "stages"),
    hdl.Quantizer: ("fmt", "input", "lanes", "scale_mode", "rounding", "sr_bits", "seed"),
    hdl.DotEngine: ("fmt", "lanes", "activations", "preset", "partials", "mul_stages", "tree_every", "scale_stages",
                    "add_stages", "load_stages"),
    hdl.GEMV: ("fmt", "lanes", "max_k", "activations", "preset"),
    hdl.IntMultiplier: ("fmt", "lanes", "stages"),
    hdl.IntDotEngine: ("fmt", "lanes"),
    hdl.PackedLoader: ("word_bits", "layout", "compressed", "scales", "block", "decode", "fmt", "stages"),
}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fuzzed_unit_parameters_build_or_raise_a_value_error(data):
    """Issue 33: random types and values for every constructor parameter of every unit: the unit
    builds, or raises a ValueError (TypeError for a wrong type: ParameterTypeError is both) whose
    message names a parameter; never another exception (a numpy or Amaranth internal)."""
    cls = data.draw(st.sampled_from(sorted(_UNITS, key=lambda c: c.__name__)))
    names = _UNITS[cls]
    kwargs = data.draw(st.dictionaries(st.sampled_from(names), _VALUES, max_size=3))
    if cls is hdl.PackedLoader and "word_bits" not in kwargs:
        kwargs["word_bits"] = 32
    try:
        unit = cls(**kwargs)
    except ValueError as error:                         # ParameterTypeError is a ValueError too
        text = str(error)
        named = [name for name in names if f"{name}=" in text or f"{name}:" in text or f"{name} " in text]
        assert "\n" not in text and named, text
        return
    unit._MustUse__silence = True                       # built, not elaborated: no warning


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fuzzed_golden_parameters_compute_or_raise_a_value_error(data):
    """Issue 33: the golden model's public calls over random parameter types and values:
    MiniFloat, mx.quantize (format, axis, scale mode, rounding, sr_bits, rbits, tensor scale),
    mx.dot's partials, arith.mul's product form, encode's options. A result, or a one-line
    ValueError (TypeError for a wrong type); never numpy's or Python's own exceptions."""
    from golden import arith, mx
    call = data.draw(st.sampled_from(["minifloat", "quantize", "dot", "mul", "encode"]))
    kwargs = {}
    try:
        if call == "minifloat":
            args = [data.draw(_VALUES) for _ in range(3)]
            kwargs = data.draw(st.dictionaries(st.sampled_from(["specials", "signed", "name"]), _VALUES, max_size=2))
            golden.MiniFloat(*args, **kwargs)
        elif call == "quantize":
            x = np.linspace(-4, 4, 64).reshape(2, 32)
            fmt = data.draw(st.sampled_from(["mxfp4", "nvfp4", "mxfp8_e4m3"]) | _VALUES)
            kwargs = data.draw(st.dictionaries(st.sampled_from(["axis", "scale_mode", "rounding", "sr_bits", "rbits",
                                                                "tensor_scale"]), _VALUES, max_size=3))
            mx.quantize(x, fmt, **kwargs)
        elif call == "dot":
            q = mx.quantize(np.ones((1, 64)), "mxfp4")
            mx.dot(q, q, partials=data.draw(_VALUES))
        elif call == "mul":
            mul_args = [data.draw(st.integers(0, 15) | _VALUES), data.draw(st.integers(0, 15) | _VALUES)]
            mul_args.append(data.draw(st.sampled_from(["e2m1", "e4m3"]) | _VALUES))
            arith.mul(*mul_args, out=data.draw(st.sampled_from(["fixed", "fp16"]) | _VALUES))
        else:
            kwargs = data.draw(st.dictionaries(st.sampled_from(["rounding", "saturate", "nan", "rbits", "sr_bits"]),
                                               _VALUES, max_size=3))
            golden.E2M1.encode(np.array([0.3, -7.0, 1e9]), **kwargs)
    except ValueError as error:                           # ParameterTypeError is a ValueError too
        assert "\n" not in str(error) and str(error), (call, kwargs, str(error))
