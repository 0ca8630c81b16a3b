"""snnTorch modules -> NIR, by running the model once and watching the data flow.

snnTorch's own ``export_to_nir`` needs ``ignore_dims=[0]``, fails on scalar ``beta``,
ignores the reset mechanism and drops unknown layers with only a warning. This
frontend instead executes the model on a zero input with forward hooks on every leaf
module and a ``TorchFunctionMode`` watching the operations between modules, so it
handles ``nn.Sequential`` models with ``init_hidden=True`` as well as the tutorial
style of a custom ``forward`` that loops over time with explicit ``mem``/``syn``
states. Each supported module becomes one NIR node (one handler per module type):

    nn.Linear         -> nir.Affine (nir.Linear without bias)
    nn.Conv1d/Conv2d  -> nir.Conv1d/Conv2d (stride, padding, dilation, groups, bias)
    nn.AvgPool2d      -> nir.AvgPool2d (a SumPool2d and a per-output Scale where padding is
                         not counted or a divisor is given)
    nn.AdaptiveAvgPool2d -> nir.AvgPool2d where the output size divides the input, else a
                         nir.Linear of PyTorch's unequal windows
    nn.MaxPool2d, nn.AdaptiveMaxPool2d -> on spikes only: a sum pool (padding, dilation) into
                         nir.Threshold(0.5), which is exactly the max of 0/1 values (an OR); on
                         graded values it is an error
    a + b             -> of module outputs (a residual sum): one edge from each operand into
                         the node that receives the sum (NIR sums a node's inputs)
    nn.BatchNorm1d/2d -> folded into the Linear/Conv before it (eval-mode statistics)
    nn.Flatten        -> nir.Flatten
    nn.Dropout, nn.Identity -> removed (inference)
    snnTorch neurons  -> the node of the neuron model that lists the module in its
                         ``snntorch_modules`` (``neurons/``): snn.Leaky, snn.Lapicque -> nir.LIF,
                         snn.Synaptic -> nir.CubaLIF, snn.Alpha -> nir.CubaLIF and a nir.Delay of
                         one step (``from_snntorch`` there); neurodeploy's snnTorch-style modules
                         (``neurons/snntorch_modules.py``) -> the NIR extension's nodes
    snn.RLeaky, snn.RSynaptic -> the same node and its recurrent connection
                         (``<name>.w_rec``: nir.Affine for all_to_all, nir.Conv2d for a
                         convolutional one, nir.Scale(V) for one-to-one) back to itself

The neuron models write snnTorch's decays with ``(dt / tau) r = 1``, which reproduces
``mem = beta * mem + input``, and keep the reset in node metadata (``neurons/snntorch.py``).

Any other module is an error naming it; so is any operation other than reshaping,
time-indexing or adding between two modules (it would otherwise be lost silently).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import nir
import numpy as np
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from ..errors import UnsupportedModelError
from ..ir.stages import INPUT, FloatGraph
from ..limits import check_memory
from ..neurons import snntorch_model, snntorch_types
from ..neurons.snntorch import SNNTORCH_DT, per_neuron
from ..neurons.threshold import or_neurons, window_sum

_PASSTHROUGH_OPS = {
    "view", "reshape", "flatten", "squeeze", "unsqueeze", "contiguous", "clone", "detach",
    "float", "double", "to", "type", "__getitem__", "select", "unbind", "requires_grad_",
}
_SKIPPED_MODULES = (nn.Dropout, nn.Identity)
_POOLING = (nn.AvgPool2d, nn.MaxPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)


def _snn():
    import snntorch as snn  # imported lazily: importing snntorch is slow

    return snn


def snntorch_to_float_graph(
    model: nn.Module, input_shape: tuple[int, ...] | None = None, source: str = "snnTorch module",
    shape_hints: tuple[tuple[int, ...], ...] = (),
) -> FloatGraph:
    """Convert an snnTorch network to a FloatGraph (NIR) by tracing one forward pass.
    ``shape_hints``: sample shapes the data has, tried where the model cannot tell its input shape."""
    model.eval()
    _reject_unsupported_modules(model)
    trace = _trace(model, input_shape, shape_hints)
    graph, notes = _build_graph(trace)
    return FloatGraph(graph=graph, source=source, format="snntorch", notes=tuple(notes))


# --------------------------------------------------------------------------- tracing
def trace_modules(model: nn.Module, input_shape: tuple[int, ...] | None = None) -> "_Trace":
    """The model's supported leaf modules in call order, each with the module (or INPUT)
    its signal comes from: the structure ``snntorch_to_float_graph`` converts."""
    model.eval()
    _reject_unsupported_modules(model)
    return _trace(model, input_shape)


@dataclass
class _Trace:
    input_shape: tuple[int, ...]
    order: list[str] = field(default_factory=list)  # modules in order of first call
    modules: dict[str, nn.Module] = field(default_factory=dict)
    source_of: dict[str, str] = field(default_factory=dict)  # module -> where its signal input came from


def _leaf_modules(model: nn.Module) -> dict[str, nn.Module]:
    """Modules without children, and snnTorch neurons (whose children are internal)."""
    snn = _snn()
    leaves: dict[str, nn.Module] = {}

    def visit(prefix: str, module: nn.Module) -> None:
        children = list(module.named_children())
        if isinstance(module, snn.SpikingNeuron) or not children:
            leaves[prefix or type(module).__name__] = module
            return
        for child_name, child in children:
            if child_name.isdigit():  # nn.Sequential index: name it after its type, e.g. "leaky1"
                child_name = f"{type(child).__name__.lower()}{child_name}"
            visit(f"{prefix}.{child_name}" if prefix else child_name, child)

    visit("", model)
    return leaves


STRUCTURE_MODULES = (
    "nn.Linear, nn.Conv1d, nn.Conv2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.MaxPool2d and nn.AdaptiveMaxPool2d "
    "(on spikes), nn.BatchNorm1d/2d (after Linear/Conv), nn.Flatten, nn.Dropout, nn.Identity, and + of module outputs"
)
RECURRENT_NEURONS = ("RLeaky", "RSynaptic")  # neuron modules with a recurrent connection of their own (``.recurrent``)


def _neuron_types():
    """The snnTorch neuron classes some neuron model converts (``neurons/``)."""
    return snntorch_types()


def _supported_modules() -> str:
    return ", ".join([STRUCTURE_MODULES] + [f"snn.{t.__name__}" for t in _neuron_types()])


def _reject_unsupported_modules(model: nn.Module) -> None:
    supported = (nn.Linear, nn.Flatten, nn.Conv1d, nn.Conv2d, nn.BatchNorm1d, nn.BatchNorm2d) + _POOLING + _SKIPPED_MODULES
    for name, module in _leaf_modules(model).items():
        if type(module) in _neuron_types():
            _check_neuron_options(name, module)
        elif not isinstance(module, supported):
            raise UnsupportedModelError(
                f"module {name!r} ({type(module).__module__}.{type(module).__name__}) is not supported "
                f"(supported: {_supported_modules()}); neurodeploy never drops a layer silently"
            )


def _check_neuron_options(name: str, module: nn.Module) -> None:
    kind = type(module).__name__
    if getattr(module, "inhibition", False):
        raise UnsupportedModelError(f"module {name!r} ({kind}): inhibition=True has no Loihi equivalent")
    if getattr(module, "state_quant", False):
        raise UnsupportedModelError(f"module {name!r} ({kind}): state_quant is not supported; remove it before deploying")
    factor = torch.as_tensor(getattr(module, "graded_spikes_factor", 1.0))
    if not torch.all(factor == 1.0):
        raise UnsupportedModelError(f"module {name!r} ({kind}): graded_spikes_factor must be 1 for binary Loihi spikes")
    if module.reset_mechanism not in ("zero", "subtract", "none"):
        raise UnsupportedModelError(f"module {name!r} ({kind}): reset_mechanism={module.reset_mechanism!r} (zero, subtract or none)")


def _trace(model: nn.Module, input_shape: tuple[int, ...] | None, shape_hints: tuple[tuple[int, ...], ...] = ()) -> _Trace:
    leaves = {n: m for n, m in _leaf_modules(model).items() if not isinstance(m, _SKIPPED_MODULES)}
    skipped = {n: m for n, m in _leaf_modules(model).items() if isinstance(m, _SKIPPED_MODULES)}
    candidates = [tuple(input_shape)] if input_shape else _guess_input_shapes(leaves, shape_hints)
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    errors: list[str] = []
    for shape in candidates:
        check_memory(math.prod(shape) * 8, f"a zero input of shape {list(shape)} to trace the model", "give the input shape of one sample")
        for sample in (torch.zeros((1, *shape), dtype=dtype, device=device), torch.zeros((1, 1, *shape), dtype=dtype, device=device)):
            try:
                return _trace_once(model, leaves, skipped, sample, shape)
            except UnsupportedModelError:
                raise
            except Exception as exc:  # noqa: BLE001 - try the next input layout
                errors.append(f"{tuple(sample.shape)}: {type(exc).__name__}: {exc}")
            finally:
                _reset_states(model)
    raise UnsupportedModelError(
        "could not run the model on a zero input of shape (batch, *input_shape) or (time, batch, *input_shape) "
        f"with input_shape {candidates[0] if candidates else '?'} ({'; '.join(errors)}); "
        "pass the input shape (e.g. --input FILE) or a model whose forward takes the input tensor alone"
    )


def _guess_input_shapes(leaves: dict[str, nn.Module], shape_hints: tuple[tuple[int, ...], ...] = ()) -> list[tuple[int, ...]]:
    """The input shape of a model starting with nn.Linear; else the data's sample shapes, an image
    (H, W) also as (in_channels, H, W) for a model starting with a convolution."""
    first = next((m for m in leaves.values() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d))), None)
    if isinstance(first, nn.Linear):
        return [(first.in_features,)]
    candidates: list[tuple[int, ...]] = []
    for hint in map(tuple, shape_hints):
        if isinstance(first, nn.Conv2d) and len(hint) == 2:
            candidates.append((first.in_channels, *hint))
        elif isinstance(first, nn.Conv1d) and len(hint) == 1:
            candidates.append((first.in_channels, *hint))
        candidates.append(hint)
    if not candidates:
        raise UnsupportedModelError(
            "cannot infer the input shape of a model that does not start with nn.Linear: pass it "
            "(deploy.py --input-shape C,H,W, --input FILE.npy, or --data with an encoder)"
        )
    return list(dict.fromkeys(candidates))


def _reset_states(model: nn.Module) -> None:
    snn = _snn()
    for module in model.modules():
        if isinstance(module, snn.SpikingNeuron) and hasattr(module, "reset_mem"):
            module.reset_mem()


class _Flow:
    """Where each tensor came from: the model input, a module's signal output, or elsewhere."""

    def __init__(self):
        self.origin: dict[int, str] = {}
        self.keep: list[torch.Tensor] = []  # keeps ids unique while tracing
        self.depth = 0

    def mark(self, tensor: Any, origin: str) -> None:
        if isinstance(tensor, torch.Tensor):
            self.origin[id(tensor)] = origin
            self.keep.append(tensor)

    def of(self, tensor: Any) -> str | None:
        return self.origin.get(id(tensor)) if isinstance(tensor, torch.Tensor) else None


