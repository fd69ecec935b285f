"""cocotb bench for combinational (optionally pipelined) lane-parallel units: drives every input
vector from a file, compares every output lane with the golden value from the same file.

The pytest side (:func:`verification.benches.runner.run_vector_bench`) computes the vectors and the
expected outputs with golden and saves them as ``vectors.npz`` in the run folder; this module
only moves bits. Port values are packed lane *i* at bits ``[i*w, (i+1)*w)``. With ``stages`` > 0
the bench clocks the unit and checks each result ``stages`` cycles after its inputs, with a new
vector every cycle (full throughput).
"""

from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, Timer

from verification.benches.runner import cocotb_params, resolved


def pack_lanes(values: np.ndarray, width: int, lanes: int) -> list[int]:
    """One integer per step: ``lanes`` consecutive values, lane *i* at bits ``[i*w, (i+1)*w)``
    (the last step padded with zeros). Vectorized through a bit matrix for widths up to 64."""
    steps = -(-len(values) // lanes)
    if values.dtype == object:
        padded = list(values) + [0] * (steps * lanes - len(values))
        return [sum(int(v) << (i * width) for i, v in enumerate(padded[s * lanes:(s + 1) * lanes]))
                for s in range(steps)]
    padded = np.zeros(steps * lanes, dtype=np.uint64)
    padded[:len(values)] = values.astype(np.uint64)
    bits = ((padded[:, None] >> np.arange(width, dtype=np.uint64)) & np.uint64(1)).astype(np.uint8)
    rows = np.packbits(bits.reshape(steps, lanes * width), axis=1, bitorder="little")
    return [int.from_bytes(row.tobytes(), "little") for row in rows]


class VectorTB:
    def __init__(self, dut):
        params = cocotb_params()
        self.dut = dut
        self.lanes = params["lanes"]
        self.stages = params.get("stages", 0)
        data = np.load(Path(params["vectors"]), allow_pickle=True)   # written by run_vector_bench
        self.count = len(data[f"in_{next(iter(params['inputs']))}"])
        self.inputs = {name: pack_lanes(data[f"in_{name}"], width, self.lanes)
                       for name, width in params["inputs"].items()}
        self.outputs = {name: (pack_lanes(data[f"out_{name}"], width, self.lanes), width)
                        for name, width in params["outputs"].items()}
        self.steps = -(-self.count // self.lanes)
        self.mismatches = []
        self.checked = 0

    def drive(self, step):
        for name, words in self.inputs.items():
            self.dut[name].value = words[step]

    def check(self, step):
        valid = min(self.lanes, self.count - step * self.lanes)
        for name, (words, width) in self.outputs.items():
            mask = (1 << (valid * width)) - 1
            got = resolved(self.dut[name], f"{name} at vector step {step}") & mask
            self.checked += valid
            if got != words[step] & mask:
                for lane in range(valid):
                    g = got >> (lane * width) & ((1 << width) - 1)
                    w = words[step] >> (lane * width) & ((1 << width) - 1)
                    if g != w:
                        self.mismatches.append((name, step * self.lanes + lane, hex(g), hex(w)))

    async def run(self):
        if not self.stages:
            for step in range(self.steps):
                self.drive(step)
                await Timer(1, unit="ns")
                self.check(step)
            return
        clk = self.dut["clk"]
        cocotb.start_soon(Clock(clk, 10, unit="ns").start())
        self.dut["rst"].value = 1
        await ClockCycles(clk, 2)
        await FallingEdge(clk)
        self.dut["rst"].value = 0
        for step in range(self.steps + self.stages):
            if step < self.steps:
                self.drive(step)
            await FallingEdge(clk)                       # one rising edge later, settled
            if 0 <= step - self.stages + 1 < self.steps:
                self.check(step - self.stages + 1)


@cocotb.test()
async def every_vector(dut):
    tb = VectorTB(dut)
    await tb.run()
    assert tb.checked == tb.count * len(tb.outputs), f"checked {tb.checked} of {tb.count} vectors"
    assert not tb.mismatches, f"{len(tb.mismatches)} mismatches (port, vector, got, expected): {tb.mismatches[:8]}"
