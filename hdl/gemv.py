"""GEMV wrapper: a weight matrix of M rows against one activation vector, one FP32 result per
row, on a :class:`hdl.DotEngine` (DESIGN §3.5; golden: ``golden.mx.dot`` per row, i.e.
``golden.mx.matmul`` with one column).

Design choice: the activation vector (words and block scales) is written once into on-chip
memories and replayed from them for every row, so the weight stream is the only traffic per row
and the engine keeps its initiation interval of one beat per cycle across rows (the replay
readers prefetch through synchronous read ports and never leave a gap). Cost: ``max_k / lanes``
words of the activation width plus ``max_k / block`` scales of memory (MXFP4, 32 lanes, K 4096:
16 Kbit + 1 Kbit). The next vector is loaded after the current GEMV's last result.
"""

from amaranth.hdl import Mux, Module, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

import golden
from golden.params import check_int

from .dot import COUNT_BITS, DotEngine
from .layouts import float_layout
from .pipeline import UnitParameters


class GEMV(UnitParameters, wiring.Component):
    """``y[r] = dot(W[r], x)`` for ``rows`` rows of ``k`` elements.

    Parameters: ``fmt``, ``lanes``, ``activations`` as :class:`hdl.DotEngine`; ``max_k`` (the
    longest vector the memories hold; a multiple of the block size); ``preset`` (the engine's
    depth preset: ``"unpipelined"``, the default while GEMV's own numbers are measured, or
    ``"fast"``, the engine's default, whose ``partials`` the rows keep; issue 28 step 3).

    Ports:
      - ``job``: In stream: ``rows`` (16 bits) and ``k`` (elements, a multiple of the block, at
        most ``max_k``). Any other ``k`` rejects the job: it reads no vector, no weights and no
        scales, and gives one result with ``error`` and ``last`` set and the canonical NaN.
      - ``x_words``, ``x_scales``: In streams: the activation vector's memory words (the
        engine's ``b_words``) and block scales (absent in mixed mode), once per job.
      - ``w_words``, ``w_scales``: In streams: the weights, row after row (``a_words``,
        ``scale_a`` of the engine).
      - ``result``: Out stream: ``value`` (FP32), ``last`` (the job's final row) and ``error``
        (the job was rejected).

    Latency: the vector's ``k / lanes`` words load first; then one row per ``k / lanes`` cycles
    with no stalls (rows longer than the engine's combine, :func:`hdl.dot.combine_cycles`), each
    result ``engine.latency`` cycles after its row's last beat (4 unpipelined).

    Golden function: ``golden.mx.matmul(W, x, partials=P)`` with one column (``P`` =
    :attr:`partials`), ``golden.mx.dot(W, x_fp16_or_bf16, partials=P)`` per row in mixed mode.
    """

    def __init__(self, fmt="mxfp4", lanes: int | None = None, max_k: int = 4096, activations: str | None = None,
                 *, preset: str = "unpipelined"):
        self._engine = DotEngine(fmt, lanes, activations, preset=preset)
        self._fmt = self._engine.fmt
        self._lanes = self._engine.lanes                  # default: the block size
        self._max_k = check_int("max_k", max_k, self._fmt.block, 1 << 20, multiple_of=self._fmt.block)
        self._mixed = activations is not None
        self._activations_name = activations
        engine = self._engine
        members = {
            "job": In(stream.Signature(data.StructLayout({"rows": unsigned(16), "k": unsigned(COUNT_BITS)}))),
            "x_words": In(stream.Signature(engine.b_words.payload.shape())),
            "w_words": In(stream.Signature(engine.a_words.payload.shape())),
            "w_scales": In(stream.Signature(engine.scale_a.payload.shape())),
            "result": Out(stream.Signature(data.StructLayout({"value": float_layout(golden.FP32), "last": 1,
                                                              "error": 1}))),
        }
        if not self._mixed:
            members["x_scales"] = In(stream.Signature(engine.scale_b.payload.shape()))
        super().__init__(members)

    def _store_and_replay(self, m, name, source, target, depth, count, rows, begin, start):
        """From ``begin``, write ``count`` items from ``source`` into a memory; from ``start``,
        replay them ``rows`` times into ``target``. Returns the count written."""
        shape = source.payload.shape()
        m.submodules[f"{name}_memory"] = memory = Memory(shape=shape, depth=depth, init=[])
        write, read = memory.write_port(), memory.read_port()
        written = Signal(range(depth + 1), name=f"{name}_written")
        loading = Signal(name=f"{name}_loading")
        m.d.comb += [source.ready.eq(loading & (written != count)),
                     write.en.eq(source.valid & source.ready), write.addr.eq(written),
                     write.data.eq(source.payload)]
        with m.If(write.en):
            m.d.sync += written.eq(written + 1)
        index = Signal(range(depth), name=f"{name}_index")
        row = Signal(16, name=f"{name}_row")
        active = Signal(name=f"{name}_active")
        have = Signal(name=f"{name}_have")
        refill = ~have | target.ready
        issue = refill & active
        m.d.comb += [read.en.eq(refill), read.addr.eq(index), target.valid.eq(have),
                     target.payload.eq(read.data)]
        with m.If(refill):
            m.d.sync += have.eq(issue)
        with m.If(issue):
            m.d.sync += index.eq(index + 1)
            with m.If(index == count - 1):
                m.d.sync += [index.eq(0), row.eq(row + 1)]
                with m.If(row == rows - 1):
                    m.d.sync += active.eq(0)
        with m.If(start):
            m.d.sync += [index.eq(0), row.eq(0), active.eq((rows != 0) & (count != 0)), loading.eq(0)]
        with m.If(begin):
            m.d.sync += [written.eq(0), loading.eq(1)]
        return written

    @property
    def partials(self) -> int:
        """The engine's interleaved partial sums: each row equals ``golden.mx.dot(…, partials=P)``."""
        return self._engine.partials

    @property
    def preset(self) -> str:
        """The engine's depth preset."""
        return self._engine.preset

    @property
    def engine(self):
        """The :class:`hdl.DotEngine` inside (its ``latency``, ``partials``, depth)."""
        return self._engine

    @property
    def max_k(self):
        """Longest vector the memories hold."""
        return self._max_k

    @property
    def activations(self):
        return self._activations_name

    def elaborate(self, platform):
        m = Module()
        m.submodules.engine = engine = self._engine
        wiring.connect(m, wiring.flipped(self.w_words), engine.a_words)
        wiring.connect(m, wiring.flipped(self.w_scales), engine.scale_a)
        rows = Signal(16, name="rows")
        k = Signal(COUNT_BITS, name="k")
        busy = Signal(name="busy")
        running = Signal(name="running")
        start = Signal(name="start_rows")
        lanes_log = self._lanes.bit_length() - 1
        block_log = self._fmt.block.bit_length() - 1
        words = k >> lanes_log
        scales = k >> block_log

        begin = Signal(name="begin_job")
        reject = Signal(name="reject_pending")          # a rejected job's error result waits
        job_k = self.job.payload.k
        bad = (job_k[:block_log] != 0) | (job_k > self._max_k)
        m.d.comb += [self.job.ready.eq(~busy & ~reject), begin.eq(self.job.valid & self.job.ready & ~bad)]
        with m.If(self.job.valid & self.job.ready & bad):
            m.d.sync += reject.eq(1)
        word_count = self._store_and_replay(
            m, "x_words", self.x_words, engine.b_words, self._max_k // self._lanes, words, rows, begin, start)
        loaded = (word_count == words)
        if not self._mixed:
            scale_count = self._store_and_replay(
                m, "x_scales", self.x_scales, engine.scale_b, self._max_k // self._fmt.block, scales, rows,
                begin, start)
            loaded = loaded & (scale_count == scales)
        with m.If(begin):
            m.d.sync += [rows.eq(self.job.payload.rows), k.eq(self.job.payload.k), busy.eq(1)]
        m.d.comb += start.eq(busy & ~running & loaded)
        issued = Signal(16, name="rows_issued")
        returned = Signal(16, name="rows_returned")
        with m.If(start):
            m.d.sync += [running.eq(rows != 0), busy.eq(rows != 0), issued.eq(0), returned.eq(0)]
        m.d.comb += [engine.job.valid.eq(running & (issued != rows)), engine.job.payload.k.eq(k)]
        with m.If(engine.job.valid & engine.job.ready):
            m.d.sync += issued.eq(issued + 1)
        m.d.comb += [self.result.valid.eq(engine.result.valid | reject),
                     engine.result.ready.eq(self.result.ready & ~reject),
                     self.result.payload.value.eq(Mux(reject, 0x7FC00000, engine.result.payload.value)),
                     self.result.payload.error.eq(reject),
                     self.result.payload.last.eq(reject | (returned == rows - 1))]
        with m.If(reject & self.result.ready):
            m.d.sync += reject.eq(0)
        with m.If(self.result.valid & self.result.ready & ~reject):
            m.d.sync += returned.eq(returned + 1)
            with m.If(returned == rows - 1):
                m.d.sync += [busy.eq(0), running.eq(0)]
        return m