class _OpWatcher(TorchFunctionMode):
    """Propagates origins through reshapes/indexing; marks anything else as 'op:<name>'."""

    def __init__(self, flow: _Flow):
        super().__init__()
        self.flow = flow

    def __torch_function__(self, func, types, args=(), kwargs=None):
        result = func(*args, **(kwargs or {}))
        if self.flow.depth:
            return result
        inputs = list(_tensors(args, kwargs))
        origins = {self.flow.of(a) for a in inputs} - {None}
        name = getattr(func, "__name__", str(func))
        if name in _ADD_OPS and origins:
            summed = _sum_origin(args, kwargs, self.flow)
            if summed is not None:
                self.flow.mark(result, summed)
                return result
        if any(result is a for a in inputs):
            return result  # returned its input unchanged (e.g. dropout in eval mode): origin stays
        if origins:
            if name in _PASSTHROUGH_OPS and len(origins) == 1:
                origin = origins.pop()
            else:
                origin = f"op:{name}({', '.join(sorted(o for o in origins if not o.startswith('op:')))})"
            for out in (result if isinstance(result, (tuple, list)) else (result,)):
                self.flow.mark(out, origin)
        return result


SUM = "sum:"  # origin of an addition of module outputs: "sum:" + the operands' origins joined by SUM_JOIN
SUM_JOIN = " + "
_ADD_OPS = {"add", "add_", "__add__", "__radd__", "__iadd__"}


