"""PNG plots of the area report (matplotlib, the optional ``plots`` extra; ``make`` installs it).

- ``area_by_format.png``: transistors of the scalar units (decoder → FP16, multiplier with
  ``out="fixed"``, MAC) for each element format, beside their golden ROMs and the INT baselines;
- ``area_per_lane.png``: dot-engine transistors per lane against lanes, one line per format;
- ``ratios.png``: each dot engine's transistors relative to MXFP8 (E4M3) and to INT4 at the
  same lane count;
- ``energy_per_op.png``: SG13G2 energy per element product against the share of zero
  activations, one line per unit with a traffic model.

:func:`write_plots` raises ImportError when matplotlib is missing; the report notes it and goes
on without plots.
"""

from __future__ import annotations

from pathlib import Path


def _ok(records, unit):
    return [r for r in records if r["unit"] == unit and "error" not in r and r.get("transistors")
            and "alumacc" not in r["params"]]            # flow-comparison points are not design points


def _unpipelined(r) -> bool:
    from .tables import _unpipelined as unpipelined
    return unpipelined(r)


def write_plots(records: list[dict], out_dir: Path) -> list[str]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams["svg.hashsalt"] = "fp4hw"                # deterministic output
    written = []

    def save(fig, name):
        fig.tight_layout()
        fig.savefig(out_dir / name, dpi=110, metadata={"Software": None})
        plt.close(fig)
        written.append(name)

    # 1. scalar units by element format
    groups = []
    for unit, label in (("decoder", "decoder → FP16"), ("decoder_rom", "decoder ROM"),
                        ("multiplier", "multiplier (fixed)"), ("multiplier_rom", "multiplier ROM"), ("mac", "MAC rne")):
        rows = {r["params"]["fmt"]: r["transistors"] for r in _ok(records, unit)
                if r["params"].get("lanes", 1) == 1 and not r["params"].get("stages")
                and r["params"].get("out", "fixed") in ("fixed", "fp16") and r["params"].get("rounding", "rne") == "rne"}
        if rows:
            groups.append((label, rows))
    ints = {r["params"]["fmt"].upper(): r["transistors"] for r in _ok(records, "int_multiplier")
            if r["params"].get("lanes", 1) == 1 and not r["params"].get("stages")}
    if groups or ints:
        formats = sorted({f for _, rows in groups for f in rows}, key=lambda f: ("e2m1", "e1m2", "e3m0", "e4m3",
                                                                                  "e5m2").index(f))
        fig, ax = plt.subplots(figsize=(9, 4.5))
        width = 0.8 / max(1, len(groups))
        for i, (label, rows) in enumerate(groups):
            xs = [j + i * width for j, f in enumerate(formats) if f in rows]
            ax.bar(xs, [rows[f] for f in formats if f in rows], width, label=label)
        for j, (name, value) in enumerate(sorted(ints.items())):
            ax.bar(len(formats) + j, value, 0.6, label=f"{name} multiplier", hatch="//")
        centre = (len(groups) - 1) * width / 2
        ax.set_xticks([j + centre for j in range(len(formats))] + [len(formats) + j for j in range(len(ints))],
                      [f.upper() for f in formats] + sorted(ints))
        ax.set_ylabel("transistors (Yosys stat -tech cmos)")
        ax.set_yscale("log")
        ax.set_title("Scalar units by element format")
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        save(fig, "area_by_format.png")

    # 2. and 3. dot engines
    engines = {}
    for r in [r for r in _ok(records, "dot") if _unpipelined(r)] + _ok(records, "int_dot"):   # one form
        engines.setdefault(r["params"]["fmt"], {})[r["params"]["lanes"]] = r["transistors"]
    if engines:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for fmt, by_lanes in sorted(engines.items()):
            lanes = sorted(by_lanes)
            ax.plot(lanes, [by_lanes[n] / n for n in lanes], marker="o", label=fmt.upper(),
                    linestyle="--" if fmt.startswith("int") else "-")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("lanes (element pairs per cycle)")
        ax.set_ylabel("transistors per lane (flip-flops excluded)")
        ax.set_title("Dot engine area per lane")
        ax.legend(fontsize=8)
        save(fig, "area_per_lane.png")

        references = [(ref, label) for ref, label in (("mxfp8_e4m3", "÷ MXFP8 E4M3"), ("int4", "÷ INT4")) if ref in engines]
        if references:
            fig, axes = plt.subplots(1, len(references), figsize=(5 * len(references), 4.2), squeeze=False)
            for ax, (ref, label) in zip(axes[0], references):
                lanes = sorted(engines[ref])
                fmts = [f for f in sorted(engines) if f != ref]
                width = 0.8 / max(1, len(fmts))
                for i, fmt in enumerate(fmts):
                    xs = [j + i * width for j, n in enumerate(lanes) if n in engines[fmt]]
                    ax.bar(xs, [engines[fmt][n] / engines[ref][n] for n in lanes if n in engines[fmt]], width,
                           label=fmt.upper())
                ax.axhline(1.0, color="black", linewidth=0.8)
                ax.set_xticks([j + 0.4 - width / 2 for j in range(len(lanes))], [f"{n} lanes" for n in lanes])
                ax.set_ylabel(f"transistors {label}")
                ax.set_title(f"Dot engines {label}")
                ax.legend(fontsize=8)
            save(fig, "ratios.png")

    # 4. SG13G2 energy per operation against activation sparsity
    zeros = (("relu0", 0), ("relu50", 50), ("relu70", 70), ("relu90", 90))
    lines = []
    for r in records:
        s = r.get("sg13g2") if "error" not in r else None
        by = (s or {}).get("energy_pj_per_op_by_traffic")
        if by and all(t in by for t, _ in zeros):
            lines.append((r["name"], [by[t] for t, _ in zeros]))
    if lines:
        fig, ax = plt.subplots(figsize=(8, 4.8))
        for name, values in lines:
            ax.plot([z for _, z in zeros], values, marker="o", label=name,
                    linestyle="--" if name.startswith("int") else "-")
        ax.set_yscale("log")
        ax.set_xlabel("activations that are zero (%)")
        ax.set_ylabel("pJ per element product (SG13G2, typical)")
        ax.set_title("Energy per operation against activation sparsity")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        save(fig, "energy_per_op.png")
    return written


