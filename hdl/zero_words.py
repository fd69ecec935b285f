"""The loader's word front end: turns a job's memory words (or their zero-word-compressed
stream) into exactly the job's words, tagged with the job, one per cycle.

Zero-word decompression (DESIGN §3.6): per chunk of up to W words, a bitmap word, then the
non-zero words. Design choice: a two-entry input buffer that may pop two entries in one cycle,
so a chunk's bitmap is taken in the same cycle as its first word (its first non-zero word, or a
zero word that needs no input). A chunk of W words then costs W cycles of output and ``1 +
non-zero`` entries of input: with at least one zero word per chunk the output sustains one word
per cycle on a one-word-per-cycle bus (a chunk of W non-zero words needs W + 1 input words, so
there the bus, not the unit, limits the rate). Cost: two W-bit entries and a W-bit bitmap
shifter.

Errors, as ``golden.packing.expand_zero_words`` orders them: the compressed stream's last word
(``words.payload.last``) arriving while the job needs more input (truncated), a bitmap marking
words past the job's end, or a word marked non-zero that is zero, end the job with an ``abort``
token after the words produced so far (the rest of a stream is discarded up to its ``last``);
words left after the job's final chunk (over-long) are discarded and the job's final token is
flagged. Nothing malformed is ever passed on as data.
"""

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out


def job_layout(lanes: int, count_bits: int) -> data.StructLayout:
    """A loader job: ``count`` elements from lane ``offset`` of the first word; ``rows`` selects
    row delivery for the diagonal layout."""
    return data.StructLayout({"count": unsigned(count_bits), "offset": unsigned(max(1, (lanes - 1).bit_length())),
                              "rows": unsigned(1)})


def token_layout(word_bits: int, job: data.StructLayout) -> data.StructLayout:
    """A word for the aligner with its job: ``first``/``final`` word of the job, ``empty`` (a
    job of no elements: no word), ``abort`` (malformed stream: no word), ``flag`` (over-long)."""
    return data.StructLayout({"data": unsigned(word_bits), "job": job, "first": 1, "final": 1, "empty": 1,
                              "abort": 1, "flag": 1})


