"""Binary floating-point formats, bit for bit (DESIGN §3.1–3.3).

A :class:`FloatFormat` is sign + ``ebits`` exponent + ``mbits`` mantissa with a bias. Exponent
field 0 is subnormal, ``(-1)^s * 0.m * 2^(1-bias)``; otherwise ``(-1)^s * 1.m * 2^(e-bias)``.
What the top codes mean is set by ``specials``:

- ``"none"``: every code is finite (E2M1, E1M2, E3M0);
- ``"fn"``: only S.11..1.11..1 is NaN, no infinities (OCP E4M3);
- ``"ieee"``: exponent all ones is Inf (mantissa 0) or NaN (IEEE 754: E5M2, FP16, BF16, FP32).

:class:`MiniFloat` is the public, validated form for element formats of at most 8 bits.
FP16 / BF16 / FP32 are FloatFormats too, so one encoder and one decoder serve every conversion
in the golden model. Encoding works on the float64 bit pattern of the input: exponent from the
bits, scale into target quanta by an exact power of two, round once (golden.rounding), then the
code is ``(exponent - emin) << mbits`` plus the rounded significand, which carries a mantissa
overflow into the exponent for free.

E8M0 (the MX block scale) is a pure power of two with no zero and no subnormals, so it is its
own small class, :class:`E8M0Format`.
"""

from __future__ import annotations

import numpy as np

from .params import check_bool

from .rounding import ROUNDINGS, check_rounding, random_bits, round_quanta

_SPECIALS = ("none", "fn", "ieee")
_NAN_MODES = ("raise", "zero")


def _first_index(mask: np.ndarray) -> tuple:
    """The index of the first True of ``mask`` (() for a 0-d mask: numpy refuses nonzero there)."""
    return tuple(int(i[0]) for i in np.nonzero(mask)) if np.ndim(mask) else ()


