"""MX dot-product engine: packed A and B words and their block scales in, one FP32 dot product
per job out, bit-exact with ``golden.mx.dot`` (DESIGN §3.5).

Composed of the earlier units, no arithmetic written twice: two :class:`hdl.PackedLoader`
(memory words → element lanes; FP8 elements travel as nibble pairs), :class:`hdl.Multiplier`
with ``out="fixed"`` (exact products), an exact adder tree (a block's sum fits
``block_sum_width`` bits: 14 for MXFP4), :class:`hdl.ScaleApply` (exponent add and one RNE
rounding to FP32) and :func:`hdl.fpadd.fp32_add` for the block-order accumulation.

Pipeline of ``preset="unpipelined"`` (one register stage each, all advancing together; the
whole pipeline holds while a finished result waits on a stalled ``result`` stream)::

    lanes → [multiply + adder tree] → s1 → [block sum over block/lanes beats] → s2
          → [ScaleApply] → s3 → [acc = fp32(acc + block)] → result

Initiation interval 1: one beat of ``lanes`` element pairs per cycle, so one block per cycle
when ``lanes`` equals the block size (and one per ``block/lanes`` cycles otherwise). Latency:
a job's result is valid four cycles after its last beat leaves the loaders. The accumulation is
a loop (block order is the contract), so there the FP32 adder cannot be cut. The default
``preset="fast"`` cuts every part (:data:`PRESETS`) and interleaves the accumulation over
``partials`` sums (:meth:`DotEngine._interleaved`; DESIGN §4.1), bit-exact with
``golden.mx.dot(…, partials=P)``.
"""

from amaranth.hdl import Array, Cat, Const, EnableInserter, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

import golden
from golden.params import check_choice, check_int
from golden.mx import block_format, check_partials

from .fpadd import MAX_STAGES as ADD_MAX_STAGES, adder_cuts, fp32_add
from .layouts import float_layout
from .loader import PackedLoader, stage_cycles as loader_stage_cycles
from .multiplier import Multiplier, mixed_product
from .scale import STAGE_CUTS as SCALE_STAGE_CUTS, ScaleApply, block_sum_width, mixed_sum_width
from .pipeline import UnitParameters, delayed, skid_register

COUNT_BITS = 24


def adder_tree(values: list, m=None, every: int = 0, enable=None, name: str = "tree"):
    """The exact sum of signed values: a balanced tree, each level one bit wider.

    With ``every`` = k > 0 (and the module ``m``), a register stage follows every k-th level
    except the last (the caller registers the sum), loaded while ``enable`` (None: always);
    the sum then arrives :func:`adder_tree_latency` cycles after its operands. ``every=0`` is
    the combinational tree."""
    every = check_int("every", every, 0, 64)
    if every and m is None:
        raise ValueError("a pipelined adder tree (every > 0) needs the module m")
    level = 0
    while len(values) > 1:
        pairs = [a + b for a, b in zip(values[0::2], values[1::2])]
        values = pairs + ([values[-1]] if len(values) % 2 else [])
        level += 1
        if every and level % every == 0 and len(values) > 1:
            values = [delayed(m, v, 1, f"{name}_l{level}_{i}_", enable) for i, v in enumerate(values)]
    return values[0]


def adder_tree_latency(count: int, every: int) -> int:
    """Register stages of :func:`adder_tree` over ``count`` values with a register every
    ``every`` levels (none after the last level)."""
    levels = (count - 1).bit_length()
    return (levels - 1) // every if every and levels else 0


def queued(m, source, name: str, fields: tuple, depth: int = 3, computed: dict | None = None):
    """The ``fields`` of ``source`` (a stream of a struct) behind a small FIFO: the returned
    stream's ``valid`` and the source's ``ready`` come from registers, which cuts a ready/valid
    chain (a pipelined engine between its loaders and its multipliers). One transfer per cycle
    when neither side stalls. ``computed`` (name → a value of the source's payload) adds fields
    computed before the queue, so that logic the consumer's ``ready`` would depend on starts
    from the queue's output register (the dot engine's ``empty``: a beat without lanes)."""
    members = source.payload.shape().members
    computed = {name: Value.cast(value) for name, value in (computed or {}).items()}
    layout = data.StructLayout({**{f: members[f] for f in fields},
                                **{f: unsigned(len(v)) for f, v in computed.items()}})
    raw = Cat(*(Value.cast(getattr(source.payload, f)) for f in fields), *computed.values())
    buffer = fifo.SyncFIFOBuffered(width=len(raw), depth=depth)
    m.submodules[name] = buffer
    out = stream.Signature(layout).create(path=(name,))
    m.d.comb += [buffer.w_data.eq(raw), buffer.w_en.eq(source.valid), source.ready.eq(buffer.w_rdy),
                 out.valid.eq(buffer.r_rdy), Value.cast(out.payload).eq(buffer.r_data), buffer.r_en.eq(out.ready)]
    return out


def lane_element(beat, lane: int, nibbles: int, bits: int):
    """Element ``lane`` of a loader beat whose elements travel as ``nibbles`` 4-bit lanes each."""
    return Cat(*(beat.codes[lane * nibbles + j] for j in range(nibbles)))[:bits]


def result_register(m, result):
    """A dot engine's output register: a finished result waits in it while ``result`` stalls,
    and the pipeline before it advances only while it is empty or being taken. Returns
    ``(advance, publish)``: ``publish(value)``, called under the conditions that finish a job,
    loads ``value`` (the payload's raw bits) and raises ``valid``."""
    raw = Value.cast(result.payload)
    valid = Signal(name="result_valid")
    payload = Signal(len(raw), name="result_data")
    advance = Signal(name="advance")
    m.d.comb += [advance.eq(~valid | result.ready), result.valid.eq(valid), raw.eq(payload)]
    with m.If(result.valid & result.ready):
        m.d.sync += valid.eq(0)

    def publish(value):
        m.d.sync += [payload.eq(value), valid.eq(1)]
    return advance, publish