def _sum_origin(args, kwargs, flow: _Flow) -> str | None:
    """The origin of ``a + b`` where both are module outputs (or the input, or sums of them) of
    one shape: a residual addition, which NIR expresses as two edges into one node. ``x + 0``
    (Python's ``sum``) keeps x's origin. None for anything else (an operation the tracer rejects)."""
    if kwargs and any(k != "alpha" or v != 1 for k, v in kwargs.items()):
        return None
    if len(args) != 2:
        return None
    a, b = args
    if not isinstance(a, torch.Tensor):
        a, b = b, a
    if isinstance(a, torch.Tensor) and not isinstance(b, torch.Tensor):
        return flow.of(a) if isinstance(b, (int, float)) and b == 0 and _summable(flow.of(a)) else None
    if a.shape != b.shape or not (_summable(flow.of(a)) and _summable(flow.of(b))):
        return None
    operands = sorted(sum_operands(flow.of(a)) + sum_operands(flow.of(b)))
    if len(set(operands)) != len(operands):
        return None  # a tensor added to itself is a scaling, not a residual edge
    return SUM + SUM_JOIN.join(operands)


def _summable(origin: str | None) -> bool:
    return origin is not None and not origin.startswith(("op:", "state:"))


def sum_operands(origin: str) -> list[str]:
    """The module outputs (or INPUT) a traced signal is the sum of: [origin] for a plain one."""
    return origin[len(SUM):].split(SUM_JOIN) if origin.startswith(SUM) else [origin]


