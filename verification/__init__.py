"""fp4hw verification: pytest suites, cocotb test benches and their shared helpers."""
