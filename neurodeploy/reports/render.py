"""Renderers: the Report as a terminal table, JSON text and a PNG figure. Formatting only."""
from __future__ import annotations

import functools
import io
import json

from .report import Report

_SI = ((1e-15, "f"), (1e-12, "p"), (1e-9, "n"), (1e-6, "µ"), (1e-3, "m"), (1.0, ""))


def si(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if value == 0:
        return f"0 {unit}"
    scale, prefix = next(((s, p) for s, p in reversed(_SI) if abs(value) >= s), _SI[0])
    return f"{value / scale:.3g} {prefix}{unit}"


def count(value: int | None) -> str:
    if value is None:
        return "-"
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.3g}{suffix}"
    return str(value)


def _saturation_text(saturations: dict[str, int] | None) -> str:
    if saturations is None:
        return "n/a"
    return f"{saturations['u_wrap']}/{saturations['v_saturate']}"


def _agreement(entry) -> str:
    """Spike-count correlation with the float reference, e.g. 'r=0.98'; 'SILENT' where the layer
    is silent in a run (never a correlation of silence)."""
    if entry and entry.get("silent"):
        return {"both": "SILENT (both)", "fixed point": "SILENT (fixed)", "float": "SILENT (float)"}[entry["silent"]]
    if not entry or entry.get("spike_count_correlation") is None:
        return "-"
    return f"r={entry['spike_count_correlation']:.2f}"


def render_table(report: Report) -> str:
    header = ("layer", "kind", "neurons", "synapses", "cores", "spikes", "synops", "energy", "u-wrap/v-sat", "vs float")
    fid = report.fidelity or {}
    rows = [
        (
            layer.name,
            layer.kind,
            count(layer.neurons),
            count(layer.synapses),
            str(layer.cores),
            count(layer.spikes),
            count(layer.synops),
            si(layer.energy_j["total"] if layer.energy_j else None, "J"),
            _saturation_text(layer.saturations),
            _agreement(fid.get(layer.name)),
        )
        for layer in report.layers
    ]
    t = report.totals
    rows.append(
        ("total", "", count(t["neurons"]), count(t["synapses"]), str(t["cores"]), count(t["spikes"]),
         count(t["synops"]), si(t["energy_j"]["total"] if t["energy_j"] else None, "J"), _saturation_text(t["saturations"]), "")
    )
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)

    def fmt(row) -> str:
        return "  ".join(str(c).ljust(w) if i < 2 else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths)))

    chip = report.chip
    lat = report.latency
    estimate = " (estimates)" if report.profile["energy_is_estimate"] else ""
    dialect = (report.load or {}).get("dialect")
    lines = [
        f"neurodeploy {report.neurodeploy_version}: {report.model['source']} on {report.target} "
        f"with profile {report.profile['name']}",
        *([_dialect_line(dialect)] if dialect else []),
        f"input: {report.input['description']}",
        "",
        fmt(header),
        line,
        *[fmt(r) for r in rows[:-1]],
        line,
        fmt(rows[-1]),
        "",
        *[f"WARNING: {warning}" for warning in report.warnings],
        *([""] if report.warnings else []),
        f"chip: {chip['cores_used']} of {chip['cores_available']} cores on {chip['chips_used']} of "
        f"{chip['chips_available']} chip(s): {'fits' if chip['fits'] else 'DOES NOT FIT'}",
        "use of those cores: " + ", ".join(f"{name.replace('_', ' ')} {value:.0%}" for name, value in chip["resources"]["utilisation"].items())
        + " (per core: 'cores' in report.json, mesh.png)",
    ]
    if t["energy_j"] is not None:
        lines += [
            f"energy{estimate}: {si(t['energy_j']['total'], 'J')} in all, {si(t['energy_per_sample_j'], 'J')} per sample "
            f"(synaptic {si(t['energy_j']['synaptic'], 'J')}, neuron {si(t['energy_j']['neuron'], 'J')}, "
            f"network {si(t['energy_j']['network'], 'J')}, of which the input's messages {si(t['energy_j']['input'], 'J')})",
            f"time{estimate}: {si(lat['time_per_step_s'], 's')} per step, {si(lat['time_per_sample_s'], 's')} per sample; "
            f"output lags input by {lat['synaptic_delay_steps']} step(s) (one synaptic delay per layer)",
            f"NeuroBench: Effective_ACs {count(round(t['effective_acs']))} per sample"
            + (f", Effective_MACs {count(round(t['effective_macs']))}" if t["effective_macs"] else "")
            + (f", activation sparsity {t['activation_sparsity']:.3f}" if t["activation_sparsity"] is not None else ""),
        ]
    if report.accuracy:
        lines.append("accuracy: " + ", ".join(f"{k} {v:.2%}" for k, v in report.accuracy.items()))
    if report.verify is not None:
        v = report.verify
        lines.append(
            "verify: " + ("PASSED: Lava and CPU backend identical" if v["passed"] else f"FAILED: {v['first_difference']['message']}")
            + f" ({count(v['values_compared'])} values compared)"
        )
    if report.fidelity:
        lines.append(
            "vs float: spike-count correlation per neuron and sample with the float reference, shifted by each layer's "
            "synaptic delay (details under 'fidelity' in report.json)"
        )
    if report.fidelity:
        lines.append(
            "weight error from rounding (rms, relative): "
            + ", ".join(f"{name} {entry['quantisation_error']['weight_rms_relative']:.2%}" for name, entry in report.fidelity.items()
                        if entry["quantisation_error"]["weight_rms_relative"] is not None)
        )
    overflow = (report.quantisation or {}).get("overflow")
    if overflow:
        peaks = ", ".join(f"{name} u {e['u_peak']:.0%} v {e['v_peak']:.0%}" for name, e in overflow["layers"].items())
        lines.append(f"register use on {overflow['source']} ({overflow['samples']} samples; peak |u|, |v| of the 24-bit limit): {peaks}")
    tuning = (report.quantisation or {}).get("finetuning")
    if tuning:
        before = tuning["accuracy_before"]
        was = f"; before it on this input: float {before['float']:.2%}, fixed point {before['fixed_point']:.2%}" if before else ""
        lines.append(
            f"fine-tuned {tuning['epochs']} epoch(s) through the fixed-point forward pass on {tuning['samples']} samples: "
            f"fixed-point training accuracy {tuning['train_accuracy_before']:.2%} -> {tuning['train_accuracy_after']:.2%}{was}"
        )
    lines.append("timing: " + ", ".join(f"{k} {v:.2f}s" for k, v in report.timing_s.items()))
    if report.notes:
        lines.append("notes:")
        lines.extend(f"  - {note}" for note in report.notes)
    return "\n".join(lines)