def result_layout():
    """A dot engine's result: the FP32 ``value`` (bits 0..31) and ``error`` (bit 32)."""
    return data.StructLayout({"value": float_layout(golden.FP32), "error": 1})


# What a pipelined engine's queues add in front of a job's first result (SyncFIFOBuffered: the
# write, then its output register; 2 cycles each): the lanes queues after the loaders, and with
# unregistered loaders (load_stages=0) the two-entry job queue before them (registered loaders
# have a job queue each that adds nothing, :func:`operand_loaders`).
LANES_QUEUE_CYCLES = 2
JOB_QUEUE_CYCLES = 2

# Jobs in flight between acceptance and result (loader queues, pipeline stages, the result
# register) fit easily; a full queue only holds the next job back.
ERROR_QUEUE_DEPTH = 16


def checked_jobs(m, job, block: int, queued: bool = False):
    """Jobs whose ``k`` is a multiple of ``block`` pass unchanged; any other is passed on as an
    empty job (``k = 0``: no words, no scales, an in-order result) and its error bit is queued.
    Returns the job stream the loaders take and the queue whose head is the error bit of the
    oldest job without a result (read with ``r_en`` when that result is made). ``queued``: the
    jobs pass through a two-entry FIFO, so that ``job.ready`` and the error queue's write come
    from registers instead of the loaders' ready chain (a pipelined engine's critical path)."""
    m.submodules.job_errors = errors = fifo.SyncFIFOBuffered(width=1, depth=ERROR_QUEUE_DEPTH)
    inner = stream.Signature(job.payload.shape()).create(path=("checked_job",))
    bad = job.payload.k[:block.bit_length() - 1] != 0
    if queued:
        m.submodules.job_queue = queue = fifo.SyncFIFOBuffered(width=len(job.payload.k), depth=2)
        m.d.comb += [job.ready.eq(queue.w_rdy & errors.w_rdy), queue.w_en.eq(job.valid & job.ready),
                     queue.w_data.eq(Mux(bad, 0, job.payload.k)),
                     inner.valid.eq(queue.r_rdy), inner.payload.k.eq(queue.r_data), queue.r_en.eq(inner.ready),
                     errors.w_en.eq(job.valid & job.ready), errors.w_data.eq(bad)]
        return inner, errors
    m.d.comb += [inner.valid.eq(job.valid & errors.w_rdy), job.ready.eq(inner.ready & errors.w_rdy),
                 inner.payload.k.eq(Mux(bad, 0, job.payload.k)),
                 errors.w_en.eq(job.valid & job.ready), errors.w_data.eq(bad)]
    return inner, errors


def operand_loaders(m, job, a_words, b_words, word_bits: tuple, nibbles: tuple, stages: int = 0):
    """The front end of a dot engine: two :class:`PackedLoader` (``a`` and ``b`` words → element
    lanes) fed from one ``job`` stream (``k`` elements; each loader counts ``k × nibbles`` of its
    4-bit lanes). A job is latched once and handed to each loader when that loader takes it; a
    new job may come in the cycle both take the pending one (no gap between jobs). Registered
    loaders (``stages`` > 0) have a two-entry job queue each instead, whose ``ready`` is a
    register (:func:`hdl.pipeline.skid_register`). Returns the
    two loaders (``stages``: each loader's token and beat registers, :class:`PackedLoader`), whose
    ``lanes`` streams the engine consumes."""
    loaders = []
    for name, words, bits in (("a", a_words, word_bits[0]), ("b", b_words, word_bits[1])):
        loader = PackedLoader(bits, count_bits=COUNT_BITS + 2, stages=stages)
        m.submodules[f"loader_{name}"] = loader
        wiring.connect(m, wiring.flipped(words), loader.words)
        loaders.append(loader)
    if stages:
        # a registered front end: a two-entry job queue per loader (a skid buffer: the head in a
        # register, ``ready`` a register), so that neither loader's job handshake waits for the
        # other's and ``job.ready`` comes from registers (the shared handshake below joined both
        # loaders' front ends in one path, the iCE40's longest); the same latency as below (a
        # job reaches its loaders the cycle after it is taken); a loader may run one job ahead
        heads = []
        for name, n in zip("ab", nibbles):
            entry = stream.Signature(unsigned(COUNT_BITS)).create(path=(f"job_{name}",))
            m.d.comb += [entry.valid.eq(job.valid & job.ready), entry.payload.eq(job.payload.k)]
            heads.append((entry, skid_register(m, entry, f"job_queue_{name}"), n))
        m.d.comb += job.ready.eq(heads[0][0].ready & heads[1][0].ready)
        for loader, (_, head, n) in zip(loaders, heads):
            m.d.comb += [loader.job.valid.eq(head.valid), loader.job.payload.count.eq(head.payload * n),
                         head.ready.eq(loader.job.ready)]
        return loaders
    pending = Signal(2, name="job_pending")
    k = Signal(COUNT_BITS, name="job_k")
    m.d.comb += job.ready.eq((~pending[0] | loaders[0].job.ready) & (~pending[1] | loaders[1].job.ready))
    for i, loader in enumerate(loaders):
        m.d.comb += [loader.job.valid.eq(pending[i]), loader.job.payload.count.eq(k * nibbles[i])]
        with m.If(loader.job.valid & loader.job.ready):
            m.d.sync += pending[i].eq(0)
    with m.If(job.valid & job.ready):
        m.d.sync += [k.eq(job.payload.k), pending.eq(0b11)]
    return loaders


