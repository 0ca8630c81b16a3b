"""Quantisation-aware fine-tuning: train the snnTorch model through the chip's exact
fixed-point forward pass, then re-export it.

    result = finetune(model, inputs, labels, FinetuneOptions(epochs=3), input_shape=(64,))
    result.model          # the same nn.Module, fine-tuned in place
    files = export_finetuned(result.model, input_shape=(64,))   # {"finetuned.nir": ..., "finetuned_state_dict.pt": ...}

Each training step
1. compiles the model as it is now (``snntorch_to_float_graph`` -> ``compile_network``),
   so scales, exponents and integer weights are exactly what deployment would produce;
2. runs the integer network with ``backends/torch_engine.py``: spikes, u and v are those
   of the CPU backend and of Lava, bit for bit (tests hold it to that);
3. backpropagates the loss with straight-through gradients: every rounding, wrap and
   clip passes its gradient unchanged, spikes use snnTorch's fast-sigmoid surrogate, and
   each projection's integer synaptic input ``a_int`` is given the gradient of
   ``kappa * f(s)``, where ``f`` is the model's own float modules between the two layers
   (Linear, Conv, pooling, Flatten, BatchNorm, or a recurrent module) applied to the same
   spikes ``s`` and ``kappa = state_scale / 2**activation_shift`` converts float input to
   integer units (``a_int ~= kappa * f(s)`` up to rounding): the straight-through
   estimator of weight rounding. Weights and biases train; decays and thresholds stay.

Because the scales are recomputed at every step, the re-exported model deploys to
exactly the integers its last training step used. The loss is the cross-entropy of the
output layer's spike counts (a non-spiking readout: its mean voltage in float units).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..encoders import InputBatch, encoding_of, to_integer_input
from ..errors import UnsupportedModelError, UserError
from ..hardware.profile import HardwareProfile, load_profile
from ..ir.passes import CompiledNetwork, CompileOptions, compile_network
from ..ir.stages import INPUT, InputEncoding, QuantisedNetwork

DEFAULT_EPOCHS = 3
DEFAULT_LEARNING_RATE = 1e-3
DEFAULT_BATCH_SIZE = 64


@dataclass
class FinetuneOptions:
    epochs: int = DEFAULT_EPOCHS
    learning_rate: float = DEFAULT_LEARNING_RATE
    batch_size: int = DEFAULT_BATCH_SIZE
    profile: str | HardwareProfile = "loihi2"
    weight_scaling: str = "channel"
    dt: float | None = None
    seed: int = 0
    device: str = "cpu"  # torch device of the training forward pass (fine-tuning has been run on the CPU only)
    progress: bool = False


@dataclass
class FinetuneResult:
    model: nn.Module
    history: list[dict] = field(default_factory=list)  # per epoch: loss, fixed-point training accuracy, seconds
    accuracy_before: float = 0.0  # fixed-point accuracy on the training data before fine-tuning
    accuracy_after: float = 0.0

    def summary(self) -> dict:
        """JSON-serialisable description (for the report)."""
        return {
            "epochs": len(self.history),
            "train_accuracy_before": self.accuracy_before,
            "train_accuracy_after": self.accuracy_after,
            "history": self.history,
        }


# --------------------------------------------------------------------------- gradient paths
def _layer_name(module_name: str, module: nn.Module) -> str | None:
    """The quantised layer a module ends, if it ends one: neurons, or a MaxPool's OR layer."""
    from ..neurons import snntorch_types

    if isinstance(module, snntorch_types()):
        return module_name
    if isinstance(module, nn.MaxPool2d):
        return f"{module_name}.or"  # see frontends/snntorch_model.py: SumPool2d + Threshold
    return None


def _sum_pool(pool: nn.MaxPool2d):
    """The float synaptic input of a MaxPool's OR layer: the sum over each pooling window."""
    kernel = nn.modules.utils._pair(pool.kernel_size)
    stride = nn.modules.utils._pair(pool.stride if pool.stride is not None else pool.kernel_size)
    padding = nn.modules.utils._pair(pool.padding)
    return lambda x: F.avg_pool2d(x, kernel, stride, padding, count_include_pad=True) * (kernel[0] * kernel[1])


def float_paths(model: nn.Module, input_shape: tuple[int, ...] | None) -> dict[tuple[str, str], list]:
    """(layer, source layer) -> the float functions a signal passes from source to layer:
    the model's own modules in order (a recurrent module's ``recurrent``) ."""
    from ..frontends.snntorch_model import trace_modules

    trace = trace_modules(model, input_shape)
    layer_of = {name: _layer_name(name, trace.modules[name]) for name in trace.order}
    paths: dict[tuple[str, str], list] = {}
    for name in trace.order:
        layer = layer_of[name]
        if layer is None:
            continue
        module = trace.modules[name]
        chain = [_sum_pool(module)] if isinstance(module, nn.MaxPool2d) else []
        source = trace.source_of[name]
        while source != INPUT and layer_of[source] is None:
            chain.insert(0, trace.modules[source])
            source = trace.source_of[source]
        paths[(layer, INPUT if source == INPUT else layer_of[source])] = chain
        if getattr(module, "recurrent", None) is not None:  # RLeaky / RSynaptic
            paths[(layer, layer)] = [module.recurrent]
    return paths


