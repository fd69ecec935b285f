"""cocotb bench for combinational (optionally pipelined) lane-parallel units: drives every input
vector from a file, compares every output lane with the golden value from the same file.

The pytest side (:func:`verification.cocotb_run.run_vector_bench`) computes the vectors and the
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

from verification.cocotb_run import cocotb_params


class VectorTB:
    def __init__(self, dut):
        params = cocotb_params()
        self.dut = dut
        self.lanes = params["lanes"]
        self.stages = params.get("stages", 0)
        data = np.load(Path(params["vectors"]), allow_pickle=True)   # written by run_vector_bench
        self.inputs = {name: (data[f"in_{name}"], width) for name, width in params["inputs"].items()}
        self.outputs = {name: (data[f"out_{name}"], width) for name, width in params["outputs"].items()}
        self.count = len(next(iter(self.inputs.values()))[0])
        self.mismatches = []
        self.checked = 0

    def pack(self, values, width, start):
        word = 0
        for lane in range(self.lanes):
            index = start + lane
            value = int(values[index]) if index < len(values) else 0
            word |= (value & ((1 << width) - 1)) << (lane * width)
        return word

    def drive(self, start):
        for name, (values, width) in self.inputs.items():
            self.dut[name].value = self.pack(values, width, start)

    def check(self, start):
        for name, (values, width) in self.outputs.items():
            word = int(self.dut[name].value.to_unsigned())
            for lane in range(min(self.lanes, self.count - start)):
                got = (word >> (lane * width)) & ((1 << width) - 1)
                want = int(values[start + lane]) & ((1 << width) - 1)
                self.checked += 1
                if got != want:
                    self.mismatches.append((name, start + lane, hex(got), hex(want)))

    async def run(self):
        starts = list(range(0, self.count, self.lanes))
        if not self.stages:
            for start in starts:
                self.drive(start)
                await Timer(1, unit="ns")
                self.check(start)
            return
        clk = self.dut["clk"]
        cocotb.start_soon(Clock(clk, 10, unit="ns").start())
        self.dut["rst"].value = 1
        await ClockCycles(clk, 2)
        await FallingEdge(clk)
        self.dut["rst"].value = 0
        for step in range(len(starts) + self.stages):
            if step < len(starts):
                self.drive(starts[step])
            await FallingEdge(clk)                       # one rising edge later, settled
            if step >= self.stages - 1 and step - self.stages + 1 < len(starts):
                self.check(starts[step - self.stages + 1])


@cocotb.test()
async def every_vector(dut):
    tb = VectorTB(dut)
    await tb.run()
    assert tb.checked == tb.count * len(tb.outputs), f"checked {tb.checked} of {tb.count} vectors"
    assert not tb.mismatches, f"{len(tb.mismatches)} mismatches (port, vector, got, expected): {tb.mismatches[:8]}"
