"""Memory images of FP4 tensors (DESIGN §3.6): what the packed loader reads.

- ``linear``: element i at bits [4i, 4i+4) of a little-endian bit stream (byte i//2, even i in
  the low nibble), as ``torch.float4_e2m1fn_x2`` and torchao ``pack_uint4``. A W-bit word k
  holds elements [kW/4, (k+1)W/4).
- ``diagonal`` (2-D T[c][k], L = W/4 lanes): channel group g = c // L, tile j = k // L; word
  ``(g * tiles + j) * L + k % L``; nibble lane ``(c % L + k % L) % L``. A word holds one element
  of each of L channels, and one channel's L consecutive elements sit in L different lanes of L
  different words, so L independently addressed 4-bit banks read a row or a column at once.
- zero-word compression: chunks of up to W words, each a W-bit bitmap (bit j = word j of the
  chunk is non-zero) followed by the non-zero words in order.
- ``pad``: +0 codes up to a multiple along an axis.

Every function checks its input and raises ``ValueError`` saying what and where.
"""

from __future__ import annotations

import numpy as np

WORD_BITS = (16, 32, 64, 128, 256, 512)
LAYOUTS = ("linear", "diagonal")


def check_word_bits(word_bits) -> int:
    if word_bits not in WORD_BITS:
        raise ValueError(f"word_bits={word_bits!r} is not one of {', '.join(map(str, WORD_BITS))}")
    return int(word_bits)


def _check_codes(codes) -> np.ndarray:
    c = np.asarray(codes)
    if c.dtype.kind not in "iu":
        raise ValueError(f"codes must be integers, got dtype {c.dtype}")
    bad = (c < 0) | (c > 15)
    if bad.any():
        where = tuple(int(i[0]) for i in np.nonzero(bad))
        raise ValueError(f"{int(bad.sum())} codes are not 4-bit (>= 16 or < 0), first at index {where}")
    return c.astype(np.uint8)


