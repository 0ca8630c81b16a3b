"""Renderers: the Report as a terminal table, JSON text and a PNG figure. Formatting only."""
from __future__ import annotations

import functools
import io
import json
import textwrap

from .report import Report

_SI = ((1e-15, "f"), (1e-12, "p"), (1e-9, "n"), (1e-6, "µ"), (1e-3, "m"), (1.0, ""))
TITLE_POINTS = 10  # font size of figure titles


def _scaled(value: float, scales: tuple[tuple[float, str], ...]) -> str:
    """``value`` in the largest of ``scales`` (ascending (scale, prefix)) it reaches, to three
    significant digits; where the rounded number reaches 1000 (999.7k) the next scale up is used
    (1M), so that no number prints as 1e+03 of a prefix."""
    index = max((i for i, (scale, _) in enumerate(scales) if abs(value) >= scale), default=0)
    shown = float(f"{value / scales[index][0]:.3g}")
    if abs(shown) >= 1000 and index + 1 < len(scales):  # the scales are 1000 apart: 1000 of one is 1 of the next
        return f"{shown / 1000:.3g}{scales[index + 1][1]}"
    return f"{shown:.3g}{scales[index][1]}"


def si(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if value == 0:
        return f"0 {unit}"
    number, _, prefix = _scaled(value, tuple((s, f" {p}") for s, p in _SI)).partition(" ")
    return f"{number} {prefix}{unit}"


_COUNTS = ((1.0, ""), (1e3, "k"), (1e6, "M"), (1e9, "G"), (1e12, "T"))


def count(value: int | None) -> str:
    if value is None:
        return "-"
    if abs(value) < 1000:
        return str(value)
    return _scaled(value, _COUNTS)


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


def _learning_lines(learning: dict) -> list[str]:
    """The learning section in a few lines (details in report.json)."""
    lines = [f"learning on {learning['target']}: {learning['epochs']} epoch(s) of {learning['train_samples']} samples x "
             f"{learning['sample_steps']} steps, {count(learning['synaptic_updates'])} synaptic updates, "
             f"{si(learning['energy_j'], 'J')} (estimates); wrote {learning['learned_nir']}"]
    for layer in learning["layers"]:
        before, after = layer["weights_before"], layer["weights_after"]
        lines.append(f"  {layer['layer']} <- {layer['source']}: {layer['rule']} dw = {layer['rule_strings'].get('dw', '-')}, epoch "
                     f"{layer['t_epoch']}; weights mean {before['mean']:.3g} -> {after['mean']:.3g}, max {after['max']:.3g}")
        worst = max(layer["quantisation"], key=lambda row: row["relative_error"] if row["relative_error"] is not None else 0, default=None)
        if worst is not None and worst["relative_error"] is not None:
            lines.append(f"    largest lowering error: {worst['parameter']} {worst['requested']:.4g} -> {worst['lowered']} "
                         f"({worst['relative_error']:.1%})")
    history = [e for e in learning["accuracy_by_epoch"] if "test_accuracy" in e]
    if history:
        lines.append("  test accuracy by epoch: " + ", ".join(f"{e['epoch']}: {e['test_accuracy']:.1%}" for e in history))
    if learning.get("deployed_accuracy"):
        lines.append("  learned.nir deployed: " + ", ".join(f"{k} {v:.1%}" for k, v in learning["deployed_accuracy"].items()))
    return lines


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
        + " (per core: 'cores' in report.json, mesh.png with --plots)",
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
        decided = ""
        if report.classification:
            c = report.classification
            decided = f" on {c['samples']} labelled samples, class by {c['decision']} ({c['rule']}; confusion.png with --plots)"
        lines.append("accuracy: " + ", ".join(f"{k} {v:.2%}" for k, v in report.accuracy.items()) + decided)
    if report.learning:
        lines += _learning_lines(report.learning)
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


def _plain_text(build):
    """Names from the user's file are drawn as written: a '$' in them starts no formula (a
    malformed one would stop the report). Text takes the setting when it is created, so the
    figure builders are wrapped (their figures stay plain wherever they are drawn later)."""

    @functools.wraps(build)
    def built(report: Report):
        import matplotlib

        with matplotlib.rc_context({"text.parse_math": False}):
            return build(report)

    return built


def _png(fig, dpi: int) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def _title(fig, text: str) -> None:
    """A figure title wrapped to the figure's width (a long model path would be cut off)."""
    width_chars = max(30, int(fig.get_figwidth() * 72 / (TITLE_POINTS * 0.6)))
    fig.suptitle(textwrap.fill(text, width_chars), fontsize=TITLE_POINTS)


def _figure(width: float, height: float, layout: str | None = None):
    """A matplotlib Figure of its own, outside pyplot's state (no GUI backend needed; a notebook shows it)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout=layout)


def render_png(report: Report) -> bytes:
    """Per-layer spikes, synaptic operations and energy by part, as one PNG."""
    return _png(report_figure(report), dpi=100)


@_plain_text
def report_figure(report: Report):
    """Per-layer spikes, synaptic operations and energy by part (a matplotlib Figure)."""
    names = [layer.name for layer in report.layers]
    fig = _figure(13, 3.8)
    axes = fig.subplots(1, 3)
    axes[0].bar(names, [layer.spikes for layer in report.layers], color="tab:blue")
    axes[0].set_title("spikes")
    axes[1].bar(names, [layer.synops for layer in report.layers], color="tab:orange")
    axes[1].set_title("synaptic operations")
    bottom = [0.0] * len(names)
    for part, colour in (("synaptic", "tab:orange"), ("neuron", "tab:green"), ("network", "tab:purple")):
        values = [layer.energy_j[part] if layer.energy_j else 0.0 for layer in report.layers]
        axes[2].bar(names, values, bottom=bottom, label=part, color=colour)
        bottom = [b + v for b, v in zip(bottom, values)]
    axes[2].set_title("energy (J)" + (" - estimates" if report.profile["energy_is_estimate"] else ""))
    axes[2].legend(fontsize=8)
    for ax in axes:
        ax.tick_params(axis="x", rotation=30)
    _title(fig, f"{report.model['source']} on {report.target} ({report.profile['name']})")
    fig.tight_layout()
    return fig


def render_confusion_png(report: Report) -> bytes:
    """The confusion matrix of each run on the labelled samples, as one PNG."""
    return _png(confusion_figure(report), dpi=90)


@_plain_text
def confusion_figure(report: Report):
    """One confusion matrix per run (rows: label, columns: the decision), as a matplotlib Figure."""
    import numpy as np

    c = report.classification
    if not c:
        raise ValueError("the report has no classification: the input had no labels")
    runs = list(c["targets"].items())
    fig = _figure(4.2 * len(runs), 4.4)
    axes = fig.subplots(1, len(runs), squeeze=False)
    names = [str(name) for name in c["classes"]]
    for ax, (name, entry) in zip(axes[0], runs):
        matrix = np.asarray(entry["confusion"])
        ax.imshow(matrix, cmap="Blues")
        size = matrix.shape[0]
        if size <= 20:
            for i in range(size):
                for j in range(size):
                    if matrix[i, j]:
                        ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7,
                                color="white" if matrix[i, j] > matrix.max() / 2 else "black")
            labels = names[:size] + [str(i) for i in range(len(names), size)]
            ax.set_xticks(range(size), labels, fontsize=7, rotation=90 if max(map(len, labels)) > 2 else 0)
            ax.set_yticks(range(size), labels, fontsize=7)
        ax.set_xlabel("decision")
        ax.set_ylabel("label")
        ax.set_title(f"{name}: {entry['accuracy']:.1%}", fontsize=9)
    _title(fig, f"{report.model['source']}: {c['samples']} samples, class by {c['decision']}")
    fig.tight_layout()
    return fig


MAX_CHIPS_DRAWN = 16


def render_mesh_png(report: Report) -> bytes:
    """Every used chip's mesh of router tiles, each core a cell coloured by its busiest
    resource (utilisation = used / the core's limit), as one PNG."""
    return _png(mesh_figure(report), dpi=90)


@_plain_text
def mesh_figure(report: Report):
    """The mesh of cores (``render_mesh_png``) as a matplotlib Figure."""
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.patches import Rectangle

    profile = report.profile
    tiles_x, tiles_y = profile["mesh_tiles"]
    per_tile = profile["cores_per_tile"]
    side = max(1, int(-(-per_tile**0.5 // 1)))  # cores of a tile drawn as a side x side block
    used = sorted({core["chip"] for core in report.cores}) or [0]
    chips = used[:MAX_CHIPS_DRAWN]  # a figure of thousands of chips would be gigapixels
    columns = min(len(chips), 4)
    rows = -(-len(chips) // columns)
    fig = _figure(4.2 * columns + 1, 4 * rows + 0.4, layout="constrained")  # constrained: the title, panels and colour bar never overlap
    axes = fig.subplots(rows, columns, squeeze=False)
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
    mappable = ScalarMappable(cmap=cmap, norm=Normalize(0, 1))
    fig.colorbar(mappable, ax=axes, fraction=0.03, label="use of the busiest resource (used / limit)")
    shown = f" (the first {len(chips)} drawn)" if len(used) > len(chips) else ""
    _title(
        fig,
        f"{report.model['source']}: {report.chip['cores_used']} cores on {report.chip['chips_used']} chip(s){shown}, "
        f"profile {profile['name']} ({tiles_x}x{tiles_y} tiles, {per_tile} cores per tile)",
    )
    return fig