class FloatFormat:
    """A binary floating-point format of up to 32 bits (see the module docstring).

    Attributes: ``ebits``, ``mbits``, ``bias``, ``specials``, ``signed``, ``name``, ``bits``,
    ``emin`` (exponent of the smallest normal), ``max`` and ``min_subnormal`` (the smallest
    positive value), ``max_code`` (magnitude code of ``max``).
    """

    def __init__(self, ebits: int, mbits: int, bias: int, *, specials: str = "none",
                 signed: bool = True, name: str | None = None):
        self.ebits = ebits
        self.mbits = mbits
        self.bias = bias
        self.specials = specials
        self.signed = signed
        self.bits = int(signed) + ebits + mbits
        self.name = name or f"E{ebits}M{mbits}"
        self.emin = 1 - bias
        magnitudes = 1 << (ebits + mbits)
        if specials == "none":
            self.max_code = magnitudes - 1
        elif specials == "fn":
            self.max_code = magnitudes - 2
        else:
            self.max_code = magnitudes - (1 << mbits) - 1
        if self.max_code < 1:
            raise ValueError(f"{self.name} with specials={specials!r} has no positive finite value")
        self.max = float(self._magnitude_value(np.array([self.max_code]))[0])
        self.min_subnormal = float(self._magnitude_value(np.array([1]))[0])

    # --- codes --------------------------------------------------------------------------------
    @property
    def has_inf(self) -> bool:
        return self.specials == "ieee"

    @property
    def has_nan(self) -> bool:
        return self.specials != "none"

    @property
    def nan_code(self) -> int | None:
        """The canonical (positive, quiet) NaN code, or None."""
        if self.specials == "fn":
            return (1 << (self.ebits + self.mbits)) - 1
        if self.specials == "ieee":
            return (((1 << self.ebits) - 1) << self.mbits) | (1 << max(self.mbits - 1, 0))
        return None

    @property
    def inf_code(self) -> int | None:
        return ((1 << self.ebits) - 1) << self.mbits if self.has_inf else None

    def _check_codes(self, codes) -> np.ndarray:
        c = np.asarray(codes)
        if c.dtype.kind not in "iu":
            raise ValueError(f"{self.name} codes must be integers, got dtype {c.dtype}")
        bad = (c < 0) | (c >= (1 << self.bits))
        if bad.any():
            if c.ndim == 0:               # a scalar: numpy's 0-d indexing error leaked (issue 33)
                raise ValueError(f"{self.name} code {int(c)} is outside [0, {1 << self.bits})")
            raise ValueError(f"{int(bad.sum())} {self.name} codes are outside [0, {1 << self.bits}); "
                             f"first at index {_first_index(bad)}: {int(c[bad].flat[0])}")
        return c.astype(np.int64)

    def _magnitude_value(self, mag: np.ndarray) -> np.ndarray:
        """float64 value of magnitude codes, ignoring specials."""
        exp_field = mag >> self.mbits
        mantissa = (mag & ((1 << self.mbits) - 1)).astype(np.float64)
        significand = np.where(exp_field == 0, mantissa, mantissa + (1 << self.mbits))
        exponent = np.maximum(exp_field, 1) - self.bias - self.mbits
        return np.ldexp(significand, exponent.astype(np.int64))

    def decode64(self, codes) -> np.ndarray:
        """Exact float64 value of each code (NaN for NaN codes, ±Inf for infinities)."""
        c = self._check_codes(codes)
        mag_bits = self.ebits + self.mbits
        mag = c & ((1 << mag_bits) - 1)
        value = self._magnitude_value(mag)
        if self.specials == "fn":
            value = np.where(mag == (1 << mag_bits) - 1, np.nan, value)
        elif self.specials == "ieee":
            top = (mag >> self.mbits) == (1 << self.ebits) - 1
            value = np.where(top, np.where((mag & ((1 << self.mbits) - 1)) == 0, np.inf, np.nan), value)
        if self.signed:
            value = np.where((c >> mag_bits) & 1 == 1, -value, value)
        return value

    def decode(self, codes) -> np.ndarray:
        """float32 value of each code (every value of a format of <= 8 bits is exact in float32)."""
        return self.decode64(codes).astype(np.float32)

    @property
    def values(self) -> np.ndarray:
        """float64 value of every code, indexed by code (NaN for NaN codes)."""
        if self.bits > 16:
            raise ValueError(f"{self.name} has 2**{self.bits} codes; values is only for formats of <= 16 bits")
        return self.decode64(np.arange(1 << self.bits))

    # --- encode -------------------------------------------------------------------------------
    def encode(self, x, rounding: str = "rne", *, saturate: bool = True, nan: str = "raise",
               rbits=None, sr_bits: int = 8) -> np.ndarray:
        """Convert real numbers to codes (DESIGN §3.2).

        ``rounding``: ``rne`` (default), ``rtz``, ``rna`` or ``stochastic`` (with ``sr_bits``
        random bits ``rbits``: an integer array broadcast to ``x``, a numpy Generator, a seed, or
        None for fresh draws). Overflow saturates to ±max unless ``saturate=False``: then Inf
        where the format has it, else its NaN, else ``ValueError`` (under ``rtz`` a finite
        overflow gives ±max, as IEEE 754 rounds toward zero). NaN inputs give the canonical
        NaN code where the format has one; otherwise ``nan="raise"`` (default) raises a
        ``ValueError`` that says how many and where, and ``nan="zero"`` gives +0. The sign of
        zero is kept. Ties under ``rne`` go to the even code. Returns uint8 codes (uint16 / uint32 for wider formats).
        """
        check_rounding(rounding)
        if nan not in _NAN_MODES:
            raise ValueError(f"nan={nan!r} is not one of {', '.join(_NAN_MODES)}")
        a = np.asarray(x)
        if a.dtype.kind not in "fiub":
            raise ValueError(f"encode takes real numbers, got dtype {a.dtype}")
        if a.dtype == np.float32 and rounding != "stochastic" and self.bits <= 8 and self.mbits <= 6:
            fast = self._encode_float32_by_table(a, rounding, saturate, nan)
            if fast is not None:
                return fast
        r = random_bits(rbits, a.shape, sr_bits) if rounding == "stochastic" else None
        return self._encode64(a.astype(np.float64), rounding, saturate, nan, r, sr_bits)

    _MARK_NAN, _MARK_OVERFLOW, _MARK_NEGATIVE = 0x100, 0x200, 0x400

    def _encode64(self, x64, rounding, saturate, nan, r, sr_bits, mark: bool = False):
        """The encoder proper. With ``mark=True``, inputs it would reject get the marks above
        instead of a ``ValueError`` (used to build the float32 tables)."""
        shape = x64.shape
        is_nan = np.isnan(x64)
        negative = np.signbit(x64) & ~is_nan
        rejected = np.zeros(shape, dtype=np.int64)
        if not self.signed:
            bad = negative & (x64 != 0)
            if bad.any():
                if not mark:
                    raise ValueError(f"{self.name} is unsigned: {int(bad.sum())} negative inputs, "
                                     f"first at index {_first_index(bad)}")
                rejected |= np.where(bad, self._MARK_NEGATIVE, 0)
            negative = np.zeros(shape, dtype=bool)
        magnitude = np.where(is_nan, 0.0, np.abs(x64))
        is_inf = np.isinf(magnitude)
        magnitude = np.where(is_inf, 0.0, magnitude)

        bits = magnitude.view(np.uint64)
        biased = ((bits >> np.uint64(52)) & np.uint64(0x7FF)).astype(np.int64)
        exponent = np.where(biased == 0, -1075, biased - 1023)     # float64 subnormals: far below
        exponent = np.maximum(exponent, self.emin)
        quantum = exponent - self.mbits
        scaled = np.ldexp(magnitude, -quantum)
        exponent_code = (exponent - self.emin) << self.mbits
        significand = round_quanta(scaled, rounding, r, sr_bits, parity_offset=exponent_code)
        code = exponent_code + significand

        if not saturate and rounding == "rtz":
            # IEEE 754 §7.4: rounding toward zero carries a finite overflow to the largest
            # finite value; only an infinite input stays infinite.
            code = np.minimum(code, self.max_code)
        overflow = (code > self.max_code) | is_inf
        if overflow.any():
            if saturate:
                code = np.where(overflow, self.max_code, code)
            elif self.has_inf:
                code = np.where(overflow, self.inf_code, code)
            elif self.has_nan:
                code = np.where(overflow, self.nan_code, code)
            elif mark:
                rejected |= np.where(overflow, self._MARK_OVERFLOW, 0)
            else:
                raise ValueError(f"{int(overflow.sum())} inputs overflow {self.name} (max {self.max}) "
                                 f"with saturate=False, first at index {_first_index(overflow)}; "
                                 f"{self.name} has no Inf or NaN to encode them")
        if self.signed:
            code = code | (negative.astype(np.int64) << (self.ebits + self.mbits))
        if is_nan.any():
            if self.has_nan:
                code = np.where(is_nan, self.nan_code, code)
            elif nan == "zero":
                code = np.where(is_nan, 0, code)
            elif mark:
                rejected |= np.where(is_nan, self._MARK_NAN, 0)
            else:
                raise ValueError(f"{int(is_nan.sum())} NaN inputs, first at index {_first_index(is_nan)}: "
                                 f"{self.name} has no NaN (pass nan='zero' to map NaN to +0)")
        if mark:
            return np.where(rejected != 0, rejected, code)
        dtype = np.uint8 if self.bits <= 8 else np.uint16 if self.bits <= 16 else np.uint32
        return code.astype(dtype)

    # --- float32 fast path ------------------------------------------------------------------
    def _float32_tables(self, rounding: str, saturate: bool, nan: str):
        """Tables of the encoder's own results indexed by the top 16 bits of a float32.

        With at most 6 mantissa bits in the target, the rounding of a float32 depends only on
        its top 16 bits (sign, exponent, 7 mantissa bits: the kept bits and the guard bit) and
        on whether any of its low 16 bits is set (the sticky bit). ``low_zero[hi]`` is the code
        for low bits all zero, ``low_set[hi]`` for low bits not all zero; they differ only at
        exact ties under rne and at Inf/NaN (0x7F80). Inputs the generic encoder rejects are
        marked (>= 0x100) so the caller re-runs it for the error message.
        """
        key = (rounding, saturate, nan)
        cache = self.__dict__.setdefault("_tables", {})
        if key not in cache:
            hi = np.arange(1 << 16, dtype=np.uint32) << np.uint32(16)
            tables = []
            for low in (0, 1):
                with np.errstate(invalid="ignore"):
                    x = (hi | np.uint32(low)).view(np.float32).astype(np.float64)
                tables.append(self._encode64(x, rounding, saturate, nan, None, 8, mark=True).astype(np.uint16))
            low_zero, low_set = tables
            marks = bool((low_zero > 0xFF).any() or (low_set > 0xFF).any())
            cache[key] = (low_zero, low_set, np.flatnonzero(low_zero != low_set).astype(np.uint16), marks)
        return cache[key]

    def _encode_float32_by_table(self, a: np.ndarray, rounding, saturate, nan):
        low_zero, low_set, ambiguous_hi, marks = self._float32_tables(rounding, saturate, nan)
        halves = np.ascontiguousarray(a).reshape(-1).view(np.uint16)
        low, hi = halves[0::2], halves[1::2]          # little-endian float32: low half first
        code = low_zero[hi]
        if ambiguous_hi.size:
            ambiguous = np.isin(hi, ambiguous_hi) if ambiguous_hi.size > 8 else \
                np.logical_or.reduce([hi == h for h in ambiguous_hi])
            where = np.flatnonzero(ambiguous)
            if where.size:
                sticky = low[where] != 0
                code[where[sticky]] = low_set[hi[where[sticky]]]
        if marks and code.size and code.max() > 0xFF:
            return None                               # let the generic path raise its message
        return code.astype(np.uint8).reshape(a.shape)

    # --- exact widening -----------------------------------------------------------------------
    def to_ieee(self, codes, out: str = "fp16") -> np.ndarray:
        """Exact FP16 / BF16 / FP32 bit patterns of ``codes`` (NaN → canonical quiet NaN).

        Raises ``ValueError`` if some value of this format is not exactly representable in
        ``out``.
        """
        target = ieee_format(out)
        value = self.decode64(codes)
        result = target.encode(value, saturate=False)
        back = target.decode64(result)
        inexact = ~((back == value) | (np.isnan(back) & np.isnan(value)))
        if inexact.any():
            raise ValueError(f"{self.name} value {value[inexact].flat[0]!r} is not exactly representable in {out}")
        return result

    def exact_in(self, out: str) -> bool:
        """True if every value of this format is exactly representable in ``out``."""
        try:
            self.to_ieee(np.arange(1 << self.bits), out)
        except ValueError:
            return False
        return True

    def __repr__(self):
        return f"{type(self).__name__}({self.name})"