# The depth presets (DESIGN §4.1). "fast": the per-part depths measured to reach 250 MHz in
# SG13G2 (typical corner) with the 8-lane MXFP4 engine: 3.98 ns (docs/report, "Pipelined dot engines"); the FP32
# accumulator adder as deep as keeps jobs of k = 1024 back to back (:func:`fast_add_stages`).
# "unpipelined": the four-stage engine of earlier releases (latency 4, one partial sum).
PRESETS = {
    "fast": {"mul_stages": 1, "tree_every": 2, "scale_stages": 6},
    "unpipelined": {"mul_stages": 0, "tree_every": 0, "scale_stages": 0, "load_stages": 0, "add_stages": 0},
}

# The job length the fast preset keeps at one beat per cycle back to back (issue 28: k >= 1024).
BACK_TO_BACK_K = 1024


def fewest_partials(add_stages: int, beats: int) -> int:
    """The fewest interleaved partial sums (a power of two) with which an accumulator adder of
    ``add_stages`` stages, fed a block every ``beats`` cycles, never reads a partial sum before
    its last addition lands: P × beats > add_stages."""
    need = -(-(add_stages + 1) // beats)
    return 1 << (need - 1).bit_length()


def combine_cycles(add_stages: int, partials: int) -> int:
    """Cycles a bank stays held after its job's last block, at most (:meth:`DotEngine._combine`):
    the L = ``add_stages`` cycles of the additions in flight, then the P / 2 pairs level 0 reads
    from it, each possibly after a cycle granted to a deeper level of the job before (P/2 - 1 at
    most), and the cycle that frees it (one publishing cycle for P = 1). A job of more beats than
    this keeps the engine at one beat per cycle back to back."""
    return add_stages + max(partials - 1, 1)


def fast_add_stages(lanes: int, block: int) -> int:
    """The fast preset's accumulator adder depth: the deepest (at most 10) whose combine, with
    the fewest partial sums, is shorter than a job of k = 1024 (1024 / lanes beats): 10 for
    8, 16 and 32 lanes (P = 4, 8 and 16; at 32 lanes a bank is held 25 cycles against a job's
    32 beats)."""
    beats, job = block // lanes, BACK_TO_BACK_K // lanes
    return max(s for s in range(ADD_MAX_STAGES + 1) if combine_cycles(s, fewest_partials(s, beats)) < job)


def fast_load_stages(lanes: int) -> int:
    """The fast preset's loader stages: 3 (the token register a skid buffer) at 8 lanes, whose
    engine fits an iCE40 HX8K, where the loaders' ready path was the longest: 89.02 → 98.61 MHz
    (``synth.nextpnr.fmax``, seed 1), for 124 more flip-flops, 4.5 % more SG13G2 area and 3 %
    more energy per MAC (``fp4hw synth dot --lanes 8 --load-stages 2 --lib sg13g2 --json``
    against the default); 2 from 16 lanes, whose wider token would cost more for an engine too
    big for the HX8K."""
    return 3 if lanes <= 8 else 2


def engine_depth(fmt="mxfp4", lanes: int | None = None, *, preset: str = "fast", partials: int | None = None,
                 **depths) -> dict:
    """What ``DotEngine(fmt, lanes, preset=…, partials=…, **depths)`` resolves its depth to,
    checked, without building it: ``lanes``, ``partials`` and each stage count (a depth given
    as None takes the preset's)."""
    block = block_format(fmt).block
    # default lanes: one block per beat (32 for the MX formats, 16 for NVFP4, which a fixed
    # default of 32 would refuse for a parameter the user never gave)
    lanes = check_int("lanes", block if lanes is None else lanes, 8, block, power_of_two=True)
    check_choice("preset", preset, tuple(PRESETS))
    unknown = sorted(set(depths) - {"mul_stages", "tree_every", "scale_stages", "add_stages", "load_stages"})
    if unknown:
        raise TypeError(f"engine_depth() got unexpected depth parameters {unknown}")
    beats = block // lanes
    depth = dict(PRESETS[preset])
    depth.setdefault("add_stages", fast_add_stages(lanes, block))
    depth.setdefault("load_stages", fast_load_stages(lanes))
    depth.update({k: v for k, v in depths.items() if v is not None})
    resolved = {"lanes": lanes,
                "mul_stages": check_int("mul_stages", depth["mul_stages"], 0, 3),
                "tree_every": check_int("tree_every", depth["tree_every"], 0, 16),
                "scale_stages": check_int("scale_stages", depth["scale_stages"], 0, max(SCALE_STAGE_CUTS)),
                "add_stages": check_int("add_stages", depth["add_stages"], 0, ADD_MAX_STAGES),
                "load_stages": check_int("load_stages", depth["load_stages"], 0, 3)}
    add = resolved["add_stages"]
    resolved["partials"] = check_partials(fewest_partials(add, beats) if partials is None else partials)
    if resolved["partials"] * beats < add + 1:
        raise ValueError(f"partials={partials}: with add_stages={add} and a block every {beats} beat(s) ({lanes} "
                         f"lanes), a partial sum is read before its last addition lands; partials must be >= "
                         f"{fewest_partials(add, beats)}")
    return resolved


class DotEngine(UnitParameters, wiring.Component):
    """Bit-exact block-scaled dot products (see the module docstring for the pipeline).

    Parameters: ``fmt`` (``"mxfp4"``, ``"nvfp4"``, ``"mxfp8_e4m3"``, ``"mxfp8_e5m2"`` or a
    ``golden.mx.BlockFormat``), ``lanes`` (element pairs per cycle: a power of two from 8 to the
    block size; default the block size), ``activations`` (None, or ``"fp16"`` / ``"bf16"``: mixed mode, MX weights in
    ``a`` times unscaled FP16/BF16 activations in ``b``; each product exact on the grid of the
    smallest product, the block scaled by ``scale_a`` and rounded once by ``ScaleApply(mode=
    "mixed")``).

    Depth (DESIGN §4.1): ``preset`` ``"fast"`` (default) takes the per-part depths below that
    reach 250 MHz in SG13G2 with 8 lanes (:data:`PRESETS`; the accumulator adder as deep as
    keeps jobs of k = 1024 back to back, :func:`fast_add_stages`); ``"unpipelined"`` is the
    four-stage engine of earlier releases (every depth 0, one partial sum, latency 4). A depth
    parameter given explicitly overrides the preset's; ``partials`` defaults to the fewest the
    accumulator adder needs (:func:`fewest_partials`).
      - ``mul_stages`` (0..3): the multiplier's stages (output register, then cuts inside the
        FP8 product); ``tree_every`` (0..16): a register after every k-th level of the lanes'
        adder tree; ``scale_stages`` (0..6): ScaleApply's cut stages. These registers hold with
        the rest of the engine (the result register's back-pressure).
      - ``load_stages`` (0..3): the loaders' token register between their word front ends and
        aligners, with 2 their beat register after the aligners, with 3 the token register a
        skid buffer (:class:`PackedLoader` ``stages``; the fast preset: 3 at 8 lanes, 2 above,
        :func:`fast_load_stages`).
      - ``add_stages`` (0..10): cut stages of the FP32 accumulator adder, behind ``partials`` =
        P interleaved partial sums (DESIGN §3.5) in two banks, with a combine unit of its own
        (see :meth:`_interleaved`). P × (block / lanes) must exceed ``add_stages``.
      - ``latency``: cycles from a job's last beat to its result with no stalls (a job alone:
        its combine takes ``add_stages`` + Σ(P/2^l + ``add_stages``) + 1 cycles). Back to back,
        jobs of more beats than a bank is held (:func:`combine_cycles`: ``add_stages`` + P - 1)
        keep one beat per cycle: the combine's levels overlap successive jobs.

    Ports:
      - ``job``: In stream, ``k``: elements of this dot product (a multiple of the block size; 0
        gives +0). A job whose ``k`` is not a multiple of the block is rejected: it reads no
        words and no scales, and its result (in job order) is the canonical NaN with ``error``
        set; golden raises ValueError for such a ``k``.
      - ``a_words``, ``b_words``: In streams of ``data`` (``lanes × element bits`` wide: MXFP4
        lanes 32 → 128-bit words; mixed mode ``b``: ``lanes × 16``): the operands' linear
        memory images.
      - ``scale_a``, ``scale_b``: In streams, one scale code per block, in block order
        (``scale_b`` absent in mixed mode).
      - ``result``: Out stream, one per job: ``value`` (FP32, ``float_layout(FP32)``, bits
        0..31) and ``error`` (bit 32: the job was rejected).

    Golden function: ``golden.mx.dot(qa, qb, partials=P)`` (without NVFP4 per-tensor scales,
    which multiply the FP32 result afterwards), ``golden.mx.dot(qa, b_fp16_or_bf16,
    partials=P)`` in mixed mode; NaN results are 0x7FC00000.
    """

    def __init__(self, fmt="mxfp4", lanes: int | None = None, activations: str | None = None, *,
                 preset: str = "fast", partials: int | None = None, mul_stages: int | None = None,
                 tree_every: int | None = None, scale_stages: int | None = None, add_stages: int | None = None,
                 load_stages: int | None = None):
        self._fmt = block_format(fmt)
        depth = engine_depth(self._fmt, lanes, preset=preset, partials=partials, mul_stages=mul_stages,
                             tree_every=tree_every, scale_stages=scale_stages, add_stages=add_stages,
                             load_stages=load_stages)
        self._lanes, self._preset, self._partials = depth["lanes"], preset, depth["partials"]
        self._mul_stages, self._tree_every, self._scale_stages = (depth[k] for k in ("mul_stages", "tree_every",
                                                                                    "scale_stages"))
        self._add_stages, self._load_stages = depth["add_stages"], depth["load_stages"]
        self._element_bits = self._fmt.element.bits
        if self._element_bits not in (4, 8):
            raise ValueError(f"fmt={self._fmt.name}: elements must be 4 or 8 bits")
        self._word_bits = self._lanes * self._element_bits
        self._nibbles = self._element_bits // 4
        self._activation = None
        if activations is not None:
            check_choice("activations", activations, ("fp16", "bf16"))
            if not self._fmt.is_mx:
                raise ValueError(f"activations: mixed mode takes MX (E8M0-scaled) weights, not {self._fmt.name}")
            self._activation = golden.ieee_format(activations)
        self._b_bits = self._word_bits if self._activation is None else self._lanes * 16
        scale = unsigned(self._fmt.scale.bits)
        members = {
            "job": In(stream.Signature(data.StructLayout({"k": unsigned(COUNT_BITS)}))),
            "a_words": In(stream.Signature(data.StructLayout({"data": unsigned(self._word_bits)}))),
            "b_words": In(stream.Signature(data.StructLayout({"data": unsigned(self._b_bits)}))),
            "scale_a": In(stream.Signature(scale)),
            "result": Out(stream.Signature(result_layout())),
        }
        if self._activation is None:
            members["scale_b"] = In(stream.Signature(scale))
        super().__init__(members)

    @property
    def partials(self) -> int:
        """Interleaved FP32 partial sums (DESIGN §3.5): the engine equals
        ``golden.mx.dot(…, partials=partials)``."""
        return self._partials

    @property
    def preset(self) -> str:
        """The depth preset the parameters started from (``"fast"`` or ``"unpipelined"``)."""
        return self._preset

    @property
    def pipelined(self) -> bool:
        """Whether any depth is in effect (False: the four-stage engine, ``preset="unpipelined"``)."""
        return bool(self._mul_stages or self._tree_every or self._scale_stages or self._add_stages
                    or self._load_stages or self._partials > 1)

    def _tree_latency(self) -> int:
        return adder_tree_latency(self._lanes, self._tree_every)

    @property
    def job_delay(self) -> int:
        """Cycles a pipelined engine's job and lanes queues and the loaders' token registers add
        in front of a job's first result (0 unpipelined); they do not change the steady rate."""
        if not self.pipelined:
            return 0
        job_queue = 0 if self._load_stages else JOB_QUEUE_CYCLES     # registered loaders queue jobs themselves
        return LANES_QUEUE_CYCLES + job_queue + loader_stage_cycles(self._load_stages)

    @property
    def latency(self) -> int:
        """Cycles from the cycle a job's last beat is taken to the cycle its result is valid,
        with no stalls (4 for the unpipelined engine)."""
        to_s3 = self._mul_stages + self._tree_latency() + self._scale_stages + 3
        if not self.pipelined:
            return to_s3 + 1
        add, p = self._add_stages, self._partials
        combine = sum((p >> (level + 1)) + add for level in range(p.bit_length() - 1))
        return to_s3 + 1 + add + combine + 1

    @property
    def word_bits(self) -> int:
        return self._word_bits

    @property
    def b_word_bits(self) -> int:
        return self._b_bits

    @property
    def activations(self):
        """Mixed-mode activation format (None: MX × MX)."""
        return self._activation

    def elaborate(self, platform):
        m = Module()
        mixed = self._activation is not None
        job, job_errors = checked_jobs(m, self.job, self._fmt.block,
                                      queued=self.pipelined and not self._load_stages)
        la, lb = operand_loaders(m, job, self.a_words, self.b_words, (self._word_bits, self._b_bits),
                                 (self._nibbles, 4 if mixed else self._nibbles), self._load_stages)
        free, publish = result_register(m, self.result)
        if self.pipelined:
            advance = Signal(name="advance_upstream")     # driven by the interleaved accumulator
        else:
            advance = free
        lanes_a, lanes_b = la.lanes, lb.lanes
        if self.pipelined:                                   # cut the loaders' ready chain
            # a beat's emptiness is computed before the queue: take (the queues' read enable)
            # then starts from the queue's register, not from a compare of its mask (iCE40 path)
            lanes_a = queued(m, lanes_a, "lanes_a_queue", ("codes", "last"),
                             computed={"empty": lanes_a.payload.mask == 0})
            lanes_b = queued(m, lanes_b, "lanes_b_queue", ("codes",))
        s0 = self._beat(m, lanes_a, lanes_b, advance)
        s1 = self._registered_beat(m, s0, advance)
        s2 = self._block_sum(m, s1, advance)
        s3 = self._block_value(m, s2, advance)
        if self.pipelined:
            self._interleaved(m, s3, advance, free, job_errors, publish)
        else:
            self._accumulate(m, s3, advance, job_errors, publish)
        return m

    def _beat(self, m, lanes_a, lanes_b, advance) -> dict:
        """Stage 0: a beat from both loaders (taken with the block's scales at a block's last
        beat), its lane products and their exact sum, and the position within the block."""
        fmt, lanes = self._fmt, self._lanes
        beats_per_block = fmt.block // lanes
        position = Signal(range(beats_per_block), name="beat_in_block")
        beat_a, beat_b = lanes_a.payload, lanes_b.payload
        both = lanes_a.valid & lanes_b.valid
        empty = beat_a.empty if self.pipelined else beat_a.mask == 0
        block_end = ~empty & (position == beats_per_block - 1)
        scale_b = None if self._activation is not None else self.scale_b
        scales_ok = ~block_end | (self.scale_a.valid & (scale_b.valid if scale_b is not None else 1))
        take = Signal(name="take_beat")
        m.d.comb += [take.eq(both & scales_ok & advance), lanes_a.ready.eq(take), lanes_b.ready.eq(take),
                     self.scale_a.ready.eq(take & block_end)]
        if scale_b is not None:
            m.d.comb += scale_b.ready.eq(take & block_end)
        width, products, beat_flags = self._products(m, beat_a, beat_b, advance)
        beat_sum = Signal(signed(width), name="beat_sum")
        m.d.comb += beat_sum.eq(adder_tree(products, m, self._tree_every, advance, "tree"))
        with m.If(take & ~empty):
            m.d.sync += position.eq(Mux(block_end, 0, position + 1))
        # What travels beside the products: delayed as they are (multiplier and tree stages).
        tree = self._tree_latency()
        late = self._mul_stages + tree
        side = {"take": take, "empty": empty, "block_end": block_end, "last": beat_a.last,
                "scale_a": self.scale_a.payload, "scale_b": scale_b.payload if scale_b is not None else None}
        side = {k: (delayed(m, v, late, f"beat_{k}", advance) if v is not None else None) for k, v in side.items()}
        return {**side, "sum": beat_sum, "flags": delayed(m, beat_flags, tree, "beat_flags", advance),
                "width": width}

    def _products(self, m, beat_a, beat_b, advance):
        """The lanes' exact products, the block-sum width and the beat's special flags (FP8:
        an invalid product; mixed mode: NaN, +Inf, -Inf), ``mul_stages`` cycles after the beat."""
        fmt, lanes = self._fmt, self._lanes
        if self._activation is not None:
            products, flags = [], []
            for lane in range(lanes):
                value, nan, inf, sign = mixed_product(m, lane_element(beat_a, lane, self._nibbles, fmt.element.bits),
                                                      fmt.element, lane_element(beat_b, lane, 4, 16), self._activation,
                                                      f"lane{lane}")
                products.append(value)
                flags.append(Cat(nan, inf & ~sign, inf & sign))
            beat_flags = Cat(*(Cat(*(f[i] for f in flags)).any() for i in range(3)))   # nan, +inf, -inf
            stages = self._mul_stages
            products = [delayed(m, v, stages, f"product{i}", advance) for i, v in enumerate(products)]
            return mixed_sum_width(fmt, self._activation), products, delayed(m, beat_flags, stages, "flags", advance)
        mul = Multiplier(fmt.element, out="fixed", lanes=lanes, stages=self._mul_stages)
        m.submodules.multiplier = EnableInserter(advance)(mul) if self._mul_stages else mul
        n = self._nibbles
        for lane in range(lanes):
            m.d.comb += [mul.a[lane].eq(lane_element(beat_a, lane, n, fmt.element.bits)),
                         mul.b[lane].eq(lane_element(beat_b, lane, n, fmt.element.bits))]
        products = [mul.product[lane] for lane in range(lanes)]
        beat_flags = mul.invalid.as_value().any() if "invalid" in mul.signature.members else Const(0, 1)
        return block_sum_width(fmt), products, beat_flags

    def _registered_beat(self, m, s0, advance) -> dict:
        """Stage 1: the beat's sum, flags, position and scales, registered."""
        fmt, flag_bits = self._fmt, len(Value.cast(s0["flags"]))
        s1 = {name: Signal(shape, name=f"s1_{name}") for name, shape in (
            ("valid", 1), ("sum", signed(s0["width"])), ("invalid", flag_bits), ("block_end", 1), ("job_end", 1),
            ("empty", 1), ("scale_a", fmt.scale.bits), ("scale_b", fmt.scale.bits))}
        empty = s0["empty"]
        with m.If(advance):
            m.d.sync += [s1["valid"].eq(s0["take"]), s1["sum"].eq(Mux(empty, 0, s0["sum"])),
                         s1["invalid"].eq(Mux(empty, 0, s0["flags"])), s1["block_end"].eq(s0["block_end"]),
                         s1["job_end"].eq(s0["last"]), s1["empty"].eq(empty),
                         s1["scale_a"].eq(s0["scale_a"])]
            if s0["scale_b"] is not None:
                m.d.sync += s1["scale_b"].eq(s0["scale_b"])
        return s1

    def _block_sum(self, m, s1, advance) -> dict:
        """Stage 2: a whole block's exact sum (over block / lanes beats) and its flags."""
        fmt, width, flag_bits = self._fmt, len(s1["sum"]), len(s1["invalid"])
        partial = Signal(signed(width), name="block_partial")
        partial_invalid = Signal(flag_bits, name="block_partial_flags")
        s2 = {name: Signal(shape, name=f"s2_{name}") for name, shape in (
            ("valid", 1), ("total", signed(width)), ("invalid", flag_bits), ("job_end", 1), ("empty", 1),
            ("scale_a", fmt.scale.bits), ("scale_b", fmt.scale.bits))}
        with m.If(advance):
            m.d.sync += s2["valid"].eq(s1["valid"] & (s1["block_end"] | s1["empty"]))
            m.d.sync += [s2["total"].eq(partial + s1["sum"]), s2["invalid"].eq(partial_invalid | s1["invalid"]),
                         s2["job_end"].eq(s1["job_end"]), s2["empty"].eq(s1["empty"]),
                         s2["scale_a"].eq(s1["scale_a"]), s2["scale_b"].eq(s1["scale_b"])]
            with m.If(s1["valid"]):
                with m.If(s1["block_end"] | s1["empty"]):
                    m.d.sync += [partial.eq(0), partial_invalid.eq(0)]
                with m.Else():
                    m.d.sync += [partial.eq(partial + s1["sum"]), partial_invalid.eq(partial_invalid | s1["invalid"])]
        return s2

    def _block_value(self, m, s2, advance) -> dict:
        """Stage 3: the block's FP32 value (:class:`hdl.ScaleApply`), registered."""
        fmt = self._fmt
        stages = self._scale_stages
        if self._activation is not None:
            scale = ScaleApply(fmt, mode="mixed", input=self._activation.name.lower(), stages=stages)
            nan, pos_inf, neg_inf = s2["invalid"][0], s2["invalid"][1], s2["invalid"][2]
            special = Mux(nan | (pos_inf & neg_inf), 3, Mux(pos_inf, 1, Mux(neg_inf, 2, 0)))
            m.d.comb += [scale.total.eq(s2["total"]), scale.scale.eq(s2["scale_a"]), scale.special.eq(special)]
        else:
            scale = ScaleApply(fmt, stages=stages)
            m.d.comb += [scale.total.eq(s2["total"]), scale.scale_a.eq(s2["scale_a"]), scale.scale_b.eq(s2["scale_b"])]
            if "invalid" in scale.signature.members:
                m.d.comb += scale.invalid.eq(s2["invalid"])
        m.submodules.scale = EnableInserter(advance)(scale) if stages else scale
        s3 = {name: Signal(shape, name=f"s3_{name}") for name, shape in (
            ("valid", 1), ("value", 32), ("job_end", 1), ("empty", 1))}
        late = {k: delayed(m, s2[k], stages, f"s2d_{k}", advance) for k in ("valid", "job_end", "empty")}
        with m.If(advance):
            # ``ending`` (valid and job_end in one register): the accumulator's hold decision is
            # then one gate from registers before its fanout (an iCE40 path)
            m.d.sync += [s3["valid"].eq(late["valid"]), s3["value"].eq(scale.result.as_value()),
                         s3["job_end"].eq(late["job_end"]), s3["empty"].eq(late["empty"])]
            if self.pipelined:
                s3["ending"] = Signal(name="s3_ending")
                m.d.sync += s3["ending"].eq(late["valid"] & late["job_end"])
        return s3

    def _interleaved(self, m, s3, advance, free, job_errors, publish) -> None:
        """Stage 4 when pipelined: ``partials`` = P interleaved FP32 sums in two banks, an
        ``add_stages`` = L stage accumulator adder that never holds, and a combine unit with
        its own adder of the same stages (:meth:`_combine`).

        Block j of a job is added into partial j mod P of the job's bank (each result is written
        back L cycles after it was issued; P × beats-per-block > L, checked at construction, so
        a partial is never read before its last addition lands). At a job's last block the bank
        goes to the combine unit and the next job accumulates in the other bank at once. L
        cycles later (the additions in flight have landed) the combine unit reads the bank's P
        partials in pairs and clears it; the rest of DESIGN §3.5's fixed tree runs in the combine
        unit's own registers, so the bank is free again ``combine_cycles(L, P)`` cycles after the
        job's last block at the latest. The stages before hold only when a job ends while the
        other bank is still held, i.e. for jobs of at most that many beats: back to back,
        longer jobs lose no cycle."""
        p, stages = self._partials, self._add_stages
        levels = p.bit_length() - 1
        index_bits = max(levels, 1)
        banks = Array(Array(Signal(32, name=f"bank{b}_partial{i}") for i in range(p)) for b in range(2))
        bank = Signal(name="acc_bank")                       # where the current job accumulates
        busy = Array(Signal(name=f"bank{b}_held") for b in range(2))

        # The accumulator adder: free-running, its operation's bank and partial carried beside.
        cuts = adder_cuts(m, stages, name="acc")
        issue = Signal(name="acc_issue")
        index = Signal(index_bits, name="acc_index")          # the partial of the job's next block
        partial = banks[bank][index]
        carried = [cuts.carry(issue), cuts.carry(bank), cuts.carry(index)]
        total = fp32_add(m, partial, s3["value"], "acc_add", cuts)
        landed, landed_bank, landed_index = (cuts.get(h) for h in carried)
        with m.If(landed):
            m.d.sync += banks[landed_bank][landed_index].eq(total)

        m.d.comb += advance.eq(~(s3["ending"] & busy[~bank]))
        start = Signal(name="combine_start")
        with m.If(advance & s3["valid"]):
            with m.If(~s3["empty"]):
                m.d.comb += issue.eq(1)
                m.d.sync += index.eq(index + 1 if p > 1 else 0)
            with m.If(s3["job_end"]):
                m.d.comb += start.eq(1)
                m.d.sync += [index.eq(0), bank.eq(~bank), busy[bank].eq(1)]
        self._combine(m, banks, bank, busy, start, free, job_errors, publish)

    def _combine(self, m, banks, bank, busy, start, free, job_errors, publish) -> None:
        """The combine unit of :meth:`_interleaved`: one stage per level of the fixed tree, then
        the publishing stage, all sharing one adder of L stages.

        A job enters level 0 L cycles after its last block (a free-running delay: the additions
        in flight have landed; at most one job is held, ``busy``). Level l reads its P / 2^l
        inputs in pairs (op i: inputs 2i and 2i + 1), one pair per cycle the shared adder grants
        it (the deepest level first), waits L cycles for the sums to land in the next level's
        registers, and hands the job on when that level is idle. Level 0's inputs are the bank,
        cleared (and freed) as its last pair is read; the last level's sum goes to the
        publishing stage, which loads the result register when it is free (job order: every
        stage takes jobs in order). A job alone takes L + Σ_l(P/2^(l+1) + L) + 1 cycles, as
        the one-job-at-a-time combine did; back to back, the stages overlap successive jobs."""
        p, stages = self._partials, self._add_stages
        levels = p.bit_length() - 1
        IDLE, ISSUE, WAIT, FULL = range(4)
        source = Signal(name="combine_bank")                 # the bank level 0 (or publish) reads
        with m.If(start):
            m.d.sync += source.eq(bank)
        drained = delayed(m, start, stages, "combine_drain")
        pending = Signal(name="combine_pending")
        publishing = Signal(name="combine_publishing")
        state = [Signal(2, name=f"combine{level}_state") for level in range(levels)]
        # level l's inputs: the bank for l = 0, else its own P / 2^l registers; the sum of the
        # last level is the result
        inputs = [banks[source]] + [Array(Signal(32, name=f"combine{level}_in{i}") for i in range(p >> level))
                                    for level in range(1, levels + 1)]
        # A level takes a job when idle. It cannot overwrite inputs the next level still reads:
        # while a level issues, every shallower level waits at the adder (deepest first), so its
        # sums land only after those reads. The publishing stage reads the last sum for as long
        # as the result stalls, so the last level takes a job only while nothing waits there.
        ready = [Signal(name=f"combine{level}_ready") for level in range(levels + 1)]
        for level in range(levels):
            last_level = level + 1 == levels
            m.d.comb += ready[level].eq((state[level] == IDLE) & (~publishing if last_level else 1))
        m.d.comb += ready[levels].eq(~publishing)
        offer = [Signal(name=f"combine{level}_offer") for level in range(levels + 1)]
        m.d.comb += offer[0].eq(drained | pending)
        with m.If(drained & ~ready[0]):
            m.d.sync += pending.eq(1)
        with m.If(offer[0] & ready[0]):
            m.d.sync += pending.eq(0)

        # The shared adder: one pair per cycle, the deepest requesting level first.
        if levels:
            op = [Signal(range(max(p >> (level + 1), 2)), name=f"combine{level}_op") for level in range(levels)]
            wait = [Signal(range(max(stages, 1)), name=f"combine{level}_wait") for level in range(levels)]
            grant = [Signal(name=f"combine{level}_grant") for level in range(levels)]
            for level in range(levels):
                deeper = [state[d] == ISSUE for d in range(level + 1, levels)]
                m.d.comb += grant[level].eq((state[level] == ISSUE) & ~Cat(*deeper).any() if deeper
                                            else state[level] == ISSUE)
            cuts = adder_cuts(m, stages, name="combine")
            left, right, which_level, which_op = Const(0, 32), Const(0, 32), Const(0, 1), Const(0, 1)
            for level in range(levels):                      # the deepest last: it wins the Mux chain
                pair = 2 * op[level]
                left = Mux(grant[level], inputs[level][pair], left)
                right = Mux(grant[level], inputs[level][pair + 1], right)
                which_level = Mux(grant[level], level, which_level)
                which_op = Mux(grant[level], op[level], which_op)
            a, b = Signal(32, name="combine_left"), Signal(32, name="combine_right")
            at_level = Signal(range(max(levels, 2)), name="combine_level")
            at_op = Signal(range(max(p >> 1, 2)), name="combine_op")
            issued = Signal(name="combine_issue")
            m.d.comb += [a.eq(left), b.eq(right), at_level.eq(which_level), at_op.eq(which_op),
                         issued.eq(Cat(*grant).any())]
            carried = [cuts.carry(issued), cuts.carry(at_level), cuts.carry(at_op)]
            total = fp32_add(m, a, b, "combine_add", cuts)
            landed, landed_level, landed_op = (cuts.get(h) for h in carried)
            for level in range(levels):
                with m.If(landed & (landed_level == level)):
                    m.d.sync += inputs[level + 1][landed_op].eq(total)

            for level in range(levels):
                last = op[level] == (p >> (level + 1)) - 1
                done = Signal(name=f"combine{level}_done")
                m.d.comb += offer[level + 1].eq(done)
                passed = done & ready[level + 1]
                with m.Switch(state[level]):
                    with m.Case(IDLE):
                        with m.If(offer[level] & ready[level]):
                            m.d.sync += [state[level].eq(ISSUE), op[level].eq(0)]
                    with m.Case(ISSUE):
                        with m.If(grant[level]):
                            m.d.sync += op[level].eq(op[level] + 1)
                            with m.If(last):
                                if level == 0:               # the bank is read: clear and free it
                                    m.d.sync += [banks[source][i].eq(0) for i in range(p)]
                                    m.d.sync += busy[source].eq(0)
                                if stages:
                                    m.d.sync += [state[level].eq(WAIT), wait[level].eq(stages - 1)]
                                else:
                                    m.d.comb += done.eq(1)
                                    m.d.sync += state[level].eq(Mux(passed, IDLE, FULL))
                    with m.Case(WAIT):
                        m.d.sync += wait[level].eq(wait[level] - 1)
                        with m.If(wait[level] == 0):
                            m.d.comb += done.eq(1)
                            m.d.sync += state[level].eq(Mux(passed, IDLE, FULL))
                    with m.Case(FULL):
                        m.d.comb += done.eq(1)
                        with m.If(passed):
                            m.d.sync += state[level].eq(IDLE)

        # The publishing stage: the result register loaded in job order.
        with m.If(offer[levels] & ready[levels]):
            m.d.sync += publishing.eq(1)
        with m.If(publishing & free):
            rejected = job_errors.r_data[0] & job_errors.r_rdy
            m.d.comb += job_errors.r_en.eq(1)
            publish(Cat(Mux(rejected, 0x7FC00000, inputs[levels][0]), rejected))
            m.d.sync += publishing.eq(0)
            if not levels:                                   # P = 1: the bank itself is read here
                m.d.sync += [banks[source][0].eq(0), busy[source].eq(0)]

    def _accumulate(self, m, s3, advance, job_errors, publish) -> None:
        """Stage 4: ``acc = fp32(acc + block)`` from +0 per job; at the job's end the result
        (or, for a rejected job, the canonical NaN with ``error``) goes to the result register."""
        acc = Signal(32, name="accumulator")
        total = fp32_add(m, acc, s3["value"], "accumulate")
        new_acc = Mux(s3["empty"], acc, total)
        with m.If(advance & s3["valid"]):
            with m.If(s3["job_end"]):
                rejected = job_errors.r_data[0] & job_errors.r_rdy
                m.d.comb += job_errors.r_en.eq(1)
                publish(Cat(Mux(rejected, 0x7FC00000, new_acc), rejected))
                m.d.sync += acc.eq(0)
            with m.Else():
                m.d.sync += acc.eq(new_acc)