def _tensors(args, kwargs):
    for item in list(args) + list((kwargs or {}).values()):
        if isinstance(item, torch.Tensor):
            yield item
        elif isinstance(item, (tuple, list)):
            yield from (x for x in item if isinstance(x, torch.Tensor))


def _trace_once(model, leaves, skipped, sample: torch.Tensor, shape: tuple[int, ...]) -> _Trace:
    trace = _Trace(input_shape=shape)
    flow = _Flow()
    flow.mark(sample, INPUT)
    handles = []

    def pre_hook(name):
        def hook(module, args):
            signal = args[0] if args else None
            origin = flow.of(signal)
            if origin is None:
                raise UnsupportedModelError(
                    f"the input of module {name!r} does not come from the model input or another module"
                )
            if origin.startswith("op:"):
                raise UnsupportedModelError(
                    f"module {name!r} receives the result of operation {origin[3:]}: only reshaping, time "
                    "indexing and sums of module outputs of one shape are supported between layers; express the computation as modules"
                )
            previous = trace.source_of.setdefault(name, origin)
            if previous != origin:
                raise UnsupportedModelError(
                    f"module {name!r} receives input from {previous!r} and from {origin!r}: merging branches are "
                    "not supported in this version"
                )
            if name not in trace.modules:
                trace.order.append(name)
                trace.modules[name] = module
            flow.depth += 1

        return hook

    def post_hook(name):
        def hook(module, args, output):
            flow.depth -= 1
            signal = output[0] if isinstance(output, (tuple, list)) else output
            flow.mark(signal, name)
            if isinstance(output, (tuple, list)):
                for state in output[1:]:
                    flow.mark(state, f"state:{name}")

        return hook

    def passthrough_hook(module, args, output):
        flow.mark(output, flow.of(args[0]) if args else None)

    for name, module in leaves.items():
        handles.append(module.register_forward_pre_hook(pre_hook(name)))
        handles.append(module.register_forward_hook(post_hook(name)))
    for module in skipped.values():
        handles.append(module.register_forward_hook(passthrough_hook))
    try:
        with torch.no_grad(), _OpWatcher(flow):
            model(sample)
    finally:
        for handle in handles:
            handle.remove()
    if not trace.order:
        raise UnsupportedModelError("running the model called none of its layers")
    return trace


# --------------------------------------------------------------------------- NIR nodes
@dataclass
class _Converted:
    """One module as NIR nodes: signals enter at ``entry`` and leave from ``exit``."""

    nodes: dict[str, nir.NIRNode]
    edges: list[tuple[str, str]]
    entry: str
    exit: str
    shape: tuple[int, ...]  # per-sample output shape