class MiniFloat(FloatFormat):
    """An element format of at most 8 bits: ``MiniFloat(ebits, mbits, bias=None, *, specials,
    signed, name)``.

    ``bias`` defaults to ``2**(ebits-1) - 1``. Requirements (each violation raises a
    ``ValueError`` naming the parameter): ``ebits >= 1``, ``mbits >= 0``, total bits <= 8,
    ``specials`` in {none, fn, ieee} leaving at least one positive finite value, and a ``bias``
    whose values neither underflow nor overflow float64 (the model computes in float64).
    """

    def __init__(self, ebits: int, mbits: int, bias: int | None = None, *, specials: str = "none",
                 signed: bool = True, name: str | None = None):
        for pname, pvalue in (("ebits", ebits), ("mbits", mbits)):
            if not isinstance(pvalue, (int, np.integer)) or isinstance(pvalue, bool):
                raise ValueError(f"{pname}={pvalue!r} must be an integer")
        signed = check_bool("signed", signed)
        if ebits < 1:
            raise ValueError(f"ebits={ebits} must be >= 1 (a float needs an exponent)")
        if mbits < 0:
            raise ValueError(f"mbits={mbits} must be >= 0")
        total = int(signed) + ebits + mbits
        if total > 8:
            raise ValueError(f"ebits={ebits}, mbits={mbits}{' plus sign' if signed else ''} is {total} bits; "
                             "a MiniFloat has at most 8")
        if bias is None:
            bias = (1 << (ebits - 1)) - 1
        if not isinstance(bias, (int, np.integer)) or isinstance(bias, bool):
            raise ValueError(f"bias={bias!r} must be an integer")
        if specials not in _SPECIALS:
            raise ValueError(f"specials={specials!r} is not one of {', '.join(_SPECIALS)}")
        # Every value is computed in float64: the smallest (2**(1-bias-mbits)) must be a normal
        # float64 and the largest (below 2**(emax+1)) finite, or values would silently round.
        lowest, highest = 1 - int(bias) - int(mbits), (1 << ebits) - 1 - int(bias)
        if lowest < -1022:
            raise ValueError(f"bias={bias}: the smallest value 2**{lowest} underflows float64 "
                             f"(needs 1 - bias - mbits >= -1022, so bias <= {1023 - int(mbits)})")
        if highest > 1023:
            raise ValueError(f"bias={bias}: the largest values (about 2**{highest + 1}) overflow float64 "
                             f"(needs bias >= {(1 << ebits) - 1 - 1023})")
        super().__init__(int(ebits), int(mbits), int(bias), specials=specials, signed=signed, name=name)