def _check_bytes(data, word_bits: int) -> np.ndarray:
    d = np.asarray(data)
    if d.dtype != np.uint8 or d.ndim != 1:
        raise ValueError(f"packed data must be a 1-D uint8 array, got {d.dtype} of shape {d.shape}")
    if d.size % (word_bits // 8):
        raise ValueError(f"packed data of {d.size} bytes is not a whole number of {word_bits}-bit words")
    return d


def pad(codes, multiple: int = 16, axis: int = -1) -> np.ndarray:
    """Pad ``codes`` with +0 (code 0) along ``axis`` to a multiple of ``multiple``."""
    c = _check_codes(codes)
    if not isinstance(multiple, (int, np.integer)) or multiple < 1:
        raise ValueError(f"multiple={multiple!r} must be a positive integer")
    if c.ndim == 0:
        raise ValueError("pad needs an array with at least one axis")
    axis = axis % c.ndim
    missing = -c.shape[axis] % multiple
    widths = [(0, missing if i == axis else 0) for i in range(c.ndim)]
    return np.pad(c, widths)


def _nibbles_to_bytes(nibbles: np.ndarray) -> np.ndarray:
    return (nibbles[0::2] | (nibbles[1::2] << 4)).astype(np.uint8)


def _bytes_to_nibbles(data: np.ndarray) -> np.ndarray:
    out = np.empty(data.size * 2, dtype=np.uint8)
    out[0::2] = data & 0xF
    out[1::2] = data >> 4
    return out


def _diagonal_order(channels: int, length: int, lanes: int):
    """Stream position (word * lanes + lane) of every element T[c][k], as a [C, K] index array."""
    c = np.arange(channels)[:, None]
    k = np.arange(length)[None, :]
    tiles = length // lanes
    word = ((c // lanes) * tiles + k // lanes) * lanes + k % lanes
    lane = (c % lanes + k % lanes) % lanes
    return word * lanes + lane


def pack(codes, word_bits: int = 32, layout: str = "linear") -> np.ndarray:
    """The little-endian byte image of ``codes`` (uint8).

    ``linear`` packs ``codes`` in C order and needs a multiple of ``word_bits / 4`` elements;
    ``diagonal`` needs a 2-D [channels, k] array with both sides multiples of ``word_bits / 4``.
    Pad first with :func:`pad`.
    """
    lanes = check_word_bits(word_bits) // 4
    c = _check_codes(codes)
    if layout == "linear":
        flat = c.reshape(-1)
        if flat.size % lanes:
            raise ValueError(f"{flat.size} elements are not a whole number of {word_bits}-bit words "
                             f"({lanes} elements each); pad with golden.packing.pad(codes, {lanes})")
        return _nibbles_to_bytes(flat)
    if layout == "diagonal":
        if c.ndim != 2:
            raise ValueError(f"layout='diagonal' packs a 2-D [channels, k] array, got shape {c.shape}")
        for axis, name in ((0, "channels"), (1, "k")):
            if c.shape[axis] % lanes:
                raise ValueError(f"diagonal {name}={c.shape[axis]} is not a multiple of {lanes} lanes; "
                                 f"pad with golden.packing.pad(codes, {lanes}, axis={axis})")
        stream = np.empty(c.size, dtype=np.uint8)
        stream[_diagonal_order(*c.shape, lanes)] = c
        return _nibbles_to_bytes(stream)
    raise ValueError(f"layout={layout!r} is not one of {', '.join(LAYOUTS)}")


def unpack(data, n, word_bits: int = 32, layout: str = "linear") -> np.ndarray:
    """Inverse of :func:`pack`: ``n`` codes (linear) or an ``n = (channels, k)`` array (diagonal)."""
    lanes = check_word_bits(word_bits) // 4
    d = _check_bytes(data, word_bits)
    nibbles = _bytes_to_nibbles(d)
    if layout == "linear":
        if not isinstance(n, (int, np.integer)) or n < 0 or n > nibbles.size:
            raise ValueError(f"n={n!r} must be an element count from 0 to {nibbles.size}")
        if d.size != -(-int(n) // lanes) * lanes // 2:
            raise ValueError(f"{d.size} bytes do not hold exactly {n} elements in {word_bits}-bit words")
        return nibbles[:n].copy()
    if layout == "diagonal":
        if not (isinstance(n, tuple) and len(n) == 2):
            raise ValueError(f"layout='diagonal' takes n=(channels, k), got {n!r}")
        channels, length = n
        if channels % lanes or length % lanes or channels * length != nibbles.size:
            raise ValueError(f"n={n} does not match {d.size} bytes of diagonal {word_bits}-bit words")
        return nibbles[_diagonal_order(channels, length, lanes)]
    raise ValueError(f"layout={layout!r} is not one of {', '.join(LAYOUTS)}")


def _element_bits(bits) -> int:
    if bits not in (4, 8):
        raise ValueError(f"bits={bits!r}: memory images hold 4- or 8-bit elements")
    return bits


def pack_elements(codes, bits: int, word_bits: int = 32, layout: str = "linear") -> np.ndarray:
    """The memory image (little-endian bytes) of ``bits``-bit element ``codes``: the one layout
    rule for every element width (DESIGN §3.6). 4-bit codes are :func:`pack`; an 8-bit code is
    two nibbles, low first, at element positions 2i and 2i+1 of the same bit stream (which is
    exactly its byte, little-endian), so the FP8 dot engine reads it through the same loader.
    ``diagonal`` is defined for 4-bit elements only."""
    bits = _element_bits(bits)
    c = np.asarray(codes)
    if bits == 4:
        return pack(c, word_bits, layout)
    if layout != "linear":
        raise ValueError(f"layout={layout!r} packs 4-bit elements; {bits}-bit elements are linear only")
    if c.dtype.kind not in "ui" or (c.size and (c.min() < 0 or c.max() > 0xFF)):
        raise ValueError("8-bit element codes must be integers 0..255")
    c = c.astype(np.uint8)
    nibbles = np.stack([c & 0xF, c >> 4], axis=-1).reshape(c.shape[:-1] + (-1,)) if c.ndim else c
    return pack(nibbles, word_bits, layout)


def unpack_elements(data, shape, bits: int, word_bits: int = 32, layout: str = "linear") -> np.ndarray:
    """Inverse of :func:`pack_elements`: uint8 codes of the given ``shape``."""
    bits = _element_bits(bits)
    shape = tuple(int(n) for n in shape)
    count = int(np.prod(shape))
    if bits == 4:
        if layout == "diagonal":
            if len(shape) != 2:
                raise ValueError(f"layout='diagonal' unpacks a 2-D [channels, k] array, got shape {shape}")
            return unpack(data, shape, word_bits, layout).astype(np.uint8)
        return unpack(data, count, word_bits, layout).astype(np.uint8).reshape(shape)
    if layout != "linear":
        raise ValueError(f"layout={layout!r} packs 4-bit elements; {bits}-bit elements are linear only")
    pairs = unpack(data, 2 * count, word_bits, layout).reshape(-1, 2)
    return (pairs[:, 0] | (pairs[:, 1] << 4)).astype(np.uint8).reshape(shape)


def to_words(data, word_bits: int) -> list[int]:
    """The W-bit words (Python ints) of a little-endian byte image."""
    d = _check_bytes(data, check_word_bits(word_bits))
    size = word_bits // 8
    raw = d.tobytes()
    return [int.from_bytes(raw[i:i + size], "little") for i in range(0, len(raw), size)]


def from_words(words, word_bits: int) -> np.ndarray:
    """The little-endian byte image of W-bit words."""
    size = check_word_bits(word_bits) // 8
    out = bytearray()
    for i, w in enumerate(words):
        if not isinstance(w, (int, np.integer)) or w < 0 or int(w) >> word_bits:
            raise ValueError(f"word {i} ({w!r}) is not a {word_bits}-bit unsigned integer")
        out += int(w).to_bytes(size, "little")
    return np.frombuffer(bytes(out), dtype=np.uint8).copy()


def compress_zero_words(data, word_bits: int) -> np.ndarray:
    """Zero-word compression of a byte image: per chunk of up to W words, a bitmap word then the
    non-zero words. Returns the compressed byte image."""
    words = to_words(data, word_bits)
    stream = []
    for start in range(0, len(words), word_bits):
        chunk = words[start:start + word_bits]
        stream.append(sum(1 << j for j, w in enumerate(chunk) if w))
        stream.extend(w for w in chunk if w)
    return from_words(stream, word_bits)


def decompress_zero_words(stream, n_words: int, word_bits: int) -> np.ndarray:
    """Inverse of :func:`compress_zero_words` for ``n_words`` words. A stream that ends early, has
    words left over, marks a word past ``n_words`` or carries a zero as a non-zero word raises
    ``ValueError`` naming the chunk (never silent garbage)."""
    words = to_words(stream, word_bits)
    if not isinstance(n_words, (int, np.integer)) or n_words < 0:
        raise ValueError(f"n_words={n_words!r} must be a non-negative integer")
    out, pos = [], 0
    for chunk, start in enumerate(range(0, n_words, word_bits)):
        size = min(word_bits, n_words - start)
        if pos >= len(words):
            raise ValueError(f"compressed stream truncated: chunk {chunk} has no bitmap word "
                             f"(stream has {len(words)} words)")
        bitmap = words[pos]
        pos += 1
        if bitmap >> size:
            raise ValueError(f"chunk {chunk} bitmap marks words past the end ({size} words in the chunk)")
        for j in range(size):
            if bitmap >> j & 1:
                if pos >= len(words):
                    raise ValueError(f"compressed stream truncated in chunk {chunk} at word {j}")
                if words[pos] == 0:
                    raise ValueError(f"chunk {chunk} word {j} is marked non-zero but is zero "
                                     f"(stream word {pos})")
                out.append(words[pos])
                pos += 1
            else:
                out.append(0)
    if pos != len(words):
        raise ValueError(f"compressed stream over-long: {len(words) - pos} words after the last chunk")
    return from_words(out, word_bits)


def expand_zero_words(stream_words: list, n_words: int, word_bits: int) -> tuple[list, str | None]:
    """Streaming zero-word decompression, in the order the hardware meets its input: returns the
    words produced before any error and the error (None, ``"truncated"``, ``"bitmap"``: a chunk
    bitmap marks words past the end, ``"zero"``: a word marked non-zero is zero, ``"overlong"``:
    words remain after the last chunk, in which case every word was produced).

    Truncation is seen when the stream's last word is taken while the job still needs input: the
    words up to that point are produced (the zero words after it are not). Valid streams give
    exactly :func:`decompress_zero_words`.
    """
    out, pos = [], 0
    total = len(stream_words)

    def take():
        nonlocal pos
        pos += 1
        return stream_words[pos - 1]

    def needs_more(bitmap, j, chunk_start):
        """After position j of the chunk: is any more input needed for this job?"""
        return bool(bitmap >> (j + 1)) or chunk_start + word_bits < n_words

    for start in range(0, n_words, word_bits):
        size = min(word_bits, n_words - start)
        if pos >= total:
            return out, "truncated"
        bitmap = take()
        if bitmap >> size:
            return out, "bitmap"
        if pos == total and (bitmap or start + word_bits < n_words):
            return out, "truncated"          # the stream ended with this bitmap
        for j in range(size):
            if bitmap >> j & 1:
                word = take()
                if word == 0:
                    return out, "zero"
                out.append(word)
                if pos == total and needs_more(bitmap, j, start):
                    return out, "truncated"
            else:
                out.append(0)
    return out, ("overlong" if pos != total else None)


class Beat(tuple):
    """One loader output beat: ``(codes, mask, last, error)``: ``codes`` a tuple of L codes
    (+0 in lanes whose ``mask`` bit is clear), ``mask`` the lane-valid bits, ``last`` the job's
    final beat, ``error`` a malformed compressed stream."""

    def __new__(cls, codes, mask, last, error=False):
        return super().__new__(cls, (tuple(int(c) for c in codes), int(mask), bool(last), bool(error)))


def load_job(words, word_bits: int, count: int, *, offset: int = 0, layout: str = "linear",
             rows: bool = False, compressed: bool = False) -> list:
    """The beats ``hdl.PackedLoader`` delivers for one job (DESIGN §3.6).

    ``words``: the job's W-bit memory words (Python ints) in stream order, or with
    ``compressed=True`` its zero-word-compressed stream. ``linear``: element ``i`` of the job is
    stream element ``offset + i`` (``offset`` < L, the lane of the first element in the first
    word); beat ``b`` carries elements ``[bL, (b+1)L)``, the last beat's missing lanes are +0
    with their mask bits clear. ``diagonal``: ``count`` is a multiple of ``L*L`` (whole tiles,
    ``offset`` 0); ``rows=False`` delivers each word's column (element ``k`` of L channels,
    un-rotated), ``rows=True`` each tile's rows (one channel's L consecutive elements). An empty
    job gives one beat with no valid lane. A malformed compressed stream ends the job with a beat
    ``(zeros, 0, last, error)`` after the beats whose words all arrived; an over-long stream
    delivers every beat and flags the last one.
    """
    lanes = check_word_bits(word_bits) // 4
    if layout not in LAYOUTS:
        raise ValueError(f"layout={layout!r} is not one of {', '.join(LAYOUTS)}")
    if not 0 <= offset < lanes or (layout == "diagonal" and offset):
        raise ValueError(f"offset={offset} must be a lane index below {lanes} (0 for diagonal)")
    if layout == "diagonal" and count % (lanes * lanes):
        raise ValueError(f"diagonal jobs hold whole {lanes}x{lanes} tiles; count={count} is not a multiple of {lanes * lanes}")
    n_words = -(-(offset + count) // lanes) if count else 0
    words = list(words)
    error = None
    if compressed:
        words, error = expand_zero_words(words, n_words, word_bits)
    elif len(words) != n_words:
        raise ValueError(f"the job needs {n_words} words, got {len(words)}")
    zeros = (0,) * lanes
    if count == 0:
        return [Beat(zeros, 0, True)]
    nibbles = _bytes_to_nibbles(from_words(words, word_bits)) if words else np.zeros(0, np.uint8)
    beats = []
    if layout == "linear":
        n_beats = -(-count // lanes)
        for b in range(n_beats):
            needed = -(-(offset + min(count, (b + 1) * lanes)) // lanes)   # words this beat reads
            if needed > len(words):
                break
            part = nibbles[offset + b * lanes:offset + min(count, (b + 1) * lanes)]
            codes = list(part) + [0] * (lanes - len(part))
            beats.append(Beat(codes, (1 << len(part)) - 1, b == n_beats - 1))
    else:
        for t in range(len(words) if not rows else len(words) // lanes * lanes):
            r = t % lanes
            word = nibbles[t * lanes:(t + 1) * lanes]
            if not rows:
                beats.append(Beat([word[(c + r) % lanes] for c in range(lanes)], (1 << lanes) - 1, t == n_words - 1))
            elif r == lanes - 1:
                tile = nibbles[(t - r) * lanes:(t + 1) * lanes].reshape(lanes, lanes)     # [r][lane]
                for c in range(lanes):
                    beats.append(Beat([tile[k][(c + k) % lanes] for k in range(lanes)], (1 << lanes) - 1,
                                      t == n_words - 1 and c == lanes - 1))
    if error in ("truncated", "bitmap", "zero"):
        beats.append(Beat(zeros, 0, True, True))
    elif error == "overlong":
        beats[-1] = Beat(beats[-1][0], beats[-1][1], True, True)
    return beats


__all__ = ["pack", "unpack", "pad", "to_words", "from_words", "compress_zero_words",
           "decompress_zero_words", "expand_zero_words", "load_job", "Beat", "WORD_BITS", "LAYOUTS"]