def _build_graph(trace: _Trace) -> tuple[nir.NIRGraph, list[str]]:
    """NIR nodes in call order; per-sample shapes follow from the modules, not from the
    traced tensors (whose time and batch dimensions depend on how forward indexes them)."""
    nodes: dict[str, nir.NIRNode] = {INPUT: nir.Input(input_type=np.array(trace.input_shape))}
    converted: dict[str, _Converted] = {INPUT: _Converted({}, [], INPUT, INPUT, tuple(trace.input_shape))}
    edges: list[tuple[str, str]] = []
    notes: list[str] = []
    consumers: dict[str, list[str]] = {}
    for name in trace.order:
        for operand in sum_operands(trace.source_of[name]):
            consumers.setdefault(operand, []).append(name)
    for name in trace.order:
        module = trace.modules[name]
        source = trace.source_of[name]
        if source.startswith("state:"):
            raise UnsupportedModelError(
                f"module {name!r} receives the state (mem/syn) of {source[6:]!r} as its input; only spikes flow between layers"
            )
        upstreams = _upstreams(name, source, converted)
        if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            if len(upstreams) > 1:
                raise UnsupportedModelError(f"module {name!r} ({type(module).__name__}) follows an addition ({_described(source)}); "
                                            "it can only be folded into the nn.Linear or nn.Conv directly before it")
            _fold_batchnorm(name, module, source, trace, nodes, consumers)
            converted[name] = upstreams[0]
            continue
        result = _to_nir(name, module, upstreams[0].shape, source, trace, notes, feeds_others=name in consumers)
        nodes.update(result.nodes)
        edges.extend(result.edges)
        edges.extend((upstream.exit, result.entry) for upstream in upstreams)  # NIR sums the edges into a node
        converted[name] = result
    sinks = [name for name in trace.order if name not in consumers]
    if len(sinks) != 1:
        raise UnsupportedModelError(f"the model has {len(sinks)} outputs ({', '.join(sinks)}): exactly one is supported")
    last = converted[sinks[0]]
    nodes["output"] = nir.Output(output_type=np.array(last.shape))
    edges.append((last.exit, "output"))
    graph = nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": SNNTORCH_DT, "source": "snntorch"}, type_check=False)
    return graph, notes


def _upstreams(name: str, source: str, converted: dict[str, _Converted]) -> list[_Converted]:
    """What feeds module ``name``: one converted module, or the operands of a residual addition
    (each an edge into the module's node), all of one shape."""
    operands = sum_operands(source)
    missing = [o for o in operands if o not in converted]
    if missing:
        raise UnsupportedModelError(
            f"module {name!r} receives {_described(source)}, which includes {missing[0]!r} before that module has run: "
            "feedback must be a recurrent neuron module (snn.RLeaky, snn.RSynaptic)"
        )
    upstreams = [converted[o] for o in operands]
    shapes = {u.shape for u in upstreams}
    if len(shapes) > 1:
        raise UnsupportedModelError(
            f"module {name!r} receives {_described(source)} of shapes {', '.join(str(list(s)) for s in sorted(shapes))}: "
            "a residual addition needs one shape (use a projection, e.g. a 1x1 nn.Conv2d, on the shortcut)"
        )
    return upstreams


def _described(source: str) -> str:
    operands = sum_operands(source)
    return f"the sum {' + '.join(repr(o) for o in operands)}" if len(operands) > 1 else repr(source)


def _single(name: str, node: nir.NIRNode, shape: tuple[int, ...]) -> _Converted:
    return _Converted({name: node}, [], name, name, tuple(int(x) for x in shape))


