"""cocotb bench for hdl.Decoder: every code on every lane against golden ``fmt.to_ieee``.

Parameters (``FP4HW_PARAMS``): fmt, out, lanes, stages. ``FP4HW_PLANT_FAULT=<code>`` flips bit 0
of the golden value for that code, to show that the bench catches a wrong value.
"""

import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge, Timer

import golden
from verification.cocotb_run import cocotb_params


class DecoderTB:
    """Owns the clock (when pipelined), the stimulus and the scoreboard."""

    def __init__(self, dut):
        params = cocotb_params()
        self.dut = dut
        self.fmt = golden.element_format(params.get("fmt", "e2m1"))
        self.out = params.get("out", "fp16")
        self.lanes = params.get("lanes", 1)
        self.stages = params.get("stages", 0)
        self.width = golden.ieee_format(self.out).bits
        self.expected = self.fmt.to_ieee(np.arange(1 << self.fmt.bits), self.out).astype(np.int64)
        fault = os.environ.get("FP4HW_PLANT_FAULT")
        if fault is not None:
            self.expected[int(fault)] ^= 1
        self.mismatches = []
        self.checked = 0

    async def start(self):
        if self.stages:
            cocotb.start_soon(Clock(self.dut["clk"], 10, unit="ns").start())
            self.dut["rst"].value = 1
            await ClockCycles(self.dut["clk"], 2)
            self.dut["rst"].value = 0

    def pack(self, codes):
        return sum(int(c) << (i * self.fmt.bits) for i, c in enumerate(codes))

    def check(self, codes, word):
        for lane, code in enumerate(codes):
            got = (word >> (lane * self.width)) & ((1 << self.width) - 1)
            self.checked += 1
            if got != self.expected[code]:
                self.mismatches.append((lane, int(code), hex(got), hex(int(self.expected[code]))))

    async def apply(self, codes):
        self.dut["code"].value = self.pack(codes)
        if self.stages:
            for _ in range(self.stages):
                await RisingEdge(self.dut["clk"])
            await Timer(1, unit="ns")
        else:
            await Timer(1, unit="ns")
        self.check(codes, int(self.dut["value"].value.to_unsigned()))


@cocotb.test()
async def every_code_on_every_lane(dut):
    tb = DecoderTB(dut)
    await tb.start()
    n = 1 << tb.fmt.bits
    for first in range(n):
        await tb.apply([(first + lane) % n for lane in range(tb.lanes)])
    assert tb.checked == n * tb.lanes
    assert not tb.mismatches, f"{len(tb.mismatches)} mismatches (lane, code, got, expected): {tb.mismatches[:8]}"
