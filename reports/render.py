"""Renderers: the Report as a terminal table, JSON text and a PNG figure. Formatting only."""
from __future__ import annotations

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
    """Spike-count correlation with the float reference, e.g. 'r=0.98'."""
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
            si(layer.energy_j["total"], "J"),
            _saturation_text(layer.saturations),
            _agreement(fid.get(layer.name)),
        )
        for layer in report.layers
    ]
    t = report.totals
    rows.append(
        ("total", "", count(t["neurons"]), count(t["synapses"]), str(t["cores"]), count(t["spikes"]),
         count(t["synops"]), si(t["energy_j"]["total"], "J"), _saturation_text(t["saturations"]), "")
    )
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)

    def fmt(row) -> str:
        return "  ".join(str(c).ljust(w) if i < 2 else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths)))

    chip = report.chip
    lat = report.latency
    estimate = " (estimates)" if report.profile["energy_is_estimate"] else ""
    lines = [
        f"neurodeploy {report.neurodeploy_version}: {report.model['source']} on {report.target} "
        f"with profile {report.profile['name']}",
        f"input: {report.input['description']}",
        "",
        fmt(header),
        line,
        *[fmt(r) for r in rows[:-1]],
        line,
        fmt(rows[-1]),
        "",
        f"chip: {chip['cores_used']} of {chip['cores_available']} cores on {chip['chips_used']} of "
        f"{chip['chips_available']} chip(s): {'fits' if chip['fits'] else 'DOES NOT FIT'}",
        f"energy{estimate}: {si(t['energy_j']['total'], 'J')} in all, {si(t['energy_per_sample_j'], 'J')} per sample "
        f"(synaptic {si(t['energy_j']['synaptic'], 'J')}, neuron {si(t['energy_j']['neuron'], 'J')}, "
        f"routing {si(t['energy_j']['routing'], 'J')})",
        f"time{estimate}: {si(lat['time_per_step_s'], 's')} per step, {si(lat['time_per_sample_s'], 's')} per sample; "
        f"output lags input by {lat['synaptic_delay_steps']} step(s) (one synaptic delay per layer)",
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
    lines.append("timing: " + ", ".join(f"{k} {v:.2f}s" for k, v in report.timing_s.items()))
    if report.notes:
        lines.append("notes:")
        lines.extend(f"  - {note}" for note in report.notes)
    return "\n".join(lines)


def render_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, allow_nan=False) + "\n"


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
    for part, colour in (("synaptic", "tab:orange"), ("neuron", "tab:green"), ("routing", "tab:purple")):
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

