"""Packed-load datapath: W-bit memory words in, L = W/4 element lanes out, one beat per cycle
(DESIGN §3.6; golden: ``golden.packing.load_job``).

Three stages joined by streams: the word front end (:class:`hdl.zero_words.WordFrontEnd`:
job framing and zero-word decompression), the aligner here (lane alignment, diagonal
un-skewing, lane-valid masks), and the side-stream join (MX scales) with an optional
:class:`hdl.Decoder` on the lanes.

Design choices and their cost:

- unaligned starts: a funnel shifter over the previous and the current word (W-bit register, a
  2W → W nibble shifter); a job whose last beat lies inside its last word takes one extra cycle
  to flush it.
- diagonal columns: a word of tile row ``r`` holds one element of each of L channels, rotated by
  ``r``; a rotation by the word's index in its tile restores channel order (a W-bit rotator).
- diagonal rows: each un-rotated column is shifted into a tile register (L rows × W bits); the
  L-th column moves the whole tile into an output shift register that emits one row per cycle
  while the next tile fills: 2 L × W flops (W = 32: 512; W = 512: 128 K), no multiplexer tree.
  A row job's first tile must fill before its first row leaves: L cycles without output when a
  row job follows a column job (row jobs back to back, or a column job after a row job, overlap).

Timing of one linear job (L = 8, 20 elements from lane 3, no stalls)::

    cycle      0      1      2      3      4
    job        J
    words             w0     w1     w2
    lanes                    b0     b1     b2 (last, mask 0x0F)

Latency: the lanes are combinational from the words (and ``lanes.ready`` from ``words.ready``):
an aligned job's first beat leaves in the cycle its first word arrives, one cycle after the job;
a start inside a word adds one word (w0 alone makes no beat) and, when the last beat lies inside
the last word, one flush cycle; zero-word decompression adds one cycle (its input buffer);
``stages=1`` adds one cycle (the token register) and makes the lanes combinational from it
instead of from the words; ``stages=2`` adds another (the beat register): the lanes leave a
register; ``stages=3`` is ``stages=2`` with a skid buffer as the token register (its ``ready``
a register too, so the reader's ``ready`` stops there), no more latency.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

import golden
from golden.params import check_bool, check_choice, check_int
from golden.packing import LAYOUTS, check_word_bits

from .decoder import Decoder, check_format
from .layouts import float_layout, lanes_of
from .pipeline import skid_register, stream_register
from .zero_words import WordFrontEnd, job_layout, token_layout

SCALE_FORMATS = {"e8m0": 8, "ue4m3": 7}


def stage_cycles(stages: int) -> int:
    """Cycles of latency a loader's register ``stages`` add: one per register, and the skid
    buffer of ``stages=3`` none beyond ``stages=2``'s."""
    return min(stages, 2)


def beat_layout(lanes: int, value_shape, scales: int, scale_bits: int) -> data.StructLayout:
    fields = {"codes" if value_shape is None else "values": lanes_of(value_shape or unsigned(4), lanes),
              "mask": unsigned(lanes), "last": 1, "error": 1}
    if scales:
        fields["scales"] = lanes_of(unsigned(scale_bits), scales)
    return data.StructLayout(fields)