def _gradient_path(network: QuantisedNetwork, paths: dict[tuple[str, str], list], dtype: torch.dtype):
    """The torch_engine hook: kappa * (the model's float path)(source), flattened."""
    shapes = {layer.name: layer.shape for layer in network.layers}
    shapes[INPUT] = network.input_shape
    layers = {layer.name: layer for layer in network.layers}
    kappa = {
        name: torch.as_tensor(np.broadcast_to(layer.state_scale, (layer.n_out,)) / 2.0**network.arithmetic.activation_shift)
        for name, layer in layers.items()
    }
    graded_scale = network.input_encoding.scale if network.input_encoding.kind == "graded" else 1.0

    def path(layer_name: str, index: int, source: torch.Tensor) -> torch.Tensor | None:
        projection = layers[layer_name].projections[index]
        chain = paths.get((layer_name, projection.source))
        if chain is None:
            raise UnsupportedModelError(
                f"fine-tuning: no float path from {projection.source!r} into layer {layer_name!r} in the model"
            )
        x = source / graded_scale if projection.source == INPUT else source
        x = x.to(dtype).reshape(source.shape[0], *shapes[projection.source])
        for fn in chain:
            x = fn(x)
        return x.reshape(source.shape[0], -1).to(torch.float64) * kappa[layer_name].to(x.device)

    return path


# --------------------------------------------------------------------------- training
def compile_model(model: nn.Module, input_shape, encoding: InputEncoding, profile: HardwareProfile, options: FinetuneOptions) -> CompiledNetwork:
    from ..frontends.snntorch_model import snntorch_to_float_graph

    graph = snntorch_to_float_graph(model, input_shape=input_shape, source="fine-tuning")
    return compile_network(graph, CompileOptions(profile=profile, dt=options.dt, input_encoding=encoding, weight_scaling=options.weight_scaling))


def fixed_point_forward(model: nn.Module, compiled: CompiledNetwork, inputs: np.ndarray, paths: dict, device: str = "cpu"):
    """The exact fixed-point run of ``inputs`` (steps, batch, *shape) as a TorchRun, with
    straight-through gradients into the model's parameters along ``paths`` (``float_paths``)."""
    from ..backends.torch_engine import simulate

    network = compiled.quantised
    batch = InputBatch(np.asarray(inputs), network.input_encoding, {})
    integers = torch.as_tensor(np.asarray(to_integer_input(batch, network)), device=device)
    gradient_path = _gradient_path(network, paths, next(model.parameters()).dtype)
    return simulate(network, integers, gradient_path=gradient_path)


def logits(run, network: QuantisedNetwork, steps: int) -> torch.Tensor:
    """What the loss sees: output spike counts, or a readout's mean v in float units."""
    out = network.output_layer
    if out.neurons.spiking:
        return run.spike_counts[out.name]
    unit = torch.as_tensor(np.broadcast_to(out.state_scale, (out.n_out,)), device=run.output_v_sum.device)
    return run.output_v_sum / unit / steps


def finetune(
    model: nn.Module,
    inputs: np.ndarray,
    labels: np.ndarray,
    options: FinetuneOptions | None = None,
    input_shape: tuple[int, ...] | None = None,
    encoding: InputEncoding | None = None,
) -> FinetuneResult:
    """Fine-tune ``model`` in place on ``inputs`` (steps, samples, *input_shape; spikes or
    graded values) and integer class ``labels`` through the exact fixed-point forward pass."""
    options = options or FinetuneOptions()
    _check_training_data(inputs, labels, options)
    profile = options.profile if isinstance(options.profile, HardwareProfile) else load_profile(options.profile)
    encoding = encoding or encoding_of(np.asarray(inputs))
    input_shape = tuple(input_shape) if input_shape is not None else tuple(np.asarray(inputs).shape[2:]) or None
    torch.manual_seed(options.seed)
    rng = np.random.default_rng(options.seed)
    model.to(options.device)
    optimiser = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=options.learning_rate)
    labels_t = torch.as_tensor(np.asarray(labels), dtype=torch.long, device=options.device)
    result = FinetuneResult(model=model)
    _check_against_model(compile_model(model, input_shape, encoding, profile, options).quantised, np.asarray(inputs), np.asarray(labels))
    result.accuracy_before = evaluate(model, inputs, labels, input_shape, encoding, profile, options)
    paths = float_paths(model, input_shape)  # the modules stay the same objects; only their weights change
    for epoch in _epochs(options):
        start = time.perf_counter()
        order = rng.permutation(len(labels))
        losses, correct = [], 0
        for first in range(0, len(order), options.batch_size):
            idx = order[first : first + options.batch_size]
            compiled = compile_model(model, input_shape, encoding, profile, options)
            run = fixed_point_forward(model, compiled, np.asarray(inputs)[:, idx], paths, options.device)
            scores = logits(run, compiled.quantised, inputs.shape[0])
            loss = F.cross_entropy(scores.to(torch.float32), labels_t[idx])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
            correct += int((scores.detach().argmax(dim=1) == labels_t[idx]).sum())
        result.history.append(
            {"epoch": epoch + 1, "loss": float(np.mean(losses)), "train_accuracy_during_epoch": correct / len(order), "seconds": time.perf_counter() - start}
        )
    model.eval()
    result.accuracy_after = evaluate(model, inputs, labels, input_shape, encoding, profile, options)
    return result