def _to_nir(
    name: str, module: nn.Module, in_shape: tuple[int, ...], source: str, trace: _Trace, notes: list[str], feeds_others: bool = True
) -> _Converted:
    """One handler per module type."""
    n = int(np.prod(in_shape))
    if isinstance(module, nn.Linear):
        if module.in_features != n:
            raise UnsupportedModelError(f"module {name!r} (Linear) expects {module.in_features} inputs but {source!r} gives {n}")
        return _single(name, _linear_node(module), (module.out_features,))
    if isinstance(module, (nn.Conv1d, nn.Conv2d)):
        node = _conv_node(name, module, in_shape, source)
        return _single(name, node, tuple(node.output_type["output"]))
    if isinstance(module, nn.Flatten):
        start = module.start_dim - 1 if module.start_dim > 0 else module.start_dim
        end = module.end_dim - 1 if module.end_dim > 0 else module.end_dim
        node = nir.Flatten(input_type={"input": np.array(in_shape)}, start_dim=start, end_dim=end)
        return _single(name, node, tuple(node.output_type["output"]))
    if isinstance(module, _POOLING):
        return _pooling(name, module, in_shape, source, trace, notes)
    if type(module) in _neuron_types():
        model = snntorch_model(module)
        neuron = model.from_snntorch(name, module, in_shape, notes)
        delay = model.snntorch_output_delay(module)
        if delay and feeds_others:  # the spikes leave ``delay`` steps after the node's own
            node = nir.Delay(delay=np.full(int(np.prod(in_shape)), delay * SNNTORCH_DT))
            return _Converted({name: neuron, f"{name}.delay": node}, [(name, f"{name}.delay")], name, f"{name}.delay", tuple(in_shape))
        if delay:
            notes.append(
                f"module {name!r} ({type(module).__name__}): as the network's output its spikes are reported {delay} step(s) "
                "before snnTorch's (inside the network a synaptic delay keeps them in step)"
            )
        if type(module).__name__ not in RECURRENT_NEURONS:
            return _single(name, neuron, in_shape)
        recurrent = _recurrent_node(name, module, in_shape)
        return _Converted({name: neuron, f"{name}.w_rec": recurrent}, [(name, f"{name}.w_rec"), (f"{name}.w_rec", name)], name, name, tuple(in_shape))
    raise UnsupportedModelError(f"module {name!r} ({type(module).__name__}) is not supported")  # pragma: no cover


def _linear_node(module: nn.Linear) -> nir.NIRNode:
    weight = module.weight.detach().cpu().double().numpy()
    if module.bias is None:
        return nir.Linear(weight=weight)
    return nir.Affine(weight=weight, bias=module.bias.detach().cpu().double().numpy())


def _conv_node(name: str, module, in_shape: tuple[int, ...], source: str) -> nir.NIRNode:
    one_d = isinstance(module, nn.Conv1d)
    if len(in_shape) != (2 if one_d else 3) or in_shape[0] != module.in_channels:
        raise UnsupportedModelError(
            f"module {name!r} ({type(module).__name__}) expects {module.in_channels} input channels but {source!r} "
            f"gives shape {list(in_shape)}"
        )
    if module.padding_mode != "zeros":
        raise UnsupportedModelError(f"module {name!r}: padding_mode={module.padding_mode!r}; only zero padding maps to synapses")
    weight = module.weight.detach().cpu().double().numpy()
    bias = module.bias.detach().cpu().double().numpy() if module.bias is not None else np.zeros(module.out_channels)
    cls = nir.Conv1d if one_d else nir.Conv2d
    spatial = int(in_shape[1]) if one_d else tuple(int(x) for x in in_shape[1:])
    padding = module.padding if isinstance(module.padding, str) else (module.padding[0] if one_d else tuple(module.padding))
    stride = module.stride[0] if one_d else tuple(module.stride)
    dilation = module.dilation[0] if one_d else tuple(module.dilation)
    return cls(input_shape=spatial, weight=weight, stride=stride, padding=padding, dilation=dilation, groups=module.groups, bias=bias)


def _pooling(name: str, module, in_shape: tuple[int, ...], source: str, trace: _Trace, notes: list[str]) -> _Converted:
    kind = type(module).__name__
    if len(in_shape) != 3:
        raise UnsupportedModelError(f"module {name!r} ({kind}) expects (channels, height, width), gets {list(in_shape)}")
    if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        return _adaptive_pooling(name, module, in_shape, source, trace, notes)
    if module.ceil_mode:
        raise UnsupportedModelError(f"module {name!r} ({kind}): ceil_mode=True is not supported (its last windows are cut short)")
    kernel = _pair(module.kernel_size)
    stride = _pair(module.stride if module.stride is not None else module.kernel_size)
    padding = _pair(module.padding)
    out_shape = _pooled_shape(in_shape, kernel, stride, padding)
    if isinstance(module, nn.AvgPool2d):
        return _average_pooling(name, module, in_shape, kernel, stride, padding, out_shape)
    _require_spikes(name, kind, source, trace)
    pool, out_shape = window_sum(in_shape, kernel, stride, padding, _pair(module.dilation))
    return _or_of_windows(name, kind, pool, out_shape, notes)