def _dialect_line(dialect: dict) -> str:
    how = {"detected": "detected", "--dialect": "chosen with --dialect", "graph metadata": "named by the file"}.get(dialect["chosen_by"], dialect["chosen_by"])
    assumed = f"; {len(dialect['assumptions'])} setting(s) ASSUMED (see warnings)" if dialect["assumptions"] else ""
    return f"read as: {dialect['name']} ({dialect['framework']}; {how}){assumed}"


def render_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, allow_nan=False) + "\n"


def _plain_text(render):
    """Names from the user's file are drawn as written: a '$' in them starts no formula (a
    malformed one would stop the report)."""

    @functools.wraps(render)
    def drawn(report: Report) -> bytes:
        import matplotlib

        with matplotlib.rc_context({"text.parse_math": False}):
            return render(report)

    return drawn


@_plain_text
def render_png(report: Report) -> bytes:
    """Per-layer spikes, synaptic operations and energy by part, as one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [layer.name for layer in report.layers]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    axes[0].bar(names, [layer.spikes for layer in report.layers], color="tab:blue")
    axes[0].set_title("spikes")
    axes[1].bar(names, [layer.synops for layer in report.layers], color="tab:orange")
    axes[1].set_title("synaptic operations")
    bottom = [0.0] * len(names)
    for part, colour in (("synaptic", "tab:orange"), ("neuron", "tab:green"), ("network", "tab:purple")):
        values = [layer.energy_j[part] for layer in report.layers]
        axes[2].bar(names, values, bottom=bottom, label=part, color=colour)
        bottom = [b + v for b, v in zip(bottom, values)]
    axes[2].set_title("energy (J)" + (" - estimates" if report.profile["energy_is_estimate"] else ""))
    axes[2].legend(fontsize=8)
    for ax in axes:
        ax.tick_params(axis="x", rotation=30)
    fig.suptitle(f"{report.model['source']} on {report.target} ({report.profile['name']})", fontsize=10)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()



MAX_CHIPS_DRAWN = 16


@_plain_text
def render_mesh_png(report: Report) -> bytes:
    """Every used chip's mesh of router tiles, each core a cell coloured by its busiest
    resource (utilisation = used / the core's limit), as one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import colormaps
    from matplotlib.patches import Rectangle

    profile = report.profile
    tiles_x, tiles_y = profile["mesh_tiles"]
    per_tile = profile["cores_per_tile"]
    side = max(1, int(-(-per_tile**0.5 // 1)))  # cores of a tile drawn as a side x side block
    used = sorted({core["chip"] for core in report.cores}) or [0]
    chips = used[:MAX_CHIPS_DRAWN]  # a figure of thousands of chips would be gigapixels
    columns = min(len(chips), 4)
    rows = -(-len(chips) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns + 1, 4 * rows), squeeze=False)
    cmap = colormaps["viridis"]
    by_chip: dict[int, list] = {}
    for core in report.cores:
        by_chip.setdefault(core["chip"], []).append(core)
    for ax, chip in zip(axes.flat, chips):
        ax.add_patch(Rectangle((0, 0), tiles_x * side, tiles_y * side, facecolor="0.93", edgecolor="0.6"))
        for core in by_chip.get(chip, []):
            x, y = core["tile"]
            slot = core["core"] % per_tile
            cx, cy = x * side + slot % side, y * side + slot // side
            use = max(core["utilisation"].values())
            ax.add_patch(Rectangle((cx, cy), 1, 1, facecolor=cmap(use), edgecolor="white", linewidth=0.3))
        ax.set_xlim(0, tiles_x * side)
        ax.set_ylim(tiles_y * side, 0)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"chip {chip}: {len(by_chip.get(chip, []))} cores", fontsize=9)
    for ax in list(axes.flat)[len(chips):]:
        ax.axis("off")
    mappable = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, 1))
    fig.colorbar(mappable, ax=axes, fraction=0.03, label="use of the busiest resource (used / limit)")
    shown = f" (the first {len(chips)} drawn)" if len(used) > len(chips) else ""
    fig.suptitle(
        f"{report.model['source']}: {report.chip['cores_used']} cores on {report.chip['chips_used']} chip(s){shown}, "
        f"profile {profile['name']} ({tiles_x}x{tiles_y} tiles, {per_tile} cores per tile)",
        fontsize=10,
    )
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return buffer.getvalue()
