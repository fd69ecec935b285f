"""golden.packing: byte layouts, diagonal access property, zero-word compression, errors."""

import numpy as np
import pytest

from golden import packing

WIDTHS = packing.WORD_BITS


def test_linear_layout_by_hand():
    assert packing.pack(np.array([1, 2, 3, 4]), 16).tolist() == [0x21, 0x43]
    words = packing.to_words(packing.pack(np.arange(16) % 16, 32), 32)
    assert words == [0x76543210, 0xFEDCBA98]      # word k holds elements [8k, 8k+8), element 0 low


@pytest.mark.parametrize("word_bits", WIDTHS)
def test_round_trips(word_bits):
    rng = np.random.default_rng(word_bits)
    lanes = word_bits // 4
    codes = rng.integers(0, 16, lanes * 5).astype(np.uint8)
    data = packing.pack(codes, word_bits)
    np.testing.assert_array_equal(packing.unpack(data, codes.size, word_bits), codes)
    assert packing.from_words(packing.to_words(data, word_bits), word_bits).tobytes() == data.tobytes()
    tensor = rng.integers(0, 16, (lanes * 2, lanes * 3)).astype(np.uint8)
    diag = packing.pack(tensor, word_bits, "diagonal")
    np.testing.assert_array_equal(packing.unpack(diag, tensor.shape, word_bits, "diagonal"), tensor)
    assert diag.size == tensor.size // 2


def element_position(channels, length, word_bits, c, k):
    """(word, lane) where T[c][k] lands, found by packing a tensor with a single non-zero code."""
    t = np.zeros((channels, length), dtype=np.uint8)
    t[c, k] = 1
    nibbles = np.zeros(t.size, dtype=np.uint8)
    data = packing.pack(t, word_bits, "diagonal")
    nibbles[0::2], nibbles[1::2] = data & 0xF, data >> 4
    (index,) = np.nonzero(nibbles)[0]
    return index // (word_bits // 4), index % (word_bits // 4)


@pytest.mark.parametrize("word_bits", [16, 32, 64])
def test_diagonal_rows_and_columns_touch_each_lane_once(word_bits):
    lanes = word_bits // 4
    channels, length = 2 * lanes, 2 * lanes
    where = {(c, k): element_position(channels, length, word_bits, c, k)
             for c in range(channels) for k in range(length)}
    for g in range(2):
        for j in range(2):
            for i in range(lanes):
                column = [where[g * lanes + c, j * lanes + i] for c in range(lanes)]
                assert len({w for w, _ in column}) == 1                      # one word ...
                assert sorted(lane for _, lane in column) == list(range(lanes))   # ... all lanes
                row = [where[g * lanes + i, j * lanes + k] for k in range(lanes)]
                assert len({w for w, _ in row}) == lanes                    # L words ...
                assert sorted(lane for _, lane in row) == list(range(lanes))      # ... L lanes
    # words are ordered group-major, then tile, then k mod L
    assert where[0, 0][0] == 0 and where[0, lanes][0] == lanes and where[lanes, 0][0] == 2 * lanes


@pytest.mark.parametrize("word_bits", WIDTHS)
def test_zero_word_compression(word_bits):
    rng = np.random.default_rng(3)
    size = word_bits // 8
    n_words = word_bits * 3 + 5                       # three full chunks and a partial one
    words = rng.integers(1, 255, (n_words, size)).astype(np.uint8)
    words[:word_bits] = 0                             # chunk 0: all zero
    words[2 * word_bits:3 * word_bits:2] = 0          # chunk 2: mixed; chunk 1: none zero
    data = words.ravel()
    stream = packing.compress_zero_words(data, word_bits)
    bitmaps = packing.to_words(stream, word_bits)
    assert bitmaps[0] == 0 and bitmaps[1] == (1 << word_bits) - 1
    assert packing.decompress_zero_words(stream, n_words, word_bits).tobytes() == data.tobytes()
    assert stream.size < data.size
    with pytest.raises(ValueError, match="truncated"):
        packing.decompress_zero_words(stream[:-size], n_words, word_bits)
    with pytest.raises(ValueError, match="over-long"):
        packing.decompress_zero_words(np.concatenate([stream, stream[:size]]), n_words, word_bits)


def test_malformed_compressed_streams():
    w = 16
    as_stream = lambda *words: packing.from_words(list(words), w)     # noqa: E731
    assert packing.decompress_zero_words(as_stream(0b101, 7, 9), 3, w).view("<u2").tolist() == [7, 0, 9]
    with pytest.raises(ValueError, match="marks words past the end"):
        packing.decompress_zero_words(as_stream(0b1000, 7), 3, w)
    with pytest.raises(ValueError, match="marked non-zero but is zero"):
        packing.decompress_zero_words(as_stream(0b1, 0), 1, w)
    with pytest.raises(ValueError, match="truncated in chunk 0 at word 2"):
        packing.decompress_zero_words(as_stream(0b101, 7), 3, w)
    with pytest.raises(ValueError, match="no bitmap word"):
        packing.decompress_zero_words(as_stream(), 3, w)


def test_pad():
    padded = packing.pad(np.ones((3, 20), dtype=np.uint8), 16)
    assert padded.shape == (3, 32) and (padded[:, 20:] == 0).all() and (padded[:, :20] == 1).all()
    assert packing.pad(np.ones((5, 2), dtype=np.uint8), 4, axis=0).shape == (8, 2)


@pytest.mark.parametrize("call, word", [
    (lambda: packing.pack(np.array([16]), 16), "not 4-bit"),
    (lambda: packing.pack(np.arange(5), 16), "golden.packing.pad"),
    (lambda: packing.pack(np.zeros((4, 6), int), 16, "diagonal"), "k=6 is not a multiple"),
    (lambda: packing.pack(np.zeros(8, int), 16, "diagonal"), "2-D"),
    (lambda: packing.pack(np.zeros(8, int), 24), "word_bits=24"),
    (lambda: packing.pack(np.zeros(8, int), 32, "spiral"), "layout='spiral'"),
    (lambda: packing.unpack(np.zeros(3, np.uint8), 6, 16), "whole number"),
    (lambda: packing.unpack(np.zeros(4, np.uint8), 4, 16), "do not hold exactly 4"),
    (lambda: packing.from_words([1 << 16], 16), "not a 16-bit"),
    (lambda: packing.pad(np.ones(3), 0), "codes must be integers"),
    (lambda: packing.pad(np.ones(3, int), 0), "multiple=0"),
])
def test_bad_inputs(call, word):
    with pytest.raises(ValueError, match=word):
        call()
