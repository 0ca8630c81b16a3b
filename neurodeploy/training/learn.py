"""``--learn``: learning on the chip, the step between loading a model and deploying it.

    compile     the network, with the learning projections' weight ranges (``weight_bounds``)
    lower       the learning specification onto the learning engine (``learning/lowering.py``)
    learn       layer by layer in the spec's order: the layer's input spikes (the encoded data,
                or the spikes of the frozen layers before it), presented sample after sample for
                each epoch (shuffled per epoch, seeded), on the target's learning layer
                (``Target.learner``); after each epoch the frozen network is evaluated with the
                readout on the test data
    write back  the learned weights and thresholds as a deployable NIR graph (learned.nir)

The deployment then runs the learned network on the test data as any other network; the
report's ``learning`` section (``reports/learning.py``) comes from ``Learned.summary``.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from ..backends import TARGETS, RunRequest
from ..dialects import DialectOptions
from ..encoders import InputBatch
from ..errors import InputDataError, UserError
from ..frontends.model import LoadedModel
from ..hardware.profile import HardwareProfile
from ..ir.passes import CompiledNetwork, CompileOptions, compile_network
from ..ir.stages import INPUT, FloatGraph
from ..learning import readout as R
from ..learning.lowering import LearningPlan, LoweredLayer, lower, reward_scale, weight_bounds
from ..learning.spec import LearningSpec
from ..learning.writeback import LearnedState, freeze, learned_graph, learned_state, nir_bytes, weight_statistics

MAX_CLASSES = 1000


@dataclass(frozen=True)
class LearnRequest:
    spec: LearningSpec
    target: str
    epochs: int
    profile: HardwareProfile
    train: InputBatch  # encoded training data, with labels
    test: InputBatch | None  # encoded test data, with labels (accuracy after each epoch)
    rewards: np.ndarray | None = None  # the data's rewards (samples,), (samples, n) or (samples, steps, n): reward source "data"
    dt: float | None = None
    weight_scaling: str = "channel"
    seed: int = 0
    dialect: str | None = None  # the exporter's dialect to read the graph in (None: detected), as the deployment reads it
    dialect_options: DialectOptions = field(default_factory=DialectOptions)


@dataclass(frozen=True)
class Learned:
    model: LoadedModel  # the learned network, to deploy
    summary: dict  # the report's learning section
    files: dict[str, bytes]  # learned.nir
    compiled: CompiledNetwork  # the frozen network as the chip holds it after learning
    plan: LearningPlan


def learn_on_chip(model: LoadedModel, request: LearnRequest) -> Learned:
    start = time.perf_counter()
    if request.epochs < 1:
        raise UserError(f"--epochs {request.epochs}: learning needs at least one epoch")
    target = TARGETS.get(request.target)
    _check_data(request)
    graph = model.graph
    compiled = compile_learning(graph, request)
    plan = lower(request.spec, compiled.quantised, request.profile)
    train = np.ascontiguousarray(request.train.values.transpose(1, 0, 2))  # (samples, steps, n)
    n_samples, steps = train.shape[:2]
    history: list[dict] = []
    learned: dict[str, LearnedState] = {}
    frozen, notes = compiled, []
    layers_summary = []
    timing = {"learn": 0.0, "evaluate": 0.0}
    t0 = time.perf_counter()
    history.append({"epoch": 0, **_evaluate(frozen, request)})
    timing["evaluate"] += time.perf_counter() - t0
    rng = np.random.default_rng(request.seed)
    for lowered in plan.layers:
        pre = train if lowered.program.source == INPUT else _source_spikes(frozen, request, lowered.program.source)
        learner = target.learner(lowered, frozen, sample_steps=steps, total_samples=request.epochs * n_samples)
        before = _nir_weights(lowered, _initial_units(lowered, learner.exact, compiled))
        host = HostControl(lowered, _n_classes(request), request.seed + 1 + [layer.name for layer in plan.layers].index(lowered.name))
        ops = 0
        try:
            for epoch in range(1, request.epochs + 1):
                t0 = time.perf_counter()
                order = rng.permutation(n_samples)
                rewards = _rewards(request, lowered, order, steps)
                labels = None if request.train.labels is None else request.train.labels[order]
                out = _present(learner, lowered, pre[order], rewards, labels, host)
                ops += learning_ops(pre[order].reshape(n_samples * steps, -1), out["raster"], lowered, (epoch - 1) * n_samples * steps)
                learned[lowered.name] = learned_state(lowered, learner.weights(), learner.theta(), learner.exact)
                frozen, notes = freeze(compiled, plan, learned)
                timing["learn"] += time.perf_counter() - t0
                t0 = time.perf_counter()
                history.append({"epoch": len(history), "layer": lowered.name, "spikes_per_sample": float(out["spike_counts"].sum() / n_samples),
                                **_evaluate(frozen, request), **_evaluate_with_wta(frozen, request, lowered, learner)})
                timing["evaluate"] += time.perf_counter() - t0
        finally:
            learner.close()
        layers_summary.append(_layer_summary(lowered, before, learned[lowered.name], ops, request.profile))
    graph_out = learned_graph(graph, plan, learned, compiled.normalised)
    learned_model = LoadedModel(FloatGraph(graph_out, f"{graph.source} (learned)", "nir", notes=graph.notes))
    files = {"learned.nir": nir_bytes(graph_out)}
    summary = {
        "spec": {"source": request.spec.source, "version": request.spec.version, "seed": request.spec.seed},
        "target": request.target,
        "epochs": request.epochs,
        "train_samples": int(n_samples),
        "test_samples": None if request.test is None else int(request.test.batch),
        "sample_steps": int(steps),
        "readout": None if request.spec.readout is None else {"layer": request.spec.readout.layer, "decision": request.spec.readout.decision,
                                                               "neurons_per_class": request.spec.readout.neurons_per_class},
        "layers": layers_summary,
        "accuracy_by_epoch": [{k: v for k, v in entry.items() if k != "neuron_labels"} for entry in history],
        "neuron_labels": history[-1].get("neuron_labels"),
        "learned_nir": "learned.nir",
        "notes": list(notes) + [n for lowered in plan.layers for n in lowered.notes] + _readout_notes(request.spec, plan),
        "timing_s": {**timing, "total": time.perf_counter() - start},
    }
    return Learned(model=learned_model, summary=summary, files=files, compiled=frozen, plan=plan)


def _readout_notes(spec: LearningSpec, plan: LearningPlan) -> list[str]:
    """One line where the deployed learned.nir cannot answer as the chip that learned: a readout
    that counts spikes of a layer whose k-WTA the file does not hold (docs/learning.md)."""
    readout = spec.readout
    if readout is None or readout.decision == "first-spike" or readout.layer not in [layer.name for layer in plan.layers]:
        return []
    k = plan.layer(readout.layer).program.neurons.wta_k
    if not k:
        return []
    return [f"layer {readout.layer!r} learned with k-WTA {k}, which learned.nir does not hold: its {readout.decision} readout "
            "(test_accuracy, deployed_accuracy) counts the spikes of the network without it, not the chip's"]


class HostControl:
    """What the host does between samples while a layer learns (docs/learning.md): the adaptive
    reward and punishment rates of the first-spike reward unit (``reward.adaptive``), set before
    every ``reward.batch`` samples from the answers of the batch before; dropout (``dropout``):
    before each sample it raises the thresholds of a random share of the neurons out of reach,
    and writes them back after it; and weight normalisation (``normalise``): before every
    ``normalise.batch`` samples and after the last it reads the weights and rescales each
    neuron's to one norm."""

    UNREACHABLE = 2 ** 31 - 1  # above any v (24 bits): a threshold no neuron crosses

    def __init__(self, lowered: LoweredLayer, n_classes: int, seed: int):
        entry = lowered.entry
        self.adaptive = entry.reward is not None and entry.reward.adaptive
        self.batch = entry.reward.batch if self.adaptive else None
        self.per_class = entry.reward.neurons_per_class if entry.reward is not None else 1
        self.scale = reward_scale(lowered) if entry.reward is not None else 0.0
        self.reward = entry.reward
        self.dropout = entry.dropout
        self.normalise = entry.normalise
        self.lowered = lowered
        self.rng = np.random.default_rng(seed)
        chance = 1.0 / max(n_classes, 1)
        self.hit, self.miss = chance, 1.0 - chance  # before any answer: as at chance

    def rates(self) -> tuple[float, float]:
        """(reward, punishment) in y units for the next batch."""
        return self.reward.reward * self.miss * self.scale, self.reward.punishment * self.hit * self.scale

    def answered(self, raster: np.ndarray, labels: np.ndarray, steps: int) -> None:
        """The batch's answers (its first spikes, as the host reads them): the next rates follow them."""
        raster = raster.reshape(len(labels), steps, -1).transpose(1, 0, 2)
        # the host reads spikes, not v: neurons spiking together first (none under 1-WTA) go to the lowest index
        answers = R.first_spike_class(raster, self.per_class, v_first=np.zeros(raster.shape[1:]))
        self.hit, self.miss = float(np.mean(answers == labels)), float(np.mean((answers >= 0) & (answers != labels)))

    def normalise_layer(self, learner) -> None:
        """``normalise``: each neuron's input weights rescaled to the norm ``normalise.weights``
        (NIR units), clipped to the rule's bounds (on a bit-exact target rounded to integer
        weights at the synapses' precision): what the host writes between batches, from the
        weights it reads back."""
        if self.normalise is None:
            return
        lowered = self.lowered
        w = np.asarray(learner.weights(), np.float64)
        norm = np.linalg.norm(w, ord=self.normalise.norm, axis=1)
        target = self.normalise.weights * lowered.units * np.abs(lowered.gain)  # integer weight units
        scaled = w * np.divide(target, norm, out=np.ones_like(norm), where=norm > 0)[:, None]
        scaled = np.clip(scaled, *lowered.weight_range)
        if learner.exact:  # integer weights at the synapses' precision, as Lava's LearningDense takes initial weights
            from ..learning.program import truncate_weights

            p = lowered.program
            scaled = truncate_weights(np.round(scaled), p.sign_mode, p.num_weight_bits)
        learner.set_weights(scaled)

    def present(self, learner, pre: np.ndarray, rewards, labels) -> dict:
        """Samples on the learner; with dropout one at a time, some neurons' thresholds out of reach."""
        if not self.dropout:
            return learner.present(pre, rewards=rewards, labels=labels)
        outs = []
        for k in range(len(pre)):
            dropped = self.rng.random(learner.lowered.program.n_post) < self.dropout
            saved = learner.thresholds()
            unreachable = math.inf if not learner.exact else self.UNREACHABLE
            learner.set_thresholds(np.where(dropped, unreachable, saved))
            outs.append(learner.present(pre[k:k + 1], rewards=None if rewards is None else rewards[k:k + 1],
                                        labels=None if labels is None else labels[k:k + 1]))
            learner.set_thresholds(np.where(dropped, saved, learner.thresholds()))
        return {"spike_counts": np.concatenate([o["spike_counts"] for o in outs]), "raster": np.concatenate([o["raster"] for o in outs])}


