"""ReLU ANN -> integrate-and-fire SNN, with data-based weight normalisation.

The method (Diehl et al. 2015, "Fast-classifying, high-accuracy spiking deep networks through
weight and threshold balancing"; Rueckauer et al. 2017, "Conversion of continuous-valued deep
networks to efficient event-driven networks"):

    layers      every ReLU becomes a layer of IF neurons (threshold 1, no leak, reset by
                subtraction, so the charge above threshold is kept: the rate error stays below
                one spike over the run); the Linear / Conv2d before it, its BatchNorm folded in
                (eval statistics), gives the synapses and the bias a constant input per step;
                the last Linear / Conv2d without a ReLU is the output layer, IF neurons too,
                whose spike counts rank the classes.
    normalise   lambda_l = the ``percentile`` (99.9, Rueckauer's choice; 100: Diehl's max-norm)
                of layer l's positive activations over the calibration samples
                (``output_percentile`` for the output layer, 100 by default so that no class
                saturates at one spike per step and ties); weights W_l lambda_{l-1} / lambda_l,
                biases b_l / lambda_l, so an activation of lambda_l fires every step.
                lambda_0 is the calibration input's largest |x|: the input is x / lambda_0.
    input       ``rate``: Bernoulli spikes with p = x / lambda_0 per step (x >= 0 needed);
                ``current``: x / lambda_0 as a graded value every step (direct input: the
                first layer integrates W x exactly, Rueckauer's analog input).
    pooling     AvgPool2d is linear: it is composed into the next layer's synapses (or the
                layer's own, before the ReLU) and costs no neurons. MaxPool2d after a ReLU:
                ``maxpool=or`` (default) is a sum pool into a Threshold(0.5) layer, one neuron
                per pooled output firing when any input of its window fires that step (an OR
                of spikes: Loihi has no max over spike rates; the OR's rate lies between the
                largest and the sum of the window's rates, so it over-estimates a max when the
                inputs fire at different steps, and it adds a layer's latency);
                ``maxpool=avg`` replaces it by AvgPool2d, in the ANN too (the report gives
                the ANN's accuracy both ways).

Every layer needs ``(1 - 1) = 0`` leak, so the neurons are NIR IF nodes (``r = 1 / dt``, gain 1
per step) with ``{"reset": "subtract"}`` metadata (``neurons/base.py``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import nir
import numpy as np

from ..errors import InputDataError, InvalidValueError, UnsupportedModelError
from ..ir.stages import INPUT, FloatGraph
from ..limits import check_memory
from ..neurons.threshold import or_neurons, window_sum
from .ann_file import sequential_layers

DT = 1e-3  # the converted graph's step: r = 1 / DT gives every IF a gain of 1 per step
INPUTS = ("rate", "current")
MAXPOOLS = ("or", "avg")
MAX_CALIBRATION_SAMPLES = 10_000


@dataclass(frozen=True)
class ConvertSpec:
    """How to convert (``--convert percentile=99.9,input=rate,maxpool=or,output_percentile=100``)."""

    percentile: float = 99.9
    output_percentile: float = 100.0
    input: str = "rate"
    maxpool: str = "or"

    def __post_init__(self):
        for key in ("percentile", "output_percentile"):
            value = getattr(self, key)
            if not (isinstance(value, (int, float)) and 0 < value <= 100):
                raise InvalidValueError(f"--convert {key}={value}: a percentile in (0, 100]")
        if self.input not in INPUTS:
            raise InvalidValueError(f"--convert input={self.input}: choose one of {', '.join(INPUTS)}")
        if self.maxpool not in MAXPOOLS:
            raise InvalidValueError(f"--convert maxpool={self.maxpool}: choose one of {', '.join(MAXPOOLS)}")

    @classmethod
    def parse(cls, text: str | None) -> ConvertSpec:
        """``key=value,...`` (empty: the defaults)."""
        params: dict[str, Any] = {}
        for item in filter(None, (part.strip() for part in (text or "").split(","))):
            key, sep, value = item.partition("=")
            if not sep or key not in cls.__dataclass_fields__:
                raise InvalidValueError(f"--convert {text}: {item!r} is not key=value with a key of {', '.join(cls.__dataclass_fields__)}")
            if key in ("percentile", "output_percentile"):
                try:
                    params[key] = float(value)
                except ValueError:
                    raise InvalidValueError(f"--convert {key}={value!r}: not a number") from None
            else:
                params[key] = value
        return cls(**params)


@dataclass(frozen=True)
class ConvertedLayer:
    """One spiking layer of the converted network and where it came from."""

    name: str  # the layer's (neuron node's) name in the graph
    ann_modules: tuple[str, ...]  # the ANN modules it replaces
    kind: str  # "if" (a ReLU, or the output) or "or" (a max pool)
    ann_output: str  # the module (of ``Conversion.ann``) whose output the layer's rates stand for
    scale: float  # lambda: the activation that fires every step
    activation_max: float  # the largest activation on the calibration samples
    above_scale: float  # share of the positive activations above lambda (they saturate at one spike per step)


@dataclass
class Conversion:
    """The converted network, the ANN it came from (with max pooling replaced where the
    spec says) and what the report's ``conversion`` section states."""

    graph: FloatGraph
    ann: Any  # nn.Sequential as converted (eval mode)
    spec: ConvertSpec
    input_scale: float
    layers: list[ConvertedLayer]
    calibration_samples: int
    notes: list[str] = field(default_factory=list)

    def encode(self, x: np.ndarray, steps: int, seed: int) -> np.ndarray:
        """Samples (samples, *input_shape) as the network's input (steps, samples, n_inputs):
        uint8 spikes (rate) or float32 graded values (current), by the registered encoders: rate
        coding's spike probability x / lambda_input is clipped to [0, 1] first (a ReLU network's
        negative inputs send no spikes)."""
        from ..encoders.current import current
        from ..encoders.rate import rate

        flat = np.asarray(x, dtype=np.float64).reshape(len(x), -1) / self.input_scale
        if self.spec.input == "current":
            return current(flat.astype(np.float32), steps)[0]
        return rate(np.clip(flat, 0.0, 1.0).astype(np.float32), steps, seed=seed)[0]

    def activations(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Each spiking layer's ANN activation on samples ``x``: layer name -> (samples, n)."""
        outputs, _ = _activations(self.ann, np.asarray(x, np.float32).reshape(len(x), *self.graph.input_shape), self.graph.input_shape)
        return {layer.name: outputs[layer.ann_output].reshape(len(x), -1) for layer in self.layers}

    def ann_predictions(self, x: np.ndarray) -> np.ndarray:
        return np.argmax(ann_outputs(self.ann, x), axis=1)


def convert(model, calibration: np.ndarray, input_shape: tuple[int, ...], spec: ConvertSpec = ConvertSpec(), source: str = "ann") -> Conversion:
    """Convert ``model`` (an nn.Sequential of ReLU layers) normalised on ``calibration``
    samples (samples, *input_shape)."""
    calibration = _checked_samples(calibration, input_shape, spec, "--calibration-data")
    leaves = sequential_layers(model)
    ann = _as_converted(leaves, spec)
    ops = _fold(leaves_of(ann))
    activations, shapes = _activations(ann, calibration, input_shape)
    input_scale = float(np.abs(calibration).max())
    if input_scale == 0:
        raise InputDataError("--calibration-data: every value is 0; the samples must show the input's range")
    builder = _Builder(tuple(input_shape), input_scale, spec, activations, shapes, source)
    for op in ops:
        builder.add(op)
    builder.finish()
    graph = nir.NIRGraph(nodes=builder.nodes, edges=builder.edges, metadata={"dt": DT, "source": "ann-conversion"}, type_check=False)
    notes = [f"converted from a ReLU ANN ({source}): IF neurons, reset by subtraction, weights normalised by the "
             f"{spec.percentile:g}th percentile of each layer's activations on {len(calibration)} calibration samples"] + builder.notes
    float_graph = FloatGraph(graph=graph, source=source, format="ann-conversion", notes=tuple(notes))
    return Conversion(float_graph, ann, spec, input_scale, builder.layers, len(calibration), builder.notes)


def ann_outputs(ann, x: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return ann(torch.as_tensor(np.asarray(x), dtype=torch.float32)).reshape(len(x), -1).numpy()


def leaves_of(ann) -> list[tuple[str, Any]]:
    return sequential_layers(ann)


# --------------------------------------------------------------------------- the ANN as converted
def _as_converted(leaves, spec: ConvertSpec):
    """A copy of the ANN as it will run: eval mode, max pooling replaced by average pooling for
    ``maxpool=avg``; the modules keep their names."""
    import copy

    from torch import nn

    modules = {}
    for name, module in leaves:
        module = copy.deepcopy(module)
        if isinstance(module, nn.MaxPool2d) and spec.maxpool == "avg":
            module = nn.AvgPool2d(module.kernel_size, module.stride, module.padding)
        modules[name.replace(".", "_")] = module
    return nn.Sequential(*modules.values()).eval()


@dataclass
class _Op:
    kind: str  # "affine", "relu", "avgpool", "maxpool", "flatten"
    names: tuple[str, ...]
    module: Any = None
    weight: np.ndarray | None = None
    bias: np.ndarray | None = None


def _fold(leaves) -> list[_Op]:
    """The layers as operations, BatchNorm folded into the Linear / Conv2d before it,
    Dropout and Identity removed."""
    from torch import nn

    ops: list[_Op] = []
    for name, module in leaves:
        if isinstance(module, (nn.Dropout, nn.Identity)):
            continue
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            _check_affine(name, module)
            weight = module.weight.detach().double().numpy().copy()
            bias = module.bias.detach().double().numpy().copy() if module.bias is not None else np.zeros(weight.shape[0])
            ops.append(_Op("affine", (name,), module, weight, bias))
        elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            if not ops or ops[-1].kind != "affine":
                raise UnsupportedModelError(f"module {name!r} ({type(module).__name__}): BatchNorm is folded into the Linear or Conv2d "
                                            "directly before it; put it there")
            _fold_batchnorm(ops[-1], name, module)
        elif isinstance(module, nn.ReLU):
            ops.append(_Op("relu", (name,), module))
        elif isinstance(module, (nn.AvgPool2d, nn.MaxPool2d)):
            _check_pool(name, module)
            ops.append(_Op("maxpool" if isinstance(module, nn.MaxPool2d) else "avgpool", (name,), module))
        elif isinstance(module, nn.Flatten):
            ops.append(_Op("flatten", (name,), module))
        else:
            raise UnsupportedModelError(f"module {name!r} ({type(module).__name__}) has no conversion")
    return ops


def _check_affine(name: str, module) -> None:
    from torch import nn

    if isinstance(module, nn.Conv2d) and (module.padding_mode != "zeros" or isinstance(module.padding, str)):
        raise UnsupportedModelError(f"module {name!r} (Conv2d): padding {module.padding!r} / padding_mode {module.padding_mode!r}; "
                                    "integer zero padding maps to synapses")


def _fold_batchnorm(op: _Op, name: str, bn) -> None:
    if bn.running_mean is None:
        raise UnsupportedModelError(f"module {name!r}: BatchNorm without running statistics (track_running_stats=False) cannot be folded")
    std = np.sqrt(bn.running_var.detach().double().numpy() + bn.eps)
    gamma = bn.weight.detach().double().numpy() if bn.affine else np.ones_like(std)
    beta = bn.bias.detach().double().numpy() if bn.affine else np.zeros_like(std)
    factor = gamma / std
    if factor.size != op.weight.shape[0]:
        raise UnsupportedModelError(f"module {name!r}: BatchNorm over {factor.size} features after {op.names[0]!r} with {op.weight.shape[0]}")
    op.weight = op.weight * factor.reshape((-1,) + (1,) * (op.weight.ndim - 1))
    op.bias = (op.bias - bn.running_mean.detach().double().numpy()) * factor + beta
    op.names = (*op.names, name)


def _check_pool(name: str, module) -> None:
    if module.ceil_mode:
        raise UnsupportedModelError(f"module {name!r} ({type(module).__name__}): ceil_mode=True is not supported")
    if getattr(module, "dilation", 1) not in (1, (1, 1)):
        raise UnsupportedModelError(f"module {name!r} (MaxPool2d): dilation is not supported")
    if getattr(module, "count_include_pad", True) is False and _pair(module.padding) != (0, 0):
        raise UnsupportedModelError(f"module {name!r} (AvgPool2d): count_include_pad=False with padding is not supported")


def _pair(value) -> tuple[int, int]:
    return (int(value), int(value)) if isinstance(value, int) else (int(value[0]), int(value[1]))


# --------------------------------------------------------------------------- activations
def _checked_samples(x: np.ndarray, input_shape: tuple[int, ...], spec: ConvertSpec, what: str) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise InputDataError(f"{what}: samples must be numbers, got dtype {x.dtype}")
    if x.ndim >= 1 and x.shape[1:] != tuple(input_shape) and x.ndim >= 2 and int(np.prod(x.shape[1:])) == int(np.prod(input_shape)):
        x = x.reshape(len(x), *input_shape)
    if x.ndim < 2 or x.shape[1:] != tuple(input_shape):
        raise InputDataError(f"{what}: samples of shape {list(x.shape)}; the ANN takes (samples, {', '.join(map(str, input_shape))})")
    if len(x) == 0:
        raise InputDataError(f"{what}: no samples")
    x = x[:MAX_CALIBRATION_SAMPLES].astype(np.float32)
    if not np.all(np.isfinite(x)):
        raise InputDataError(f"{what}: contains NaN or infinite values")
    if spec.input == "rate" and x.min() < 0:
        raise InputDataError(f"{what}: negative values ({x.min():g}) cannot be spike rates: use --convert input=current (direct input)")
    return x


def _activations(ann, x: np.ndarray, input_shape) -> tuple[dict[str, np.ndarray], dict[str, tuple[int, ...]]]:
    """Each module's output on ``x`` (by module name) and its per-sample shape."""
    import torch

    outputs: dict[str, np.ndarray] = {}
    shapes: dict[str, tuple[int, ...]] = {INPUT: tuple(input_shape)}
    with torch.no_grad():  # one sample first: the sizes every module's output will need for all of them
        value, per_sample = torch.as_tensor(x[:1]), 0
        for module in ann.children():
            value = module(value)
            per_sample += value.numel()
    check_memory(float(per_sample) * 4 * len(x), f"the ANN's activations on {len(x)} calibration samples", "give fewer samples")
    value = torch.as_tensor(x)
    with torch.no_grad():
        for name, module in ann.named_children():
            value = module(value)
            outputs[name] = value.numpy()
            shapes[name] = tuple(value.shape[1:])
    return outputs, shapes


def _percentile(values: np.ndarray, percentile: float) -> tuple[float, float, float]:
    """(lambda, max, share above lambda) of the positive values."""
    positive = values[values > 0]
    if positive.size == 0:
        return 1.0, 0.0, 0.0
    scale = float(np.percentile(positive, percentile))
    return scale, float(positive.max()), float(np.mean(positive > scale))


# --------------------------------------------------------------------------- the spiking graph
class _Builder:
    """NIR nodes in order: the pending Linear / Conv2d nodes are scaled when the ReLU (or the
    end) that closes their layer gives lambda."""

    def __init__(self, input_shape, input_scale, spec: ConvertSpec, activations, shapes, source):
        self.spec, self.activations, self.shapes, self.source = spec, activations, shapes, source
        self.nodes: dict[str, nir.NIRNode] = {INPUT: nir.Input(input_type=np.array(input_shape))}
        self.edges: list[tuple[str, str]] = []
        self.last = INPUT
        self.shape = tuple(input_shape)
        self.scale = input_scale  # lambda of what the last node carries
        self.pending: list[_Op] = []  # affine ops since the last spiking layer
        self.pending_modules: list[str] = []
        self.spiking_last = True  # the last node emits spikes (or the input)
        self.layers: list[ConvertedLayer] = []
        self.notes: list[str] = []

    def _key(self, name: str) -> str:
        return name.replace(".", "_")

    def _append(self, name: str, node) -> None:
        self.nodes[name] = node
        self.edges.append((self.last, name))
        self.last = name

    def add(self, op: _Op) -> None:
        key = self._key(op.names[-1])
        if op.kind == "affine":
            self.pending.append(op)
            self.pending_modules += list(op.names)
            self._append(self._key(op.names[0]), _affine_node(op, self.shape))
            self.spiking_last = False
        elif op.kind == "relu":
            if not self.pending:
                raise UnsupportedModelError(f"module {op.names[0]!r} (ReLU) follows no Linear or Conv2d; a ReLU of spikes or of the "
                                            "input has no conversion")
            self._close(op.names[0], key, self.spec.percentile)
        elif op.kind == "flatten":
            start, end = op.module.start_dim, op.module.end_dim
            if start != 1:
                raise UnsupportedModelError(f"module {op.names[0]!r} (Flatten): start_dim={start}; flatten each sample (start_dim=1)")
            self._append(key, nir.Flatten(input_type={"input": np.array(self.shape)}, start_dim=0, end_dim=end if end < 0 else end - 1))
        elif op.kind == "avgpool" or (op.kind == "maxpool" and self.spec.maxpool == "avg"):
            kernel, stride, padding = _pool_params(op.module)
            self._append(key, nir.AvgPool2d(kernel_size=np.array(kernel), stride=np.array(stride), padding=np.array(padding)))
            if op.kind == "maxpool":
                self.notes.append(f"module {op.names[0]!r} (MaxPool2d) converted as average pooling (--convert maxpool=avg)")
        else:
            self._max_pool(op, key)
        self.shape = self.shapes[key]

    def _max_pool(self, op: _Op, key: str) -> None:
        if not self.spiking_last or self.last == INPUT:
            raise UnsupportedModelError(f"module {op.names[0]!r} (MaxPool2d): with maxpool=or it must follow a ReLU (max pooling and "
                                        "ReLU commute: move it after the ReLU), or use --convert maxpool=avg")
        kernel, stride, padding = _pool_params(op.module)
        # ReLU outputs are >= 0, so the window sum's zero padding is the ANN's -inf padding
        pool, shape = window_sum(self.shape, kernel, stride, padding)
        self._append(key, pool)
        layer = f"{key}_or"
        self._append(layer, or_neurons(shape))
        scale, high, above = _percentile(self.activations[key], self.spec.percentile)
        self.layers.append(ConvertedLayer(layer, op.names, "or", key, self.scale, high, 0.0))

    def _close(self, ann_name: str, key: str, percentile: float) -> None:
        """The pending affine ops end in a layer of IF neurons named after ``key``."""
        scale, high, above = _percentile(self.activations[key], percentile)
        first = self.pending[0]
        first_node = self.nodes[self._key(first.names[0])]
        _scale_weight(first_node, self.scale / scale)
        for op in self.pending:
            _scale_bias(self.nodes[self._key(op.names[0])], 1.0 / scale)
        shape = self.shapes[key]
        layer = f"{key}_if"
        metadata = {"reset": "subtract", "reset_delay": False, "converted_from": ann_name}
        self._append(layer, nir.IF(r=np.full(shape, 1.0 / DT), v_threshold=np.ones(shape), v_reset=np.zeros(shape), metadata=metadata))
        self.layers.append(ConvertedLayer(layer, tuple(self.pending_modules) + (ann_name,), "if", key, scale, high, above))
        self.pending, self.pending_modules = [], []
        self.scale, self.spiking_last = scale, True

    def finish(self) -> None:
        if self.pending:
            last = self._key(self.pending[-1].names[0])
            key = next(reversed([k for k in self.shapes if k != INPUT]))
            self.shapes[f"{last}_out"] = self.shapes[key]
            self.activations[f"{last}_out"] = self.activations[key]
            self.shape = self.shapes[key]
            self._close(last, f"{last}_out", self.spec.output_percentile)
            self.layers[-1] = ConvertedLayer(f"{last}_out_if", self.layers[-1].ann_modules[:-1], "if", key, *self._last_numbers())
        elif not self.layers:
            raise UnsupportedModelError(f"{self.source}: no Linear or Conv2d layer to convert")
        self.nodes["output"] = nir.Output(output_type=np.array(self.shape))
        self.edges.append((self.last, "output"))

    def _last_numbers(self) -> tuple[float, float, float]:
        layer = self.layers[-1]
        return layer.scale, layer.activation_max, layer.above_scale


def _affine_node(op: _Op, in_shape: tuple[int, ...]):
    from torch import nn

    module = op.module
    if isinstance(module, nn.Linear):
        if len(in_shape) != 1:
            raise UnsupportedModelError(f"module {op.names[0]!r} (Linear) gets samples of shape {list(in_shape)}: put an nn.Flatten() before it")
        return nir.Affine(weight=op.weight.copy(), bias=op.bias.copy())
    return nir.Conv2d(input_shape=tuple(int(n) for n in in_shape[1:]), weight=op.weight.copy(), stride=tuple(module.stride),
                      padding=tuple(module.padding), dilation=tuple(module.dilation), groups=module.groups, bias=op.bias.copy())


def _scale_weight(node, factor: float) -> None:
    node.weight = node.weight * factor


def _scale_bias(node, factor: float) -> None:
    node.bias = node.bias * factor


def _pool_params(module) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    kernel = _pair(module.kernel_size)
    stride = _pair(module.stride if module.stride is not None else module.kernel_size)
    return kernel, stride, _pair(module.padding)