class _Aligner(wiring.Component):
    """Tokens in, beats of L codes out (see the module docstring)."""

    def __init__(self, word_bits: int, count_bits: int, layout: str, sliced: bool = False):
        self._word_bits = word_bits
        self._sliced = sliced
        self._lanes = word_bits // 4
        self._layout = layout
        job = job_layout(self._lanes, count_bits)
        self._count_bits = count_bits
        members = {
            "tokens": In(stream.Signature(token_layout(word_bits, job))),
            "beats": Out(stream.Signature(beat_layout(self._lanes, None, 0, 0))),
        }
        if sliced:
            # beside the token (registered with it): whether its job's count is at least L, and
            # whether count // L is 1, so no wide OR of the count lies on the way to a beat's mask
            members["count_hint"] = In(2)
        super().__init__(members)

    @staticmethod
    def count_hint_of(count, lanes: int):
        """What ``count_hint`` carries for a job of ``count`` elements: ``count >= lanes`` and
        ``count // lanes == 1`` (``lanes`` a power of two)."""
        k = lanes.bit_length() - 1
        return Cat(count[k:].any(), count[k:] == 1)

    def elaborate(self, platform):
        m = Module()
        W, L = self._word_bits, self._lanes
        token, beats = self.tokens.payload, self.beats
        out = beats.payload
        take = self.tokens.valid & self.tokens.ready
        emit = beats.valid & beats.ready
        word = token.data
        all_lanes = (1 << L) - 1

        def special_tokens():
            """Empty jobs and aborts each make one beat with no valid lane."""
            with m.If(token.empty | token.abort):
                m.d.comb += [beats.valid.eq(self.tokens.valid), out.last.eq(1), out.error.eq(token.abort),
                             self.tokens.ready.eq(beats.ready)]

        if self._layout == "linear":
            remaining = Signal(self._count_bits, name="remaining")
            prev = Signal(W, name="previous_word")
            tail = Signal(name="tail_pending")
            tail_flag = Signal(name="tail_flag")
            tail_shift = Signal(range(W), name="tail_shift")
            offset = token.job.offset
            sliced = self._sliced
            if sliced:
                rem = Signal(self._count_bits, name="elements_left")      # one wire: every bit of it is used
                m.d.comb += rem.eq(Mux(token.first, token.job.count, remaining))
            else:
                rem = Mux(token.first, token.job.count, remaining)
            shift = Signal(range(W), name="shift")
            m.d.comb += shift.eq(Mux(tail, tail_shift, offset << 2))
            # ``sliced`` (a registered loader, stages > 0): L is a power of two, so comparisons
            # with L are bit slices, not carry chains (a 26-bit comparator was the pipelined dot
            # engine's critical path); unregistered, the comparisons as they were.
            k = L.bit_length() - 1
            if sliced:
                # n >= L and n // L == 1, for rem and remaining, from registers: the job's count
                # hint beside the token, and flags kept beside ``remaining`` (the OR over the
                # count's upper bits, shared with the decrement's borrow chain, was the 32-lane
                # engine's critical path)
                remaining_flags = Signal(2, name="remaining_flags")
                rem_flags = Signal(2, name="elements_left_flags")
                m.d.comb += rem_flags.eq(Mux(token.first, self.count_hint, remaining_flags))
                flags_of = {id(rem): rem_flags, id(remaining): remaining_flags}

            def at_least_lanes(n):
                return flags_of[id(n)][0] if sliced else n >= L

            def at_most_lanes(n):
                if sliced:
                    big, one = flags_of[id(n)]
                    return ~big | (one & ~n[:k].any())
                return n <= L

            def mask_of(n):
                """The lowest ``min(n, L)`` lanes."""
                low = n[:k] if sliced else n[:L.bit_length()]
                return Mux(at_least_lanes(n), all_lanes, ((Const(1, L + 1) << low) - 1)[:L])
            lanes_now = Signal(L, name="lane_mask")
            window = Signal(2 * W, name="window")
            with m.If(tail):                               # the job's last elements, from ``prev``
                m.d.comb += [window.eq(prev), lanes_now.eq(mask_of(remaining)), beats.valid.eq(1),
                             out.last.eq(1), out.error.eq(tail_flag)]
                with m.If(emit):
                    m.d.sync += tail.eq(0)
            with m.Elif(token.empty | token.abort):
                special_tokens()
            with m.Else():
                count = token.job.count                                        # the whole job in one word:
                if sliced:                                                     # offset + count <= L
                    alone = token.first & ~count[k + 1:].any() & ((count[:k + 1] + offset) <= L)
                else:
                    alone = token.first & (offset + count <= L)
                holds = token.first & (offset != 0) & ~alone                   # first word: no beat yet
                m.d.comb += [window.eq(Mux(token.first | (offset == 0), word, Cat(prev, word))),
                             lanes_now.eq(mask_of(rem))]
                with m.If(holds):
                    m.d.comb += self.tokens.ready.eq(1)
                with m.Else():
                    m.d.comb += [beats.valid.eq(self.tokens.valid), self.tokens.ready.eq(beats.ready),
                                 out.last.eq(at_most_lanes(rem)), out.error.eq(token.flag & at_most_lanes(rem))]
                with m.If(take):
                    m.d.sync += [prev.eq(word), remaining.eq(Mux(holds, rem, rem - L))]
                    if sliced:          # the flags of rem, or of rem - L (whose upper bits are
                        # rem // L - 1, wrapping as the subtraction does): != 0 unless rem // L is 1
                        after = Cat(~rem_flags[1], rem[k:] == 2)
                        m.d.sync += remaining_flags.eq(Mux(holds, rem_flags, after))
                    with m.If(token.final & ~holds & (~at_most_lanes(rem) if sliced else rem > L)):
                        m.d.sync += [tail.eq(1), tail_flag.eq(token.flag), tail_shift.eq(offset << 2)]
            with m.If((~token.empty & ~token.abort) | tail):
                shifted = (window >> shift)[:W]
                nibble_mask = Cat(*(lanes_now[k].replicate(4) for k in range(L)))
                m.d.comb += [out.mask.eq(lanes_now), out.codes.as_value().eq(shifted & nibble_mask)]
            return m

        # diagonal: un-rotate each word by its index in the tile
        row_index = Signal(range(L), name="tile_row")
        column = Signal(W, name="column")
        m.d.comb += column.eq((Cat(word, word) >> (row_index << 2))[:W])
        with m.If(take & ~token.empty & ~token.abort):
            m.d.sync += row_index.eq(row_index + 1)
        with m.If(take & (token.empty | token.abort | token.final)):
            m.d.sync += row_index.eq(0)
        tile = [Signal(W, name=f"tile{c}") for c in range(L)]          # tile[c] = channel c's row
        rows_out = [Signal(W, name=f"rows{c}") for c in range(L)]
        rows_left = Signal(range(L + 1), name="rows_left")
        rows_last = Signal(name="rows_last")
        rows_flag = Signal(name="rows_flag")

        with m.If(token.job.rows | (rows_left != 0)):
            # row delivery; the output shift register drains before anything else leaves
            with m.If(rows_left != 0):
                m.d.comb += [beats.valid.eq(1), out.codes.as_value().eq(rows_out[0]), out.mask.eq(all_lanes),
                             out.last.eq(rows_last & (rows_left == 1)), out.error.eq(rows_flag & (rows_left == 1))]
                with m.If(emit):
                    m.d.sync += [rows_left.eq(rows_left - 1)] + [rows_out[c].eq(rows_out[c + 1]) for c in range(L - 1)]
            frees = (rows_left == 0) | ((rows_left == 1) & emit)
            with m.If(~token.job.rows):
                pass                                      # a column job waits for the rows to drain
            with m.Elif(token.empty | token.abort):
                with m.If(rows_left == 0):
                    special_tokens()
            with m.Elif(row_index == L - 1):
                m.d.comb += self.tokens.ready.eq(frees)
                with m.If(take):
                    filled = [Cat(tile[c][4:], column[4 * c:4 * c + 4]) for c in range(L)]
                    m.d.sync += [rows_out[c].eq(filled[c]) for c in range(L)]
                    m.d.sync += [rows_left.eq(L), rows_last.eq(token.final), rows_flag.eq(token.flag)]
            with m.Else():
                m.d.comb += self.tokens.ready.eq(1)
                with m.If(take):
                    m.d.sync += [tile[c].eq(Cat(tile[c][4:], column[4 * c:4 * c + 4])) for c in range(L)]
        with m.Else():
            with m.If(token.empty | token.abort):
                special_tokens()
            with m.Else():
                m.d.comb += [beats.valid.eq(self.tokens.valid), self.tokens.ready.eq(beats.ready),
                             out.codes.as_value().eq(column), out.mask.eq(all_lanes),
                             out.last.eq(token.final), out.error.eq(token.flag & token.final)]
        return m