def _present(learner, lowered: LoweredLayer, pre: np.ndarray, rewards, labels, host: HostControl) -> dict:
    """One epoch's samples on the learner, in the host's batches: before each it sets the
    adaptive rates (every ``reward.batch`` samples, from the answers of the batch before) and
    the weight normalisation (every ``normalise.batch`` samples, and after the last)."""
    n, steps = len(pre), pre.shape[1]
    rate_batch = host.batch if host.adaptive else max(n, 1)
    norm_batch = host.normalise.batch if host.normalise is not None else max(n, 1)
    starts = sorted(set(range(0, n, rate_batch)) | set(range(0, n, norm_batch)))
    counts, rasters, answers = [], [], []
    for start, stop in zip(starts, [*starts[1:], n]):
        if host.adaptive and start % rate_batch == 0:
            if answers:
                host.answered(np.concatenate(answers), labels[start - rate_batch:start], steps)
                answers = []
            learner.set_rates(*host.rates())
        if start % norm_batch == 0:
            host.normalise_layer(learner)
        part = slice(start, stop)
        out = host.present(learner, pre[part], None if rewards is None else rewards[part], None if labels is None else labels[part])
        counts.append(out["spike_counts"])
        rasters.append(out["raster"])
        answers.append(out["raster"])
    if host.adaptive and answers:
        host.answered(np.concatenate(answers), labels[n - sum(len(a) for a in answers) // steps:], steps)
    host.normalise_layer(learner)
    return {"spike_counts": np.concatenate(counts), "raster": np.concatenate(rasters)}


def _n_classes(request: LearnRequest) -> int:
    labels = [b.labels for b in (request.train, request.test) if b is not None and b.labels is not None]
    return int(max(int(np.max(y, initial=0)) for y in labels)) + 1 if labels else 1


def compile_learning(graph: FloatGraph, request: LearnRequest) -> CompiledNetwork:
    """The network compiled with the learning projections' weight ranges."""
    from ..ir.passes.inline_subgraphs import inline_subgraphs
    from ..ir.passes.normalise import normalise

    normalised = normalise(inline_subgraphs(graph), dt=request.dt, dialect=request.dialect, options=request.dialect_options)
    bounds = weight_bounds(request.spec, normalised)  # the passes before quantise, for the gains
    return compile_network(graph, CompileOptions(profile=request.profile, dt=request.dt, input_encoding=request.train.encoding,
                                                 weight_scaling=request.weight_scaling, dialect=request.dialect,
                                                 dialect_options=request.dialect_options, weight_bounds=bounds or None))


def _check_data(request: LearnRequest) -> None:
    if request.train.encoding.kind != "spikes":
        raise InputDataError("--learn: the training data must be spikes (0/1): Loihi's learning synapses take binary spikes")
    needs_labels = any(entry.reward is not None and entry.reward.source == "label" for entry in request.spec.layers)
    readout = request.spec.readout
    if needs_labels and request.train.labels is None:
        raise InputDataError("--learn: a reward from the label needs labelled training data (y in --data)")
    if readout is not None and readout.decision == "label-assignment" and request.train.labels is None:
        raise InputDataError("--learn: readout label-assignment labels neurons from the training labels (y in --data)")
    if any(entry.reward is not None and entry.reward.source == "data" for entry in request.spec.layers) and request.rewards is None:
        raise InputDataError("--learn: reward source 'data' needs a 'reward' array in --data")


def _rewards(request: LearnRequest, lowered: LoweredLayer, order: np.ndarray, steps: int) -> np.ndarray | None:
    """The data's rewards for this presentation, (samples, steps, n_post) in y units."""
    entry = lowered.entry
    if entry.reward is None or entry.reward.source != "data":
        return None
    r = np.asarray(request.rewards, np.float64)
    n_post = lowered.program.n_post
    n = len(request.train.labels) if request.train.labels is not None else request.train.batch
    if r.shape == (n,):
        r = np.broadcast_to(r[:, None, None], (n, steps, n_post))
    elif r.shape == (n, n_post):
        r = np.broadcast_to(r[:, None, :], (n, steps, n_post))
    elif r.shape != (n, steps, n_post):
        raise InputDataError(f"--data: reward has shape {list(r.shape)}; expected ({n},), ({n}, {n_post}) or ({n}, {steps}, {n_post})")
    return r[order] * reward_scale(lowered)


def _source_spikes(frozen: CompiledNetwork, request: LearnRequest, source: str) -> np.ndarray:
    """The spikes of layer ``source`` of the frozen network on the training data, (samples, steps, n)."""
    result = _infer(frozen, request, request.train, record=True)
    return np.ascontiguousarray(result.rasters[source].transpose(1, 0, 2)).astype(np.uint8)


def _infer(compiled: CompiledNetwork, request: LearnRequest, batch: InputBatch, record: bool, state: bool = False):
    from ..encoders import to_integer_input

    target = TARGETS.get(request.target)
    inputs = batch.values if target.stage == "normalised" else to_integer_input(batch, compiled.quantised)
    return target.run(compiled.stage(target.stage), inputs, RunRequest(record_spikes=record, record_state=state))


def _evaluate(frozen: CompiledNetwork, request: LearnRequest) -> dict:
    """The readout's accuracy on the test data (and on the training data where it labels neurons)."""
    readout = request.spec.readout
    if readout is None or request.test is None or request.test.labels is None:
        return {}
    n_classes = int(max(request.test.labels.max(initial=0), request.train.labels.max(initial=0) if request.train.labels is not None else 0)) + 1
    if n_classes > MAX_CLASSES:
        raise InputDataError(f"--data: labels up to {n_classes - 1}; at most {MAX_CLASSES} classes")
    first = readout.decision == "first-spike"
    test = _infer(frozen, request, request.test, record=first, state=first)
    out: dict = {}
    if readout.decision == "label-assignment":
        train = _infer(frozen, request, request.train, record=False)
        neuron_labels = R.assign_labels(train.layers[readout.layer].spike_counts, request.train.labels, n_classes)
        predicted = R.classify_by_labels(test.layers[readout.layer].spike_counts, neuron_labels, n_classes)
        out["labelled_neurons"] = int((neuron_labels >= 0).sum())
        out["neuron_labels"] = neuron_labels.tolist()
    elif first:
        from ..reports.accuracy import first_spike_winners

        network = frozen.normalised if TARGETS.get(request.target).stage == "normalised" else frozen.quantised  # the stage v belongs to
        winners = first_spike_winners(test, network, readout.layer)
        predicted = np.where(winners >= 0, winners // readout.neurons_per_class, -1)
    else:
        predicted = R.spike_count_class(test.layers[readout.layer].spike_counts, readout.neurons_per_class)
    out["test_accuracy"] = float(np.mean(predicted == request.test.labels))
    out["test_silent"] = float(np.mean(predicted < 0))
    return out


def _evaluate_with_wta(frozen: CompiledNetwork, request: LearnRequest, lowered: LoweredLayer, learner) -> dict:
    """A first-spike readout on a layer with k-WTA, answered as the chip runs that layer (its
    k-WTA, learning off): the first spiker by ``readout.first_spike_winner``, the reward unit's
    choice in training. k-WTA changes nothing before the first spike (nor does a recurrent
    projection, one step late), so the deployed ``learned.nir`` (no k-WTA) answers the same
    (``test_accuracy``; docs/learning.md)."""
    readout = request.spec.readout
    if (readout is None or readout.decision != "first-spike" or readout.layer != lowered.name or not lowered.program.neurons.wta_k
            or request.test is None or request.test.labels is None):
        return {}
    source = lowered.program.source
    if source == INPUT:
        pre = np.ascontiguousarray(request.test.values.transpose(1, 0, 2))
    else:
        pre = np.ascontiguousarray(_infer(frozen, request, request.test, record=True).rasters[source].transpose(1, 0, 2)).astype(np.uint8)
    samples, steps = pre.shape[:2]
    per_sample = lambda a: a.reshape(samples, steps, -1).transpose(1, 0, 2)  # noqa: E731 - (steps, samples, n)
    if lowered.program.neurons.wta_k == 1:  # one spike per sample: no v needed
        raster, v_first = per_sample(learner.answers(pre)), None
    else:
        raster, v_spike = (per_sample(a) for a in learner.answers(pre, v_spike=True))
        v_first = R.v_at_first_spikes(raster, v_spike)
    predicted = R.first_spike_class(raster, readout.neurons_per_class, v_first)
    return {"test_accuracy_wta": float(np.mean(predicted == request.test.labels))}


def learning_ops(pre: np.ndarray, post: np.ndarray, lowered: LoweredLayer, first_step: int) -> int:
    """Synaptic updates of the learning engine (an estimate of what Loihi visits): per learning
    epoch, every synapse whose pre or post neuron spiked in it (the synapses an x0 or y0 product
    can change), and every synapse in epochs where a u<k> product applies. ``first_step``: the
    global index of the first step (epochs are counted from the start of the run)."""
    rule = lowered.program.rule
    t_epoch = rule.t_epoch
    steps = len(pre)
    n_post, n_pre = post.shape[1], pre.shape[1]
    index = (first_step + np.arange(steps)) // t_epoch
    if t_epoch == 1:  # every step an epoch: the counts of the step (most rules; no reduction over epochs)
        epochs = index
        pre_active, post_active = np.count_nonzero(pre, axis=1), np.count_nonzero(post, axis=1)
    else:
        epochs, starts = np.unique(index, return_index=True)
        pre_active = np.logical_or.reduceat(pre != 0, starts, axis=0).sum(axis=1)
        post_active = np.logical_or.reduceat(post != 0, starts, axis=0).sum(axis=1)
    touched = n_post * n_pre - (n_post - post_active) * (n_pre - pre_active)
    k = rule.decimate_exponent
    complete = (epochs + 1) * t_epoch <= first_step + steps  # an epoch's learning phase runs at its last step
    if k is not None:
        touched = np.where((epochs + 1) % 2 ** k == 0, n_post * n_pre, touched)
    return int(touched[complete].sum())


def _initial_units(lowered: LoweredLayer, exact: bool, compiled: CompiledNetwork) -> np.ndarray:
    """The learning projection's weights before learning, in integer weight units."""
    if exact:
        from ..learning.program import truncate_weights

        p = lowered.program
        return truncate_weights(p.weights, p.sign_mode, p.num_weight_bits).astype(np.float64)
    layer = compiled.normalised.layer(lowered.name)
    w = next(q.weight for q in layer.projections if q.source == lowered.program.source)
    return (w.toarray() if hasattr(w, "toarray") else np.asarray(w)) * lowered.units[:, None]


def _nir_weights(lowered: LoweredLayer, units_weights: np.ndarray) -> np.ndarray:
    return np.asarray(units_weights, np.float64) / (lowered.units * lowered.gain)[:, None]


def _layer_summary(lowered: LoweredLayer, before: np.ndarray, state: LearnedState, ops: int, profile: HardwareProfile) -> dict:
    p = lowered.program
    scale = float(np.mean(lowered.units * np.abs(lowered.gain)))
    w_range = (lowered.weight_range[0] / scale, lowered.weight_range[1] / scale)
    energy = ops * profile.learning.synaptic_update_energy_j
    return {
        "layer": p.name,
        "source": p.source,
        "nir_node": lowered.nir_node,
        "rule": lowered.entry.rule.kind,
        "rule_strings": {k: getattr(p.rule, k) for k in ("dw", "dd", "dt") if getattr(p.rule, k)},
        "t_epoch": p.rule.t_epoch,
        "sign_mode": p.sign_mode,
        "weight_bits": p.num_weight_bits,
        "weight_exp": p.weight_exp,
        "weight_units_per_nir_unit": scale,
        "quantisation": [row.to_dict() for row in lowered.table],
        "weights_before": weight_statistics(before, w_range),
        "weights_after": weight_statistics(_nir_weights(lowered, state.weights), w_range),
        "threshold_raise": {"mean": float(state.raise_v.mean()), "max": float(state.raise_v.max())},
        "synaptic_updates": int(ops),
        "energy_j": float(energy),
        "energy_is_estimate": True,
        "energy_source": f"{profile.learning.synaptic_update_energy_j:.3g} J per synaptic update (profile learning.synaptic_update_energy_j"
                         f"{', an estimate' if profile.is_estimate('learning.synaptic_update_energy_j') else ''}); the count of updates is "
                         "an estimate (synapses of neurons active in each epoch)",
        "k_wta": p.neurons.wta_k,
        "adaptive_threshold": p.neurons.adaptive,
        "recurrent": p.recurrent is not None,
        "reward": p.reward.kind,
    }