def evaluate(model, inputs, labels, input_shape, encoding, profile, options: FinetuneOptions) -> float:
    """Fixed-point accuracy of the model as deployed now (the CPU backend's predictions)."""
    from ..backends.cpu import run_cpu

    compiled = compile_model(model, input_shape, encoding, profile, options)
    batch = InputBatch(np.asarray(inputs), compiled.quantised.input_encoding, {})
    result = run_cpu(compiled.quantised, to_integer_input(batch, compiled.quantised))
    return float(np.mean(result.predictions() == np.asarray(labels)))


def _epochs(options: FinetuneOptions):
    if not options.progress:
        return range(options.epochs)
    from tqdm import tqdm

    return tqdm(range(options.epochs), desc="fine-tuning", unit="epoch", disable=None)


def _check_against_model(network: QuantisedNetwork, inputs: np.ndarray, labels: np.ndarray) -> None:
    """The training data must fit the model: its input size, and one output neuron per class."""
    n_in = int(np.prod(network.input_shape))
    if int(np.prod(inputs.shape[2:])) != n_in:
        raise UserError(
            f"fine-tuning inputs have shape {inputs.shape}: each sample must have the model's {n_in} inputs "
            f"(shape {tuple(network.input_shape)}), as (steps, samples, *input_shape)"
        )
    for layer in network.layers:
        if layer.neurons.compartment != "cuba":  # the straight-through gradients are CUBA's (backends/torch_engine.py)
            raise UnsupportedModelError(
                f"layer {layer.name!r}: fine-tuning runs Loihi's CUBA neurons only; {layer.neurons.kind} runs as the "
                f"{layer.neurons.compartment} compartment: deploy without --finetune"
            )
    n_out = network.output_layer.n_out
    if labels.max(initial=0) >= n_out:
        raise UserError(f"fine-tuning label {int(labels.max())} has no output neuron: the model has {n_out} outputs (classes 0..{n_out - 1})")


def _check_training_data(inputs, labels, options: FinetuneOptions) -> None:
    inputs, labels = np.asarray(inputs), np.asarray(labels)
    if inputs.dtype.kind not in "biuf":
        raise UserError(f"fine-tuning inputs must be numbers or booleans, got dtype {inputs.dtype}")
    if inputs.ndim < 3:
        raise UserError(f"fine-tuning inputs have shape {inputs.shape}: expected (steps, samples, *input_shape)")
    if inputs.size == 0:
        raise UserError(f"fine-tuning inputs have shape {inputs.shape}: no data (0 steps, samples or inputs)")
    if labels.ndim != 1 or labels.shape[0] != inputs.shape[1]:
        raise UserError(f"fine-tuning labels have shape {labels.shape}: expected ({inputs.shape[1]},), one class per sample")
    if not np.issubdtype(labels.dtype, np.integer) or labels.min(initial=0) < 0:
        raise UserError("fine-tuning labels must be non-negative integer class indices")
    if options.epochs < 1 or options.batch_size < 1 or not (np.isfinite(options.learning_rate) and options.learning_rate > 0):
        raise UserError("fine-tuning needs epochs >= 1, batch size >= 1 and a positive learning rate")
    if not np.all(np.isfinite(inputs)):
        raise UserError("fine-tuning inputs contain NaN or infinite values")


# --------------------------------------------------------------------------- re-export
def export_finetuned(model: nn.Module, input_shape: tuple[int, ...] | None = None) -> dict[str, bytes]:
    """The fine-tuned model as files: ``finetuned.nir`` (its NIR graph, as neurodeploy's
    frontend converts it; deployable with deploy.py) and ``finetuned_state_dict.pt``
    (``model.state_dict()``, to load into the user's snnTorch class). The state dict, not
    the pickled module: snnTorch's default surrogate gradients are closures that
    ``torch.save`` of a whole module cannot pickle."""
    import io
    import tempfile

    import nir

    from ..frontends.snntorch_model import snntorch_to_float_graph

    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buffer)
    graph = snntorch_to_float_graph(model, input_shape=input_shape, source="fine-tuned model").graph
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "finetuned.nir"
        nir.write(path, graph)
        nir_bytes = path.read_bytes()
    return {"finetuned.nir": nir_bytes, "finetuned_state_dict.pt": buffer.getvalue()}