def write_analysis_plots(results: dict, out: Path) -> list[str]:
    """The quantization analysis's figures (``fp4hw analyze``): SQNR by scheme and the error
    histograms, from ``golden.analysis_report``'s results; the names written."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    written = []
    tensors = sorted({r["tensor"] for r in results["rows"]})
    amax_rows = [r for r in results["rows"] if r["calibration"] == "amax"]
    schemes = list(dict.fromkeys(r["scheme"] for r in amax_rows))
    fig, ax = plt.subplots(figsize=(11, 4.5))
    width = 0.8 / max(1, len(tensors))
    for i, t in enumerate(tensors):
        values = {r["scheme"]: r["sqnr_db"] for r in amax_rows if r["tensor"] == t}
        ax.bar([j + i * width for j in range(len(schemes))], [values.get(s, 0) for s in schemes], width, label=t)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(schemes))], schemes, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("SQNR (dB)")
    ax.set_title("SQNR by scheme (amax calibration / block scales)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "sqnr.png", dpi=110, metadata={"Software": None})
    plt.close(fig)
    written.append("sqnr.png")
    fig, axes = plt.subplots(1, len(tensors), figsize=(4 * len(tensors), 3.4), squeeze=False)
    for ax, t in zip(axes[0], tensors):
        for name in ("mxfp4", "nvfp4", "e2m1", "mxfp8_e4m3", "int4"):
            row = next((r for r in amax_rows if r["tensor"] == t and r["scheme"] == name), None)
            if row:
                h = row["histogram"]
                centres = (np.array(h["edges"][:-1]) + np.array(h["edges"][1:])) / 2
                ax.semilogy(centres, np.maximum(h["counts"], 0.5), label=name)
        ax.set_title(t, fontsize=9)
        ax.set_xlabel("error / RMS(x)", fontsize=8)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "error_histograms.png", dpi=110, metadata={"Software": None})
    plt.close(fig)
    written.append("error_histograms.png")
    return written