class E8M0Format:
    """The OCP MX block scale: unsigned 8-bit exponent, bias 127, value ``2**(c-127)`` for
    c = 0..254, 0xFF = NaN, no zero. ``min_subnormal`` is the smallest positive value 2**-127
    (there are no subnormals)."""

    name = "E8M0"
    bits = 8
    bias = 127
    nan_code = 0xFF
    has_nan = True
    has_inf = False
    signed = False
    max = 2.0 ** 127
    min_subnormal = 2.0 ** -127

    def decode64(self, codes) -> np.ndarray:
        c = np.asarray(codes)
        if c.dtype.kind not in "iu" or ((c < 0) | (c > 0xFF)).any():
            raise ValueError("E8M0 codes must be integers in [0, 255]")
        c = c.astype(np.int64)
        return np.where(c == 0xFF, np.nan, np.ldexp(1.0, c - self.bias))

    def decode(self, codes) -> np.ndarray:
        return self.decode64(codes).astype(np.float32)

    @property
    def values(self) -> np.ndarray:
        return self.decode64(np.arange(256))

    def __repr__(self):
        return "E8M0Format()"


E2M1 = MiniFloat(2, 1, 1, name="E2M1")
E1M2 = MiniFloat(1, 2, 1, name="E1M2")
E3M0 = MiniFloat(3, 0, 3, name="E3M0")
E4M3 = MiniFloat(4, 3, 7, specials="fn", name="E4M3")
E5M2 = MiniFloat(5, 2, 15, specials="ieee", name="E5M2")
UE4M3 = MiniFloat(4, 3, 7, specials="fn", signed=False, name="UE4M3")
E8M0 = E8M0Format()