def _require_spikes(name: str, kind: str, source: str, trace: _Trace) -> None:
    if type(trace.modules.get(source)) not in _neuron_types():
        raise UnsupportedModelError(
            f"module {name!r} ({kind}) takes the maximum of graded values from {_described(source)}, which synapses cannot "
            "compute exactly: use an average pool, or put the max pool directly after a spiking layer (on 0/1 spikes it is exact)"
        )


def _or_of_windows(name: str, kind: str, pool: nir.NIRNode, out_shape: tuple[int, ...], notes: list[str]) -> _Converted:
    """The max of 0/1 spikes over each window: the window's sum into threshold neurons at 0.5
    (an OR), which fire in the step their window spikes (``docs/neurons.md``, "Max pooling")."""
    notes.append(
        f"module {name!r} ({kind} on spikes) runs as a sum pool into threshold neurons ({name}.or): exact in spikes, "
        "one more synaptic step of latency on Loihi"
    )
    threshold = or_neurons(out_shape)
    return _Converted({name: pool, f"{name}.or": threshold}, [(name, f"{name}.or")], name, f"{name}.or", tuple(out_shape))


def _average_pooling(name, module, in_shape, kernel, stride, padding, out_shape) -> _Converted:
    """PyTorch's divisor: kh * kw (nir.AvgPool2d), ``divisor_override``, or, with
    count_include_pad=False, the real inputs of each window (a sum pool, then a per-output scale)."""
    if module.divisor_override is None and (module.count_include_pad or not any(padding)):
        node = nir.AvgPool2d(kernel_size=np.array(kernel), stride=np.array(stride), padding=np.array(padding))
        return _single(name, node, out_shape)
    pool = nir.SumPool2d(kernel_size=np.array(kernel), stride=np.array(stride), padding=np.array(padding))
    if module.divisor_override is not None:
        divisor = np.full(out_shape, float(module.divisor_override))
    else:
        ones = torch.ones((1, 1, *in_shape[1:]), dtype=torch.float64)
        counts = torch.nn.functional.avg_pool2d(ones, kernel, stride, padding, count_include_pad=False, divisor_override=1)
        divisor = np.broadcast_to(counts.numpy()[0], out_shape)
    scale = nir.Scale(scale=np.ascontiguousarray(1.0 / divisor))
    return _Converted({name: pool, f"{name}.scale": scale}, [(name, f"{name}.scale")], name, f"{name}.scale", tuple(out_shape))


ADAPTIVE_MATRIX_LIMIT = 1 << 24  # entries of the dense matrix of a non-uniform adaptive pooling