class WordFrontEnd(wiring.Component):
    """Jobs and memory words in, tagged words (tokens) out.

    Ports: ``job`` In stream of ``job_layout``; ``words`` In stream (``data`` W bits, plus
    ``last`` when ``compressed``); ``tokens`` Out stream of ``token_layout``. One token per
    cycle; a job is taken in the cycle its predecessor's final token leaves.
    """

    def __init__(self, word_bits: int, count_bits: int, compressed: bool):
        self._word_bits = word_bits
        self._lanes = word_bits // 4
        self._compressed = compressed
        self._count_bits = count_bits
        job = job_layout(self._lanes, count_bits)
        word = data.StructLayout({"data": unsigned(word_bits), **({"last": 1} if compressed else {})})
        super().__init__({
            "job": In(stream.Signature(job)),
            "words": In(stream.Signature(word)),
            "tokens": Out(stream.Signature(token_layout(word_bits, job))),
        })

    def elaborate(self, platform):
        m = Module()
        lanes = self._lanes
        job = Signal.like(self.job.payload, name="current_job")
        busy = Signal(name="busy")
        empty_pending = Signal(name="empty_pending")
        words_left = Signal(self._count_bits + 1, name="words_left")
        first = Signal(name="first_word")
        tokens = self.tokens
        transfer = tokens.valid & tokens.ready
        final_token = Signal(name="final_token")
        finishing = transfer & (final_token | tokens.payload.abort | tokens.payload.empty)
        can_take_job = Signal(name="can_take_job")

        m.d.comb += [tokens.payload.job.eq(job), tokens.payload.first.eq(first),
                     tokens.payload.final.eq(final_token & ~tokens.payload.abort & ~tokens.payload.empty)]
        with m.If(transfer):
            m.d.sync += first.eq(0)
        with m.If(finishing):
            m.d.sync += [busy.eq(0), empty_pending.eq(0)]
        m.d.comb += self.job.ready.eq(can_take_job & ((~busy & ~empty_pending) | finishing))
        with m.If(empty_pending):
            m.d.comb += [tokens.valid.eq(1), tokens.payload.empty.eq(1)]
        if not self._compressed:
            # words_left == 1 kept as a register: job.ready (through finishing) then does not
            # wait for a compare of the whole count (an iCE40 critical path of the dot engine)
            one_left = Signal(name="one_word_left")
            m.d.comb += [can_take_job.eq(1), final_token.eq(one_left),
                         tokens.payload.data.eq(self.words.payload.data)]
            with m.If(busy):
                m.d.comb += [tokens.valid.eq(self.words.valid), self.words.ready.eq(tokens.ready)]
            with m.If(transfer & busy):
                m.d.sync += [words_left.eq(words_left - 1), one_left.eq(words_left == 2)]
        else:
            self._expander(m, job, busy, words_left, transfer, final_token, can_take_job)
        # a new job last, so its registers win over the finishing job's updates in this cycle
        with m.If(self.job.valid & self.job.ready):
            count, offset = self.job.payload.count, self.job.payload.offset
            # ceil((count + offset) / L) with comparisons instead of a shifted-away sum
            k = lanes.bit_length() - 1
            within = count[:k] + offset if k else offset
            n_words = count[k:] + (within != 0) + (within > lanes)
            m.d.sync += [job.eq(self.job.payload), first.eq(1), words_left.eq(n_words),
                         busy.eq(count != 0), empty_pending.eq(count == 0)]
            if not self._compressed:
                m.d.sync += one_left.eq(n_words == 1)
        return m


    def _expander(self, m, job, busy, words_left, transfer, final_token, can_take_job):
        W = self._word_bits
        tokens, words = self.tokens, self.words
        entry = data.StructLayout({"data": unsigned(W), "last": 1})
        buffer = [Signal(entry, name=f"buffer{i}") for i in range(2)]
        filled = Signal(range(3), name="buffer_filled")
        have_bitmap = Signal(name="have_bitmap")          # inside a chunk (its bitmap taken)
        bitmap = Signal(W, name="bitmap")                  # bit 0 = the current position
        chunk_left = Signal(range(W + 1), name="chunk_left")
        draining = Signal(name="draining")                 # discarding up to the stream's last word
        abort_pending = Signal(name="abort_pending")       # truncated: the abort token comes next
        flag = Signal(name="overlong")

        size = Signal(range(W + 1), name="chunk_size")
        m.d.comb += size.eq(Mux(words_left >= W, W, words_left))
        current = Signal(W, name="current_bitmap")
        m.d.comb += current.eq(Mux(have_bitmap, bitmap, buffer[0].data))
        left = Mux(have_bitmap, chunk_left, size)
        more_chunks = words_left > left
        needs_more = Signal(name="needs_more")             # input needed after this position
        m.d.comb += needs_more.eq(((current >> 1) != 0) | more_chunks)
        data_entry = Signal(entry, name="data_entry")      # the entry a non-zero word comes from
        m.d.comb += data_entry.eq(Mux(have_bitmap, buffer[0].as_value(), buffer[1].as_value()))
        need = Signal(range(3), name="need")               # entries this position takes
        m.d.comb += need.eq(Mux(have_bitmap, current[0], 1 + current[0]))

        at_start = ~have_bitmap & (filled != 0)
        past_end = at_start & (size < W) & ((current >> size) != 0)
        bitmap_truncated = at_start & buffer[0].last & ((current != 0) | more_chunks)
        start_error = Signal(name="start_error")
        m.d.comb += start_error.eq(past_end | bitmap_truncated)
        available = filled >= need
        zero_marked = current[0] & (data_entry.data == 0)
        popped_last = Signal(name="popped_last")           # the last entry this position takes
        m.d.comb += popped_last.eq(Mux(current[0], data_entry.last, buffer[0].last) & (need != 0))
        overlong_now = (need != 0) & ~needs_more & ~popped_last
        pops = Signal(range(3), name="pops")

        m.d.comb += can_take_job.eq(~draining & ~abort_pending)
        with m.If(abort_pending):
            m.d.comb += [tokens.valid.eq(1), tokens.payload.abort.eq(1)]
        with m.Elif(busy & ~draining & start_error):
            m.d.comb += [tokens.valid.eq(1), tokens.payload.abort.eq(1)]
            with m.If(transfer):
                m.d.comb += pops.eq(1)
                m.d.sync += [busy.eq(0), draining.eq(~buffer[0].last)]
        with m.Elif(busy & ~draining & available):
            m.d.comb += [tokens.valid.eq(1), tokens.payload.abort.eq(zero_marked),
                         tokens.payload.data.eq(Mux(current[0], data_entry.data, 0)),
                         tokens.payload.flag.eq(final_token & (flag | overlong_now))]
            with m.If(transfer):
                m.d.comb += pops.eq(need)
                with m.If(zero_marked):
                    m.d.sync += [busy.eq(0), have_bitmap.eq(0), flag.eq(0), draining.eq(~popped_last)]
                with m.Else():
                    m.d.sync += [words_left.eq(words_left - 1), bitmap.eq(current >> 1),
                                 chunk_left.eq(left - 1), have_bitmap.eq(left != 1)]
                    with m.If(overlong_now):
                        m.d.sync += [flag.eq(1), draining.eq(1)]
                    with m.If(popped_last & needs_more):
                        m.d.sync += abort_pending.eq(1)
                    with m.If(final_token):
                        m.d.sync += [flag.eq(0), have_bitmap.eq(0)]
        with m.If(abort_pending & transfer):
            m.d.sync += [abort_pending.eq(0), busy.eq(0), have_bitmap.eq(0), flag.eq(0)]
        with m.If(draining & (filled != 0)):
            m.d.comb += pops.eq(1)
            with m.If(buffer[0].last):
                m.d.sync += draining.eq(0)
        m.d.comb += final_token.eq(words_left == 1)

        # the two-entry buffer: up to two pops from the front, one push at the back
        after = Signal(range(3), name="buffer_after_pops")
        m.d.comb += [after.eq(filled - pops), words.ready.eq(after < 2)]
        push = words.valid & words.ready
        with m.If(pops == 1):
            m.d.sync += buffer[0].eq(buffer[1])
        for i in range(2):
            with m.If(push & (after == i)):
                m.d.sync += buffer[i].eq(words.payload)
        m.d.sync += filled.eq(after + push)