class PackedLoader(wiring.Component):
    """Memory words to element lanes (see the module docstring for the design and timing).

    Parameters: ``word_bits`` W in {16, 32, 64, 128, 256, 512} (L = W/4 lanes), ``layout`` in
    {linear, diagonal}, ``compressed`` (zero-word decompression of the word stream),
    ``scales`` (None, ``"e8m0"`` or ``"ue4m3"``: an MX scale side stream, linear layout) with
    ``block`` (16 or 32 elements per scale), ``decode`` (None or fp16/bf16/fp32: lanes leave as
    ``hdl.Decoder`` values of element format ``fmt``), ``count_bits`` (job size field),
    ``stages`` (0..3: a register between the word front end and the aligner, and with 2 one
    after the aligner, for a clocked reader such as the pipelined dot engine; each adds one
    cycle of latency, none of throughput; 3 is 2 with the first register a skid buffer, whose
    ``ready`` is a register too: no more latency, twice the token register's flip-flops).

    Ports:
      - ``job``: In stream of ``job_layout``: ``count`` elements (diagonal: a multiple of L*L,
        whole tiles), ``offset`` (linear: the first element's lane in the first word), ``rows``
        (diagonal: 1 = rows, one channel's L consecutive elements per beat; 0 = columns).
      - ``words``: In stream: ``data`` (W bits) and, when ``compressed``, ``last`` (the job's
        compressed stream ends with this word).
      - ``scale``: In stream (with ``scales``): ``max(1, L/block)`` scale codes per transfer,
        taken by each beat that starts a block (every ``block/L`` beats, or every beat).
      - ``lanes``: Out stream: ``codes`` (L × 4 bits, or ``values``), ``mask`` (valid lanes;
        padding lanes are +0), ``last`` (the job's final beat), ``error`` (a malformed
        compressed stream ended or flagged the job), ``scales`` (with ``scales``).
      - ``status_error``: Out, sticky: some job had an error (cleared by reset).

    Throughput: one beat per cycle with no stalls (aligned jobs; compressed streams with at least
    one zero word per chunk). Golden function: ``golden.packing.load_job`` per job.
    """

    def __init__(self, word_bits: int = 32, layout: str = "linear", *, compressed: bool = False,
                 scales: str | None = None, block: int = 32, decode: str | None = None, fmt="e2m1",
                 count_bits: int = 24, stages: int = 0):
        self._word_bits = check_word_bits(word_bits)
        self._stages = check_int("stages", stages, 0, 3)
        self._lanes = word_bits // 4
        self._layout = check_choice("layout", layout, tuple(LAYOUTS))
        self._compressed = check_bool("compressed", compressed)
        if scales is not None:
            check_choice("scales", scales, tuple(SCALE_FORMATS))
        if scales is not None and layout != "linear":
            raise ValueError("scales are delivered with linear jobs; layout='diagonal' carries none")
        if check_int("block", block) not in (16, 32):
            raise ValueError(f"block={block!r} must be 16 or 32")
        self._scales, self._block = scales, block
        self._count_bits = check_int("count_bits", count_bits, 8, 32)
        self._decode = decode
        self._fmt = check_format(fmt)
        if self._fmt.bits != 4:
            raise ValueError(f"fmt={self._fmt.name}: the loader carries 4-bit elements")
        if decode is not None:
            check_choice("decode", decode, ("fp16", "bf16", "fp32"))   # names itself, not ieee_format's out=
        value_shape = None if decode is None else float_layout(golden.ieee_format(decode))
        self._per_beat = max(1, self._lanes // block) if scales else 0
        scale_bits = SCALE_FORMATS.get(scales, 0)
        word = data.StructLayout({"data": unsigned(word_bits), **({"last": 1} if compressed else {})})
        members = {
            "job": In(stream.Signature(job_layout(self._lanes, count_bits))),
            "words": In(stream.Signature(word)),
            "lanes": Out(stream.Signature(beat_layout(self._lanes, value_shape, self._per_beat, scale_bits))),
            "status_error": Out(1),
        }
        if scales:
            members["scale"] = In(stream.Signature(lanes_of(unsigned(scale_bits), self._per_beat)))
        super().__init__(members)

    @property
    def word_bits(self):
        return self._word_bits

    @property
    def layout(self):
        return self._layout

    @property
    def compressed(self):
        return self._compressed

    @property
    def scales(self):
        """Scale side stream format (None without)."""
        return self._scales

    @property
    def block(self):
        """Elements per scale."""
        return self._block

    @property
    def decode(self):
        return self._decode

    @property
    def fmt(self):
        """Element format of --decode."""
        return self._fmt

    @property
    def count_bits(self):
        return self._count_bits

    @property
    def stages(self):
        """Register stages inside the loader (0: lanes combinational from the words; 1: a
        register between the word front end and the aligner; 2: and one after the aligner,
        each one more cycle of latency; 3: 2 with the first a skid buffer, no more latency)."""
        return self._stages

    def elaborate(self, platform):
        m = Module()
        m.submodules.front = front = WordFrontEnd(self._word_bits, self._count_bits, self._compressed)
        m.submodules.aligner = aligner = _Aligner(self._word_bits, self._count_bits, self._layout,
                                                  sliced=self._stages > 0)
        wiring.connect(m, wiring.flipped(self.job), front.job)
        wiring.connect(m, wiring.flipped(self.words), front.words)
        if self._stages:
            # cut the front end's registers from the aligner's logic; with stages=3 both ways: a
            # skid buffer, whose ready is a register, so the aligner's ready (and the reader's
            # before it) does not run on into the front end and its job handshake (the 8-lane
            # dot engine's iCE40 path with a plain register); the job's count hint travels with
            # its token
            hinted = stream.Signature(data.StructLayout({
                "token": front.tokens.payload.shape(), "hint": 2})).create(path=("hinted_token",))
            m.d.comb += [hinted.valid.eq(front.tokens.valid), front.tokens.ready.eq(hinted.ready),
                         hinted.payload.token.eq(front.tokens.payload),
                         hinted.payload.hint.eq(_Aligner.count_hint_of(front.tokens.payload.job.count, self._lanes))]
            tokens = (skid_register if self._stages == 3 else stream_register)(m, hinted, "token_register")
            m.d.comb += [aligner.tokens.valid.eq(tokens.valid), aligner.tokens.payload.eq(tokens.payload.token),
                         aligner.count_hint.eq(tokens.payload.hint), tokens.ready.eq(aligner.tokens.ready)]
        else:
            wiring.connect(m, front.tokens, aligner.tokens)
        beats, out = aligner.beats, self.lanes
        if self._stages >= 2:               # and the aligner's logic from what reads the lanes
            beats = stream_register(m, beats, "beat_register")
        m.d.comb += [out.payload.mask.eq(beats.payload.mask), out.payload.last.eq(beats.payload.last),
                     out.payload.error.eq(beats.payload.error)]
        if self._decode is None:
            m.d.comb += out.payload.codes.eq(beats.payload.codes)
        else:
            m.submodules.decoder = decoder = Decoder(self._fmt, self._decode, lanes=self._lanes)
            m.d.comb += [decoder.code.eq(beats.payload.codes), out.payload.values.eq(decoder.value)]
        if not self._scales:
            m.d.comb += [out.valid.eq(beats.valid), beats.ready.eq(out.ready)]
        else:
            # a beat that starts a block waits for its scale transfer; later beats reuse it
            group = max(1, self._block // self._lanes)
            position = Signal(range(group), name="beat_in_block")
            held = Signal.like(self.scale.payload, name="held_scales")
            needs = Signal(name="needs_scale")
            m.d.comb += needs.eq((position == 0) & (beats.payload.mask != 0))
            ok = ~needs | self.scale.valid
            m.d.comb += [out.valid.eq(beats.valid & ok), beats.ready.eq(out.ready & ok),
                         self.scale.ready.eq(beats.valid & out.ready & needs),
                         out.payload.scales.eq(Mux(needs, self.scale.payload, held))]
            with m.If(out.valid & out.ready):
                with m.If(needs):
                    m.d.sync += held.eq(self.scale.payload)
                if group > 1:
                    m.d.sync += position.eq(Mux(position == group - 1, 0, position + 1))
                with m.If(beats.payload.last):
                    m.d.sync += position.eq(0)
        with m.If(out.valid & out.ready & out.payload.error):
            m.d.sync += self.status_error.eq(1)
        return m