def _adaptive_pooling(name: str, module, in_shape: tuple[int, ...], source: str, trace: _Trace, notes: list[str]) -> _Converted:
    """AdaptiveAvgPool2d / AdaptiveMaxPool2d to a fixed size: PyTorch's windows are
    [floor(i H / O), ceil((i + 1) H / O)). Where O divides H they are a uniform pooling
    (kernel = stride = H / O); otherwise the windows differ in size and the pooling is one
    matrix per channel (nir.Affine: the same channel's window means, or sums for the max)."""
    kind = type(module).__name__
    channels, height, width = (int(x) for x in in_shape)
    size = module.output_size if isinstance(module.output_size, (tuple, list)) else (module.output_size, module.output_size)
    out_h, out_w = (height if size[0] is None else int(size[0])), (width if size[1] is None else int(size[1]))
    is_max = isinstance(module, nn.AdaptiveMaxPool2d)
    if is_max:
        _require_spikes(name, kind, source, trace)
    out_shape = (channels, out_h, out_w)
    if height % out_h == 0 and width % out_w == 0:
        kernel = np.array([height // out_h, width // out_w])
        cls = nir.SumPool2d if is_max else nir.AvgPool2d
        pool = cls(kernel_size=kernel, stride=kernel.copy(), padding=np.array([0, 0]))
    else:
        entries = channels * out_h * out_w * channels * height * width
        if entries > ADAPTIVE_MATRIX_LIMIT:
            raise UnsupportedModelError(
                f"module {name!r} ({kind}): {height}x{width} -> {out_h}x{out_w} has windows of unequal sizes, which need a "
                f"matrix of {entries} entries (limit {ADAPTIVE_MATRIX_LIMIT}); choose an output size that divides the input"
            )
        pool = nir.Linear(weight=_adaptive_matrix(channels, (height, width), (out_h, out_w), mean=not is_max))
        out_shape = (channels * out_h * out_w,)  # a Linear's output is flat: a convolution cannot follow it
        notes.append(f"module {name!r} ({kind}): {height}x{width} -> {out_h}x{out_w} has windows of unequal sizes; "
                     "it runs as a sparse projection (no shared kernel)")
    if is_max:
        return _or_of_windows(name, kind, pool, out_shape, notes)
    return _single(name, pool, out_shape)


def _adaptive_matrix(channels: int, in_hw: tuple[int, int], out_hw: tuple[int, int], mean: bool) -> np.ndarray:
    """(C * Oh * Ow, C * H * W): output (c, i, j) takes input window rows [floor(i H / Oh), ceil((i + 1) H / Oh)) and
    the same for columns, as PyTorch's adaptive pooling; entries 1 / window size (mean) or 1 (sum)."""
    (height, width), (out_h, out_w) = in_hw, out_hw
    window = np.zeros((out_h * out_w, height * width))
    for i in range(out_h):
        rows = range(i * height // out_h, -(-(i + 1) * height // out_h))
        for j in range(out_w):
            cols = range(j * width // out_w, -(-(j + 1) * width // out_w))
            cells = [r * width + c for r in rows for c in cols]
            window[i * out_w + j, cells] = 1.0 / len(cells) if mean else 1.0
    return np.kron(np.eye(channels), window)


def _pair(value) -> tuple[int, int]:
    return (int(value), int(value)) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _pooled_shape(in_shape, kernel, stride, padding) -> tuple[int, int, int]:
    height = (in_shape[1] + 2 * padding[0] - kernel[0]) // stride[0] + 1
    width = (in_shape[2] + 2 * padding[1] - kernel[1]) // stride[1] + 1
    return int(in_shape[0]), int(height), int(width)


def _fold_batchnorm(name: str, module, source: str, trace: _Trace, nodes: dict, consumers: dict) -> None:
    """w' = w * g, b' = (b - mean) * g + beta with g = gamma / sqrt(var + eps), per channel."""
    target = nodes.get(source)
    if not isinstance(target, (nir.Affine, nir.Linear, nir.Conv1d, nir.Conv2d)) or len(consumers.get(source, [])) != 1:
        raise UnsupportedModelError(
            f"module {name!r} ({type(module).__name__}) can only be folded into an nn.Linear or nn.Conv directly before "
            f"it (that feeds nothing else); it follows {source!r}"
        )
    if module.running_mean is None:
        raise UnsupportedModelError(f"module {name!r}: BatchNorm without running statistics cannot be folded")
    gain = (module.weight.detach() if module.affine else torch.ones_like(module.running_var)) / torch.sqrt(module.running_var + module.eps)
    shift = module.bias.detach() if module.affine else torch.zeros_like(module.running_mean)
    gain, shift, mean = (x.cpu().double().numpy() for x in (gain, shift, module.running_mean))
    weight = np.asarray(target.weight, float) * gain.reshape((-1,) + (1,) * (np.asarray(target.weight).ndim - 1))
    bias = np.asarray(getattr(target, "bias", np.zeros(len(gain))), float)
    bias = (bias - mean) * gain + shift
    if isinstance(target, (nir.Affine, nir.Linear)):
        nodes[source] = nir.Affine(weight=weight, bias=bias)
    else:
        nodes[source] = type(target)(
            input_shape=target.input_shape,
            weight=weight,
            stride=target.stride,
            padding=target.padding,
            dilation=target.dilation,
            groups=target.groups,
            bias=bias,
        )


def _recurrent_node(name: str, module: nn.Module, shape: tuple[int, ...]) -> nir.NIRNode:
    """The recurrent weights of RLeaky/RSynaptic: spikes of the last step back into the layer."""
    recurrent = module.recurrent
    if isinstance(recurrent, nn.Linear):
        return _linear_node(recurrent)
    if isinstance(recurrent, nn.Conv2d):
        return _conv_node(f"{name}.recurrent", recurrent, shape, name)
    return nir.Scale(scale=per_neuron(recurrent.V, shape))  # one-to-one: x * V