FP16 = FloatFormat(5, 10, 15, specials="ieee", name="FP16")
BF16 = FloatFormat(8, 7, 127, specials="ieee", name="BF16")
FP32 = FloatFormat(8, 23, 127, specials="ieee", name="FP32")

IEEE_FORMATS = {"fp16": FP16, "bf16": BF16, "fp32": FP32}
ELEMENT_FORMATS = {"e2m1": E2M1, "e1m2": E1M2, "e3m0": E3M0, "e4m3": E4M3, "e5m2": E5M2}


def ieee_format(out: str) -> FloatFormat:
    """The FloatFormat for ``out`` in {fp16, bf16, fp32}."""
    try:
        return IEEE_FORMATS[out]
    except (KeyError, TypeError):
        raise ValueError(f"out={out!r} is not one of {', '.join(IEEE_FORMATS)}") from None


def element_format(name) -> MiniFloat:
    """Look up an element format by name (e2m1, e1m2, e3m0, e4m3, e5m2) or pass one through."""
    if isinstance(name, FloatFormat):
        return name
    try:
        return ELEMENT_FORMATS[str(name).lower()]
    except KeyError:
        raise ValueError(f"fmt={name!r} is not one of {', '.join(ELEMENT_FORMATS)}") from None


__all__ = ["FloatFormat", "MiniFloat", "E8M0Format", "E2M1", "E1M2", "E3M0", "E4M3", "E5M2",
           "UE4M3", "E8M0", "FP16", "BF16", "FP32", "ROUNDINGS", "ieee_format", "element_format"]
