"""Loader traffic: jobs, their memory words (or compressed streams) and scales, and the beats
``golden.packing.load_job`` says the loader delivers. Shared by the Amaranth-simulator tests and
the cocotb bench (as raw payload integers)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from golden import packing


@dataclass
class Traffic:
    word_bits: int
    jobs: list = field(default_factory=list)        # job payload integers
    words: list = field(default_factory=list)       # word payload integers (data | last << W)
    scales: list = field(default_factory=list)      # scale transfer integers
    beats: list = field(default_factory=list)       # expected lane payload integers
    kinds: list = field(default_factory=list)       # a label per job (coverage, messages)
    word_states: list = field(default_factory=list)  # per word: "first word of a job" / "later word"
    data_points: dict = field(default_factory=dict)  # coverage points the traffic carries: hits

    @property
    def lanes(self):
        return self.word_bits // 4


def job_payload(count, offset, rows, lanes, count_bits=24):
    offset_bits = max(1, (lanes - 1).bit_length())
    return count | offset << count_bits | int(rows) << (count_bits + offset_bits)


def beat_payload(beat, lanes, scales=None, scale_bits=8):
    codes, mask, last, error = beat
    value = sum(c << (4 * i) for i, c in enumerate(codes)) | mask << (4 * lanes) | int(last) << (5 * lanes) \
        | int(error) << (5 * lanes + 1)
    if scales is not None:
        value |= sum(s << (scale_bits * i) for i, s in enumerate(scales)) << (5 * lanes + 2)
    return value


def random_words(rng, n, word_bits, zero_share):
    words = [int.from_bytes(rng.bytes(word_bits // 8), "little") for _ in range(n)]
    return [0 if rng.random() < zero_share else w for w in words]


def bitmap_positions(stream, n_words, word_bits):
    """Stream positions of the chunk bitmaps of a well-formed compressed stream."""
    positions, pos = [], 0
    for _ in range(0, n_words, word_bits):
        positions.append(pos)
        pos += 1 + bin(stream[pos]).count("1")
    return positions


def _count(t: Traffic, point: str, n: int = 1):
    t.data_points[point] = t.data_points.get(point, 0) + n


SPECIAL_SCALE_CODES = {"e8m0": (0x00, 0xFE, 0xFF), "ue4m3": (0x00, 0x7E, 0x7F)}


def add_job(t: Traffic, rng, count, offset=0, layout="linear", rows=False, compressed=False, zero_share=0.3,
            damage=None, scales=None, block=32, kind="", scale_codes=()):
    """One job; ``scale_codes``: scale codes to use (in order) before random ones."""
    L, W = t.lanes, t.word_bits
    n_words = -(-(offset + count) // L) if count else 0
    words = random_words(rng, n_words, W, zero_share)
    stream = words
    if compressed:
        stream = packing.to_words(packing.compress_zero_words(packing.from_words(words, W), W), W) if words else []
        if damage == "truncate" and len(stream) > 1:
            stream = stream[:int(rng.integers(1, len(stream)))]
        elif damage == "overlong":
            stream = stream + [int(rng.integers(1, 1 << 16)) for _ in range(int(rng.integers(1, 4)))]
        elif damage in ("zero", "bitmap"):
            stream = list(stream)
            bitmaps = bitmap_positions(stream, n_words, W)
            if damage == "zero":
                data = [i for i in range(len(stream)) if i not in bitmaps]
                if data:
                    stream[int(rng.choice(data))] = 0
            elif n_words % W:
                stream[bitmaps[-1]] |= 1 << (n_words % W)       # marks a word past the job's end
    beats = packing.load_job(stream, W, count, offset=offset, layout=layout, rows=rows, compressed=compressed)
    if compressed and damage is None:
        for start in range(0, len(words), W):
            chunk = words[start:start + W]
            zeros = sum(w == 0 for w in chunk)
            _count(t, "chunk: all zero" if zeros == len(chunk) else "chunk: none zero" if zeros == 0 else "chunk: mixed")
    if damage:
        _count(t, f"damaged stream: {damage}")
    t.word_states += ["first word of a job"] + ["later word"] * (len(stream) - 1) if stream else []
    forced = list(scale_codes)
    t.jobs.append(job_payload(count, offset, rows, L))
    t.words += [w | (int(compressed and i == len(stream) - 1) << W) for i, w in enumerate(stream)]
    per_beat = max(1, L // block)
    group = max(1, block // L)
    held = None
    for b, beat in enumerate(beats):
        beat_scales = None
        if scales:
            if beat[1] and b % group == 0:
                held = [int(v) for v in rng.integers(0, 256 if scales == "e8m0" else 128, per_beat)]
                for i in range(per_beat):
                    if forced:
                        held[i] = forced.pop(0)
                    if held[i] in SPECIAL_SCALE_CODES[scales]:
                        _count(t, f"scale code {held[i]:#04x}")
                t.scales.append(sum(s << ((8 if scales == "e8m0" else 7) * i) for i, s in enumerate(held)))
            beat_scales = held if held is not None else [0] * per_beat
        t.beats.append(beat_payload(beat, L, beat_scales, 8 if scales == "e8m0" else 7))
    t.kinds.append(kind or f"{layout}{'-rows' if rows else ''} count={count} offset={offset}{' ' + damage if damage else ''}")
    return beats


def directed_traffic(word_bits, layout="linear", compressed=False, scales=None, block=32, seed=0) -> Traffic:
    """The issue's directed cases: an empty job, one element, L*n ± 1, a start offset at every
    lane, all-zero and no-zero chunks, truncated and over-long compressed streams; jobs follow
    each other with no gap."""
    rng = np.random.default_rng(seed)
    t = Traffic(word_bits)
    L = t.lanes
    kw = dict(layout=layout, compressed=compressed, scales=scales, block=block)
    if layout == "linear":
        add_job(t, rng, 0, **kw)
        add_job(t, rng, 1, **kw)
        for n in (1, 2, 5):
            for delta in (-1, 0, 1):
                add_job(t, rng, L * n + delta, **kw)
        for offset in range(L):                  # every start lane; the last element on every lane
            add_job(t, rng, L * int(rng.integers(0, 3)) + (offset * 5 + 3) % L + 1, offset=offset, **kw)
        if scales:
            add_job(t, rng, 4 * max(block, L), scale_codes=SPECIAL_SCALE_CODES[scales] * 2, **kw)
        add_job(t, rng, 3 * L, zero_share=1.0, **kw)
        add_job(t, rng, 3 * L, zero_share=0.0, **kw)
    else:
        for rows in (False, True):
            add_job(t, rng, 0, rows=rows, **kw)
            for tiles in (1, 2, 3):
                add_job(t, rng, tiles * L * L, rows=rows, **kw)
            add_job(t, rng, L * L, rows=rows, zero_share=1.0, **kw)
            add_job(t, rng, L * L, rows=rows, zero_share=0.0, **kw)
    if compressed:
        for damage in ("truncate", "overlong", "zero", "bitmap", "truncate", "overlong"):
            count = 3 * L * L + 5 * L if layout == "linear" else 2 * L * L
            if damage == "bitmap" and layout == "diagonal":
                continue
            add_job(t, rng, count if damage != "bitmap" else L * (word_bits + 3), damage=damage,
                    zero_share=0.5, **kw)
            add_job(t, rng, 2 * L + 3 if layout == "linear" else L * L, **kw)   # a clean job right after
        if layout == "linear":          # over-long jobs whose flagged last beat is a flush of the last word
            for offset in (1, L // 2, L - 1):
                add_job(t, rng, 2 * L + 1, offset=offset, damage="overlong", zero_share=0.5, **kw)
    return t


def random_traffic(word_bits, n_jobs, layout="linear", compressed=False, scales=None, block=32, seed=1,
                   max_words=64) -> Traffic:
    rng = np.random.default_rng(seed)
    t = Traffic(word_bits)
    L = t.lanes
    for _ in range(n_jobs):
        if layout == "linear":
            count = int(rng.integers(0, max_words * L))
            offset = int(rng.integers(0, L)) if rng.random() < 0.5 else 0
            add_job(t, rng, count, offset=offset, compressed=compressed, scales=scales, block=block,
                    zero_share=float(rng.choice([0.0, 0.3, 0.8, 1.0])))
        else:
            tiles = int(rng.integers(1, max(2, max_words // L)))
            add_job(t, rng, tiles * L * L, layout="diagonal", rows=bool(rng.random() < 0.5), compressed=compressed,
                    zero_share=float(rng.choice([0.0, 0.3, 0.8])))
    return t


def traffic(word_bits, layout, compressed, scales=None, block=32, n_random=30, seed=1):
    t = directed_traffic(word_bits, layout, compressed, scales, block, seed=seed)
    r = random_traffic(word_bits, n_random, layout, compressed, scales, block, seed=seed + 1)
    for k in ("jobs", "words", "scales", "beats", "kinds", "word_states"):
        getattr(t, k).extend(getattr(r, k))
    for point, n in r.data_points.items():
        t.data_points[point] = t.data_points.get(point, 0) + n
    return t


def throughput_traffic(word_bits, layout, compressed, scales=None, block=32, words=10240) -> Traffic:
    """Aligned jobs, back to back, >= ``words`` words; compressed words half zero, so every chunk
    has a zero word to hide its bitmap behind. Diagonal: row jobs, then column jobs (a row job
    right after a column job first fills a tile: L cycles without output, documented)."""
    rng = np.random.default_rng(9)
    t = Traffic(word_bits)
    L = word_bits // 4
    while len(t.words) < words:                       # jobs of 1024 words (whole tiles when diagonal)
        count = 1024 * L if layout == "linear" else max(1, 1024 // L) * L * L
        add_job(t, rng, count, layout=layout, rows=layout == "diagonal" and len(t.words) < words // 2,
                compressed=compressed, scales=scales, block=block, zero_share=0.5 if compressed else 0.1)
    return t


def save(t: Traffic, path):
    np.savez(path, jobs=np.array(t.jobs, dtype=object), words=np.array(t.words, dtype=object),
             scales=np.array(t.scales, dtype=object), beats=np.array(t.beats, dtype=object),
             word_states=np.array(t.word_states), data_points=np.array(json.dumps(t.data_points)))


