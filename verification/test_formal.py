"""Yosys SAT equivalence of the combinational scalar units against golden ROMs (complete where
the input space is at most 2^16, bounded otherwise; see verification/tools/formal.py)."""

import numpy as np
import pytest

import golden
from golden import arith
import synth
from verification.tools import formal


@pytest.mark.yosys
@pytest.mark.parametrize("spec", formal.QUICK, ids=formal.case_id)
def test_unit_equals_golden_rom(spec):
    builder, args = spec
    case = builder(*args)
    assert case.prove(), f"{case.name}: SAT found an input where the unit differs from golden"


@pytest.mark.yosys
def test_equivalence_proof_catches_planted_faults():
    a, b = formal._pairs(4)
    wrong = arith.mul(a, b, golden.E2M1, "fixed").copy()
    wrong[77] ^= 1
    assert not formal.multiplier_case("e2m1", "fixed", table=wrong).prove()
    good = formal.decoder_case("e1m2", "bf16")
    assert good.prove()
    good.gold = good.gold.replace("16'd16256", "16'd16257", 1)          # one decoded value off by one ulp
    assert not good.prove()


@pytest.mark.full
@pytest.mark.yosys
@pytest.mark.parametrize("spec", formal.FULL, ids=formal.case_id)
def test_unit_equals_golden_rom_full(spec):
    builder, args = spec
    case = builder(*args)
    assert case.prove(timeout=3600), f"{case.name}: SAT found an input where the unit differs from golden"


def test_case_lists_cover_every_scalar_unit():
    names = {builder.__name__ for builder, _ in formal.QUICK + formal.FULL}
    assert names == {"decoder_case", "multiplier_case", "int_multiplier_case", "mac_case", "scale_case"}
    for cases in (formal.QUICK, formal.FULL):
        assert np.unique([formal.case_id(s) for s in cases]).size == len(cases)


@pytest.mark.yosys
def test_proof_split_by_operand_catches_a_planted_fault():
    """The 2^16-entry spaces are proven as 256 proofs, one per value of ``a``: a wrong entry in
    one slice fails the proof of that slice, and the slices tie ``a`` to the right value."""
    from golden import integer
    import hdl
    a, b = formal._pairs(8)
    table = integer.mul(a, b, 8)
    table[3 * 256 + 77] += 1                                   # a = 3, b = 77
    case = formal._split_by_a("planted", synth.to_verilog(hdl.IntMultiplier("int8"), "unit"), 8,
                              [("product", 16, table)])
    assert len(case.parts) == 256 and case.entries == 1 << 16
    assert formal.Case("a=2", "", "", 256, case.parts[2:3]).prove()
    assert not formal.Case("a=2,3", "", "", 512, case.parts[2:4]).prove()
