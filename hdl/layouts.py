"""Data layouts shared by the units: the bit fields of a float and lane arrays.

Every port that carries a float is a :class:`amaranth.lib.data.StructLayout` with ``mantissa``,
``exponent`` and ``sign`` (LSB first, so its bits are the format's ordinary bit pattern), and a
multi-lane port is an ``ArrayLayout`` of lanes, lane *i* at bits ``[i*w, (i+1)*w)``.
"""

from amaranth.hdl import unsigned
from amaranth.lib import data


def float_layout(fmt) -> data.StructLayout:
    """The bit fields of ``fmt`` (any golden FloatFormat); unsigned formats have no ``sign``."""
    fields = {"mantissa": unsigned(fmt.mbits), "exponent": unsigned(fmt.ebits)}
    if fmt.signed:
        fields["sign"] = unsigned(1)
    return data.StructLayout(fields)


def lanes_of(shape, lanes: int) -> data.ArrayLayout:
    """``lanes`` copies of ``shape``, lane 0 in the low bits."""
    return data.ArrayLayout(shape, lanes)
