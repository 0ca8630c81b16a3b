"""Brian2 networks in: a built ``brian2.Network`` (or its objects) -> a ``LoadedModel``.

``from_brian2(network)`` reads Brian2's own parsed model (``brian2_extract.extract``: the
equations Brian2 parsed, its namespaces with units, ``defaultclock.dt``; never the source
text) and lowers it exactly where the per-step form of the IR can hold it:

    dv/dt = (v_rest - v + x)/tau_m, dx/dt = -x/tau_x  (Brian2's 'exact' or 'euler' step)
      -> CubaLIF with tau_mem = dt/(1-b), tau_syn = dt/(1-a) so that the IR's Euler form has
         Brian2's decays b, a, and r chosen so that one increment of x moves v as Brian2's
         step does (its gain phi; docs/brian2.md)
    synapses onto v directly                          -> LIF (the increment decays one step)
    'v = v_reset' / 'v -= x' resets                    -> reset to zero / by subtraction
    SpikeGeneratorGroup, PoissonGroup                 -> the network input (encoder ``brian2``)
    on_pre 'x_post += w'                               -> Linear, behind a Delay of d+1 steps
    trace plasticity (pre/post traces, clipped w)     -> the learning spec's STDP rule
    adaptive threshold 'theta += theta_plus'          -> the learning spec's homeostasis

Voltages are measured from each neuron's initial v (the IR starts every neuron at 0).
Brian2 adds a spike's increment after the thresholds of its step, so the target first
sees it one step later: every feed-forward projection gets a Delay of (d + 1) steps, a
recurrent one (which the IR already lags by one step) of d. What the IR cannot hold is
refused with one line naming the object, the equation and why (``UnsupportedBrian2``).

``load_brian2_file("model.py:build")`` runs the user's own Python file to build the
network: that is the user's explicit choice (like running their script); nothing else in
neurodeploy executes code from a model or data file.
"""
from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nir
import numpy as np

from ..encoders.brian2_sources import Brian2Input
from ..errors import ModelLoadError, UnsupportedModelError
from ..ir.stages import FloatGraph
from .model import LoadedModel

INPUT = "input"


def from_brian2(network_or_objects: Any, namespace: dict | None = None, *, source: str = "<brian2>") -> LoadedModel:
    """A built Brian2 network (a ``Network``, or a list of its objects) as a LoadedModel:
    its graph, its input sources (encoder ``brian2``) and, where its synapses learn, the
    learning specification (``LoadedModel.learning``). ``namespace``: values of identifiers
    that are not in the objects' own namespaces (as for ``Network.run(namespace=...)``);
    by default the caller's."""
    from brian2 import BrianLogger
    from brian2.core.namespace import get_local_namespace

    from .brian2_extract import extract

    BrianLogger.suppress_name("unused_brian_object")  # read for deployment: Brian2 need not run them
    if namespace is None:
        namespace = get_local_namespace(level=1)
    desc = extract(network_or_objects, namespace)
    return lower(desc, source)


def load_brian2_file(spec: str) -> LoadedModel:
    """``path.py:function``: import the user's file (running it, by their explicit choice)
    and call ``function()``, which returns a ``brian2.Network``, a list of Brian2 objects,
    or a tuple whose first item is one of those."""
    path_text, _, func_name = spec.rpartition(":")
    if not path_text or not func_name.isidentifier():
        raise ModelLoadError(f"{spec}: a Brian2 model is given as FILE.py:FUNCTION (the function that returns the Network)")
    path = Path(path_text)
    if not path.is_file():
        raise ModelLoadError(f"{path}: no such file")
    try:
        import brian2  # noqa: F401 - only to give a clear error when it is missing
    except ImportError:
        raise ModelLoadError(f"{spec}: Brian2 models need the brian2 package (pip install 'neurodeploy[brian2]')") from None
    from brian2 import BrianLogger

    BrianLogger.suppress_name("unused_brian_object")  # the objects are read, never run
    module_name = f"_neurodeploy_brian2_{path.stem}"
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    if module_spec is None or module_spec.loader is None:
        raise ModelLoadError(f"{path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module
    try:
        module_spec.loader.exec_module(module)
        build = getattr(module, func_name, None)
        if not callable(build):
            raise ModelLoadError(f"{spec}: {path.name} has no function {func_name!r}")
        built = build()
    except ModelLoadError:
        raise
    except Exception as exc:  # noqa: BLE001 - the user's code failed: say where, in one line
        raise ModelLoadError(f"{spec}: building the network failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    finally:
        sys.modules.pop(module_name, None)
    if isinstance(built, tuple) and built and _is_network(built[0]):
        built = built[0]
    from .brian2_extract import extract

    namespace = {k: v for k, v in vars(module).items() if not k.startswith("__")}
    return lower(extract(built, namespace), spec)


def _is_network(obj) -> bool:
    from brian2 import Network

    return isinstance(obj, (Network, list))


# --------------------------------------------------------------------------- lowering
def _rate(tau: np.ndarray) -> np.ndarray:
    tau = np.asarray(tau, float)
    return np.where(np.isinf(tau), 0.0, 1.0 / np.where(np.isinf(tau), 1.0, tau))


def _phi(tau_m: np.ndarray, tau_k: np.ndarray, dt: float) -> np.ndarray:
    """v's gain per unit of x over one exact step of dv/dt = -v/tau_m + x, dx/dt = -x/tau_k:
    exp(-dt/tau_m) dt expm1(z)/z, z = (1/tau_m - 1/tau_k) dt (finite for equal taus)."""
    lam, mu = _rate(tau_m), _rate(tau_k)
    z = (lam - mu) * dt
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(z == 0, 1.0, np.expm1(z) / np.where(z == 0, 1.0, z))
    return np.exp(-lam * dt) * dt * ratio


def _decays(group, dt: float):
    """(b, {current: (a, gain)}) of one step as Brian2 integrates the group."""
    currents = {}
    if group.method == "euler":
        b = 1.0 - dt * _rate(group.tau_m)
        for s in group.states:
            currents[s.name] = (1.0 - dt * _rate(s.tau), s.gain * dt)
    else:
        b = np.exp(-dt * _rate(group.tau_m))
        for s in group.states:
            currents[s.name] = (np.exp(-dt * _rate(s.tau)), s.gain * _phi(group.tau_m, s.tau, dt))
    return b, currents


def lower(desc, source: str) -> LoadedModel:
    """A ``brian2_extract.Description`` as a LoadedModel (see the module docstring)."""
    from .brian2_extract import UnsupportedBrian2

    notes: list[str] = [f"Brian2 network read from its parsed model (dt = {desc.dt:g} s)", *desc.notes]
    if not desc.groups:
        raise UnsupportedBrian2(f"{source}: the network has no NeuronGroup")
    desc = _poisson_inputs_as_sources(desc, notes)
    if not desc.sources:
        raise UnsupportedBrian2(f"{source}: the network has no SpikeGeneratorGroup, PoissonGroup or PoissonInput: nothing drives it "
                                "(the network input is its spike sources)")
    sources = tuple(sorted(desc.sources, key=lambda s: s.name))
    offsets = tuple(int(x) for x in np.cumsum([0] + [s.n for s in sources])[:-1])
    offset_of = {s.name: off for s, off in zip(sources, offsets)}
    n_input = int(sum(s.n for s in sources))
    plastic = {rule.synapses: rule for rule in desc.plasticity if rule.weight_var}
    order = _group_order(desc)
    position = {name: k for k, name in enumerate(order)}
    nodes: dict[str, Any] = {INPUT: nir.Input(input_type={"input": np.array([n_input])})}
    edges: list[tuple[str, str]] = []
    homeostasis: dict[str, dict] = {}
    for name in order:
        group = next(g for g in desc.groups if g.name == name)
        projections = [p for p in desc.projections if p.target == name]
        node, gain_of, extra_notes, theta = _neuron_node(group, projections, desc, name in {_target_of(desc, s) for s in plastic})
        notes.extend(extra_notes)
        nodes[name] = node
        if theta is not None:
            homeostasis[name] = theta
        for proj in projections:
            learning = proj.name.split(":")[0] in {f"{name}_pre" for name in plastic}
            if learning:
                notes.append(_same_step_note(proj, desc))
            _add_projection(proj, desc, nodes, edges, gain_of, position, offset_of, n_input, learning)
    output = _output_group(desc, order)
    nodes["output"] = nir.Output(output_type={"output": np.array([nodes[output].v_threshold.shape[0]])})
    edges.append((output, "output"))
    graph = nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": desc.dt, "monitors": _monitors(desc, order, notes)})
    reward_signals: dict = {}
    learning = _learning_spec(desc, plastic, homeostasis, source, notes, reward_signals)
    rewards = {layer: RewardSignal(layer, int(nodes[layer].v_threshold.shape[0]), values, signal_dt, desc.dt, desc.t0_step)
               for layer, (values, signal_dt) in reward_signals.items()}
    data = Brian2Input(desc.dt, sources, offsets, desc.t0_step, rewards=rewards)
    return LoadedModel(FloatGraph(graph, source, "brian2", notes=tuple(notes)), data=data, encoder="brian2", learning=learning)


MAX_POISSON_INPUT_AXONS = 1 << 20  # N x neurons input axons of all PoissonInputs together


def _poisson_inputs_as_sources(desc, notes: list[str]):
    """Each PoissonInput (target_var += Binomial(N, rate dt) * weight per neuron and step, in the
    'synapses' slot) as N independent Poisson sources per target neuron, each an input axon with
    one synapse of that weight: their sum is the same binomial, added in the same slot as a
    PoissonGroup's Synapses. Its cost is stated: N x neurons input axons and synapses."""
    import dataclasses

    from .brian2_extract import Projection, SpikeSourceGroup, UnsupportedBrian2

    if not desc.poisson_inputs:
        return desc
    axons = sum(p.N * desc.group(p.target).n for p in desc.poisson_inputs)
    if axons > MAX_POISSON_INPUT_AXONS:
        raise UnsupportedBrian2(f"{desc.poisson_inputs[0].name}: PoissonInputs need {axons} input axons (N per target neuron), more than "
                                f"{MAX_POISSON_INPUT_AXONS}: lower N (and raise the rate or weight) or use a PoissonGroup shared by the neurons")
    sources, projections = list(desc.sources), list(desc.projections)
    for p in desc.poisson_inputs:
        n = desc.group(p.target).n
        sources.append(SpikeSourceGroup(p.name, p.N * n, "poisson", rates=np.full(p.N * n, p.rate)))
        count = p.N * n
        projections.append(Projection(name=f"{p.name}:{p.target_var}", source=p.name, target=p.target, target_var=p.target_var,
                                      i=np.arange(count), j=np.repeat(np.arange(n), p.N), weight=np.full(count, p.weight),
                                      delay_steps=np.zeros(count, np.int64), weight_var=None, scale=1.0, conditional=p.conditional))
        notes.append(f"{p.name}: PoissonInput (N = {p.N} at {p.rate:g} Hz into {p.target}.{p.target_var}) deployed as {count} Poisson "
                     f"input axons ({p.N} per neuron, one synapse each): the same Binomial(N, rate dt) per step, at the cost of "
                     f"{count} input axons and synapses")
    return dataclasses.replace(desc, sources=tuple(sources), projections=tuple(projections), poisson_inputs=())


def _target_of(desc, synapses: str) -> str:
    return next(p.target for p in desc.projections if p.name.split(":")[0] == f"{synapses}_pre")


def _group_order(desc) -> list[str]:
    """NeuronGroups in feed-forward order (sources before targets where the graph allows)."""
    names = [g.name for g in desc.groups]
    done: list[str] = []
    remaining = list(names)
    while remaining:
        ready = [n for n in remaining if all(p.source not in remaining or p.source == n for p in desc.projections if p.target == n)]
        pick = ready[0] if ready else remaining[0]
        done.append(pick)
        remaining.remove(pick)
    return done


def _monitors(desc, order: list[str], notes: list[str]) -> dict:
    """What the network's monitors record, as the deployment records it: ``spikes`` (groups with a
    SpikeMonitor), ``state`` ({group: ["v" | "u"]}: a StateMonitor of the membrane variable is
    the deployed neuron's v, of its synaptic current u). Monitors of anything else are noted."""
    spikes, state = [], {}
    for m in desc.monitors:
        if m.source not in order:
            notes.append(f"{m.name}: monitors {m.source}, which is not a deployed neuron group: not recorded")
            continue
        if m.kind == "spikes" and m.source not in spikes:
            spikes.append(m.source)
        elif m.kind == "state":
            group = next(g for g in desc.groups if g.name == m.source)
            names = {group.v: "v", **{s.name: "u" for s in group.currents}}
            kept = [names[v] for v in m.variables if v in names]
            for v in m.variables:
                if v not in names:
                    notes.append(f"{m.name}: {m.source}.{v} has no register on the chip: not recorded")
            if kept:
                state[m.source] = sorted(set(state.get(m.source, [])) | set(kept))
        elif m.kind == "rate" and m.source not in spikes:
            spikes.append(m.source)  # a population rate is read from the group's spikes
    return {"spikes": sorted(spikes, key=order.index), "state": {k: state[k] for k in sorted(state, key=order.index)}}


def _output_group(desc, order: list[str]) -> str:
    """The group that feeds no other (a monitor on a hidden group records it, it does not cut the
    network there); among several such, the monitored (SpikeMonitor) one latest in the order, else the last."""
    sinks = [g for g in order if not any(p.source == g and p.target != g for p in desc.projections)] or order
    monitored = [m.source for m in desc.monitors if m.kind == "spikes" and m.source in sinks]
    return max(monitored, key=order.index) if monitored else sinks[-1]


def _neuron_node(group, projections, desc, learns: bool):
    """The NIR node of one group, the gain of each written variable, and notes."""
    from .brian2_extract import UnsupportedBrian2

    dt, n, notes = desc.dt, group.n, []
    held = _refractory_steps(group, projections, learns)
    if np.any(np.isinf(group.tau_m)):
        raise UnsupportedBrian2(f"{group.name}: 'd{group.v}/dt' has no leak: the deployed LIF needs a finite membrane time constant")
    if not np.all(np.isfinite(group.threshold)):
        raise UnsupportedBrian2(f"{group.name}: no threshold: only spiking groups are deployed")
    adaptations = group.adaptations
    currents_written = {p.target_var for p in projections} - {group.v}
    currents = [s for s in group.states if s.name in currents_written or (np.any(s.gain != 0) and s not in adaptations)]
    b, step = _decays(group, dt)
    if len({s.name for s in currents}) > 1:
        taus = {s.name: step[s.name][0] for s in currents}
        first = next(iter(taus.values()))
        if not all(np.allclose(a, first) for a in taus.values()):
            names = ", ".join(sorted(taus))
            raise UnsupportedBrian2(f"{group.name}: synaptic currents {names} decay with different time constants: the deployed neuron "
                                    "(CubaLIF) has one current; use one current (or equal tau)")
    if currents and group.v in {p.target_var for p in projections}:
        raise UnsupportedBrian2(f"{group.name}: synapses write both {group.v} and the current {currents[0].name}: the deployed neuron "
                                "takes input into one of them")
    if any(np.any(group.init[s.name] != 0) for s in currents):
        raise UnsupportedBrian2(f"{group.name}: synaptic currents start nonzero: the deployed neuron starts every current at 0")
    theta = None
    if adaptations:
        theta = _adaptive_threshold(group, adaptations, dt, learns)
    v_resets = [op for op in group.reset if op.var == group.v]
    other = [op for op in group.reset if op.var != group.v and (theta is None or op.var != theta["var"])]
    if len(v_resets) != 1 or other:
        statements = ", ".join(f"{op.var} {op.op}" for op in group.reset) or "none"
        raise UnsupportedBrian2(f"{group.name}: reset ({statements}): the deployed neuron resets {group.v} once, to a value or by subtraction")
    reset = v_resets[0]
    v0 = group.init[group.v]
    if not group.threshold_strict:
        notes.append(f"{group.name}: threshold '>=' deployed as '>' (they differ only where v equals the threshold exactly)")
    common = dict(v_leak=group.v_rest - v0, v_threshold=group.threshold - v0)
    metadata = {}
    if reset.op == "set":
        common["v_reset"] = reset.value - v0
        if group.v in {p.target_var for p in projections}:
            notes.append(f"{group.name}: input into {group.v} in a neuron's spike step is kept (Brian2's reset to a value drops it)")
    else:
        if not np.allclose(-reset.value, group.threshold - v0):
            raise UnsupportedBrian2(f"{group.name}: reset '{group.v} -= x' with x other than the threshold's distance from the initial "
                                    f"{group.v}: the deployed neuron subtracts its threshold")
        common["v_reset"] = np.zeros(n)
        metadata = {"reset": "subtract"}
    one_minus_b = 1.0 - b
    if currents:
        a, gain = step[currents[0].name]
        gain_of = {s.name: step[s.name][1] for s in currents}
        node = nir.CubaLIF(tau_syn=dt / (1.0 - a), tau_mem=dt / one_minus_b, r=gain / ((1.0 - a) * one_minus_b), w_in=np.ones(n),
                           metadata=metadata, **common)
        gain_of = {name: g / gain for name, g in gain_of.items()}
    else:
        node = nir.LIF(tau=dt / one_minus_b, r=b / one_minus_b, metadata=metadata, **common)
        gain_of = {group.v: np.ones(n)}
    if held is not None:
        from ..neurons.nir_extension import with_extension

        with_extension(node, "Refractory", t_ref=held * dt)
        notes.append(f"{group.name}: refractory period of up to {int(held.max()) + 1} steps: v held for {int(held.max())} steps after "
                     "a spike (the Refractory extension, as Lava's LIFRefractory), the current integrating")
    return node, gain_of, notes, theta


def _refractory_steps(group, projections, learns: bool) -> np.ndarray | None:
    """Steps v is held after a spike (Brian2 holds a neuron with refractory=K steps for the K-1
    steps after its spike step), or None without a refractory period longer than one step.
    Loihi holds v and lets the current integrate: Brian2 does the same with '(unless refractory)'
    on v only and synapses into a current; any other form is refused."""
    from .brian2_extract import UnsupportedBrian2

    if not group.has_refractory or not np.any(group.refractory_steps > 1):
        return None
    k = int(group.refractory_steps.max())
    where = f"{group.name}: refractory period of {k} steps"
    if not group.clamp_v:
        raise UnsupportedBrian2(f"{where} without '(unless refractory)' on d{group.v}/dt: Brian2 keeps integrating {group.v} and only blocks "
                                f"the threshold; the chip holds {group.v} (add the flag)")
    if any(s.clamped for s in group.states):
        raise UnsupportedBrian2(f"{where}: a current with '(unless refractory)' is frozen in Brian2; the chip's current integrates "
                                "throughout (remove the flag from the current)")
    if any(p.target_var == group.v for p in projections):
        raise UnsupportedBrian2(f"{where}: synapses onto {group.v} change it while refractory in Brian2; the chip's held {group.v} drops "
                                "that input (write the synapses into a current)")
    if learns:
        raise UnsupportedBrian2(f"{where}: a learning layer's neurons have no refractory period on the chip")
    if np.any(group.lastspike_step > -(10**6)) and np.any(group.lastspike_step + group.refractory_steps > 0):
        raise UnsupportedBrian2(f"{where}: neurons start refractory (lastspike set): the deployed neurons start free")
    return np.maximum(group.refractory_steps - 1, 0).astype(float)


def _adaptive_threshold(group, adaptations, dt: float, learns: bool) -> dict:
    from .brian2_extract import UnsupportedBrian2

    if len(adaptations) != 1 or not learns:
        why = "more than one adaptive threshold" if len(adaptations) != 1 else "an adaptive threshold outside a learning layer"
        raise UnsupportedBrian2(f"{group.name}: threshold with {', '.join(s.name for s in adaptations)}: {why} is not deployed "
                                "(adaptive thresholds are the learning layer's homeostasis)")
    s = adaptations[0]
    ops = [op for op in group.reset if op.var == s.name]
    if len(ops) != 1 or ops[0].op != "add" or not np.allclose(s.threshold_coef, 1.0) or np.any(group.init[s.name] != 0):
        raise UnsupportedBrian2(f"{group.name}: adaptive threshold {s.name}: deployed as 'threshold + {s.name}', "
                                f"'{s.name} += theta_plus' at the reset, starting at 0")
    plus = ops[0].value
    if not np.allclose(plus, plus[0]):
        raise UnsupportedBrian2(f"{group.name}: '{s.name} += ...' differs between neurons: the homeostasis has one theta_plus per layer")
    return {"var": s.name, "theta_plus": float(plus[0]), "tau_theta": float(s.tau[0])}


def _same_step_note(proj, desc) -> str:
    from .brian2_extract import UnsupportedBrian2

    if np.any(proj.delay_steps != 0):
        raise UnsupportedBrian2(f"{proj.name}: a learning projection with delays: Loihi's learning synapses have none")
    return (f"{proj.name}: learning synapses transmit in the spike's own step (the chip's learning synapses have no delay): "
            f"{proj.target} runs one step ahead of Brian2 on this input")


def _add_projection(proj, desc, nodes: dict, edges: list, gain_of: dict, position: dict, offset_of: dict, n_input: int,
                    learning: bool) -> None:
    """Linear nodes (one per distinct delay) from the source into the target group."""
    from .brian2_extract import UnsupportedBrian2

    target = proj.target
    if proj.target_var not in gain_of:
        raise UnsupportedBrian2(f"{proj.name}: writes {target}.{proj.target_var}, which is not the deployed neuron's input")
    n_target = nodes[target].v_threshold.shape[0]
    from_input = proj.source in offset_of
    if from_input:
        n_source, columns = n_input, proj.i + offset_of[proj.source]
    elif proj.source in position:
        n_source, columns = int(nodes[proj.source].v_threshold.shape[0]), proj.i
    else:
        raise UnsupportedBrian2(f"{proj.name}: source {proj.source} is not a group of the network")
    recurrent = not from_input and position[proj.source] >= position[target]
    lag = 0 if recurrent or learning else 1
    weight = proj.weight * gain_of[proj.target_var][proj.j]
    safe = proj.name.replace(":", "_").replace(".", "_")
    for d in np.unique(proj.delay_steps):
        keep = proj.delay_steps == d
        matrix = np.zeros((n_target, n_source))
        np.add.at(matrix, (proj.j[keep], columns[keep]), weight[keep])
        name = f"{safe}_d{int(d)}" if len(np.unique(proj.delay_steps)) > 1 else safe
        src = INPUT if from_input else proj.source
        steps = int(d) + lag
        if steps:
            nodes[f"{name}_delay"] = nir.Delay(delay=np.full(n_source, steps * desc.dt))
            edges.append((src, f"{name}_delay"))
            src = f"{name}_delay"
        nodes[name] = nir.Linear(weight=matrix)
        edges.append((src, name))
        edges.append((name, target))


# --------------------------------------------------------------------------- plasticity
def _learning_spec(desc, plastic: dict, homeostasis: dict, source: str, notes: list[str], reward_signals: dict):
    """The learning specification of the plastic Synapses, or None; ``reward_signals`` gains
    the given reward of each reward-modulated layer (``RewardSignal``)."""
    if not plastic:
        if homeostasis:
            raise UnsupportedModelError(f"{source}: adaptive thresholds without plastic synapses are not deployed")
        return None
    from ..learning.spec import spec_from_dict

    layers = {}
    for name, rule in plastic.items():
        proj = next(p for p in desc.projections if p.name.split(":")[0] == f"{name}_pre")
        if proj.weight_var != rule.weight_var:
            raise UnsupportedModelError(f"{name}: the learning weight {rule.weight_var} is not the weight its on_pre transmits")
        # the spec's weights are the graph's: the transmitted increment per unit of the Brian2 weight
        if rule.third_factor is not None:
            entry = {"rule": _rstdp_rule(rule, notes, proj.scale, desc.dt), "reward": _reward_of(rule, desc.dt, reward_signals, proj.target)}
        else:
            entry = {"rule": _stdp_rule(rule, notes, proj.scale, desc.dt)}
        entry["source"] = INPUT if proj.source in {s.name for s in desc.sources} else proj.source
        if proj.target in layers:
            raise UnsupportedModelError(f"{name}: a second plastic projection into {proj.target}: one learning projection per layer")
        if proj.target in homeostasis:
            theta = homeostasis[proj.target]
            entry["homeostasis"] = {"theta_plus": theta["theta_plus"], "tau_theta": theta["tau_theta"]}
        layers[proj.target] = entry
    first = next(iter(layers))
    # a reward-modulated layer reads out its classes (neuron i: class i) by spike count; an STDP layer labels its neurons
    decision = "spike-count" if "reward" in layers[first] else "label-assignment"
    return spec_from_dict({"neurodeploy-learning": 1, "layers": layers, "readout": {"layer": first, "decision": decision}}, source)


def _stdp_rule(rule, notes: list[str], scale: float, dt: float) -> dict:
    """A trace rule as the spec's STDP: at a post event w += a_plus x - w_decay w, at a pre
    event w -= a_minus y, clipped to [w_min, w_max]; anything else is refused (one line)."""
    from .brian2_extract import UnsupportedBrian2

    def refuse(why: str):
        raise UnsupportedBrian2(f"{rule.synapses}: plasticity (dw at pre: {_terms(rule.dw_pre)}; at post: {_terms(rule.dw_post)}): {why}")

    a_plus, a_minus, w_decay, x, y = _stdp_amplitudes(rule, refuse)
    _check_pair_rule(rule, a_plus, scale, refuse)
    kinds = {x.increment, getattr(y, "increment", x.increment)}
    if kinds == {"set"}:
        notes.append(f"{rule.synapses}: nearest-spike traces ('x = a'): the chip's additive trace, given the impulse of its whole "
                     "range, saturates at one spike's worth, the same")
    elif "set" in kinds:
        notes.append(f"{rule.synapses}: nearest-spike traces ('x = a') learn with Loihi's additive traces (equal while spikes "
                     "are further apart than the trace's time constant)")
    return {"kind": "stdp", "a_plus": a_plus * scale, "a_minus": a_minus * scale, "tau_plus": x.tau, "tau_minus": y.tau if y else x.tau,
            "w_max": rule.w_max * scale, "w_min": rule.w_min * scale, "w_decay": w_decay,
            "trace_range": _trace_range((x, y), dt, rule.synapses, notes)}


def _check_pair_rule(rule, a_plus: float, scale: float, refuse) -> None:
    """What the chip's pair rules (``stdp`` and ``rstdp``) need: a clipped weight, potentiation
    with a positive amplitude, an excitatory synapse."""
    w = rule.weight_var
    if rule.w_max is None or rule.w_min is None:
        refuse(f"the weight is not clipped: add '{w} = clip({w}, 0, w_max)' to on_pre or on_post")
    if a_plus < 0:
        refuse("potentiation with a negative amplitude")
    if scale <= 0:
        refuse(f"the weight enters with the factor {scale:g}: learning synapses are excitatory (v += w * unit, unit > 0)")


def _trace_range(traces, dt: float, synapses: str, notes: list[str]) -> float:
    """The largest value (in spikes) the traces reach in Brian2: 1 for a nearest-spike trace
    ('x = a'), 1 / (1 - exp(-dt/tau)) for an additive one at one spike per step (Brian2's trace has
    no ceiling; the lowering then gives the chip's trace an impulse that keeps room for it)."""
    reach = [1.0 if t.increment == "set" else 1.0 / -np.expm1(-dt / t.tau) for t in traces if t is not None and np.isfinite(t.tau)]
    if not reach:
        return 0.0
    top = float(max(reach))
    if top > 1.0:
        notes.append(f"{synapses}: additive traces reach up to {top:.3g} spikes' worth in Brian2: the rule's trace_range keeps the "
                     "chip's traces from saturating (the learning table states their impulse)")
    return top


def _stdp_amplitudes(rule, refuse) -> tuple[float, float, float, Any, Any]:
    """(a_plus, a_minus, w_decay, pre trace, post trace) of changes at events in the pair form:
    + a_plus x (- w_decay w) at a post event, - a_minus y at a pre event."""
    pre = [t for t in rule.traces if t.side == "pre" and t.increment in ("add", "set")]
    post = [t for t in rule.traces if t.side == "post" and t.increment in ("add", "set")]
    other = [t for t in rule.traces if t not in pre and t not in post]
    if other or len(pre) != 1 or len(post) > 1:
        refuse("only one pre trace and at most one post trace (x += a or x = a at their own events) map onto the STDP rule")
    x, w = pre[0], rule.weight_var
    y = post[0] if post else None
    a_plus = w_decay = a_minus = 0.0
    changed = w if rule.third_factor is None else rule.third_factor.eligibility
    for coef, factors in rule.dw_post or ():
        if factors == (x.name,):
            a_plus += coef * x.amount
        elif factors == (w,) and coef <= 0 and rule.third_factor is None:
            w_decay += -coef
        else:
            refuse(f"term {coef:g}*{'*'.join(factors) or '1'} at a post event is not a_plus*{x.name}"
                   + (f" or -w_decay*{w}" if rule.third_factor is None else f" (of {changed})"))
    for coef, factors in rule.dw_pre or ():
        if y is not None and factors == (y.name,) and coef <= 0:
            a_minus += -coef * y.amount
        else:
            refuse(f"term {coef:g}*{'*'.join(factors) or '1'} at a pre event is not -a_minus*(post trace) (of {changed})")
    return a_plus, a_minus, w_decay, x, y


def _rstdp_rule(rule, notes: list[str], scale: float, dt: float) -> dict:
    """Reward-modulated plasticity as the spec's ``rstdp``: the eligibility c (dc/dt = -c/tau_c,
    + a_plus x at a post event, - a_minus y at a pre event) and w += c r each step, with
    r = dt k reward(t) (Brian2's Euler step of dw/dt = k c reward(t))."""
    from .brian2_extract import UnsupportedBrian2

    third = rule.third_factor

    def refuse(why: str):
        raise UnsupportedBrian2(f"{rule.synapses}: reward-modulated plasticity (d{third.eligibility} at pre: {_terms(rule.dw_pre)}; "
                                f"at post: {_terms(rule.dw_post)}): {why}")

    a_plus, a_minus, _, x, y = _stdp_amplitudes(rule, refuse)
    _check_pair_rule(rule, a_plus, scale, refuse)
    if "set" in (x.increment, getattr(y, "increment", "add")):
        notes.append(f"{rule.synapses}: nearest-spike traces ('x = a') learn with Loihi's additive traces")
    # Brian2's Euler step keeps 1 - dt/tau_c of c; the chip keeps exp(-dt/tau): the same decay per step
    keep = 1.0 - dt / third.tau
    if keep <= 0:
        refuse(f"tau of {third.eligibility} ({third.tau:g} s) is not longer than dt")
    notes.append(f"{rule.synapses}: reward-modulated STDP: the eligibility {third.eligibility} in the chip's tag, the reward "
                 f"{third.signal}(t) on the post neurons' reward trace, given per step")
    return {"kind": "rstdp", "a_plus": a_plus * scale, "a_minus": a_minus * scale, "tau_plus": x.tau, "tau_minus": y.tau if y else x.tau,
            "tau_eligibility": -dt / np.log(keep), "w_max": rule.w_max * scale, "w_min": rule.w_min * scale,
            "trace_range": _trace_range((x, y), dt, rule.synapses, notes)}


@dataclass(frozen=True)
class RewardSignal:
    """A reward-modulated layer's given reward: r per step (w += c r), from Brian2's TimedArray
    (its value at step n is values[int((n dt + 1e-3 dt) / signal_dt)], the last one after its end)."""

    layer: str
    n: int
    per_value: np.ndarray  # r of each TimedArray value: dt * gain * value
    signal_dt: float
    dt: float
    t0_step: int

    def per_step(self, steps: int) -> np.ndarray:
        """(steps,) r of the network's next ``steps`` steps."""
        t = (np.arange(steps) + self.t0_step) * self.dt
        index = np.clip(((t + 1e-3 * self.dt) / self.signal_dt).astype(np.int64), 0, len(self.per_value) - 1)
        return self.per_value[index]

    def rewards(self, samples: int, steps: int) -> np.ndarray:
        """(samples, steps, n): the learning run's ``rewards``: every sample replays the signal from
        the network's time at reading (Brian2's reward(t) runs on network time instead)."""
        return np.broadcast_to(self.per_step(steps)[None, :, None], (samples, steps, self.n)).copy()


def _reward_of(rule, dt: float, reward_signals: dict, layer: str) -> dict:
    """The spec's ``reward`` of a reward-modulated rule (``source: data``, the signal's largest
    reward and punishment per step), and the signal itself in ``reward_signals``."""
    third = rule.third_factor
    per_value = dt * third.gain * third.values
    reward_signals[layer] = (per_value, third.signal_dt)
    top, bottom = float(max(per_value.max(), 0.0)), float(max(-per_value.min(), 0.0))
    return {"source": "data", "reward": top or 1.0, "punishment": bottom or top or 1.0}


def _terms(terms) -> str:
    if terms is None:
        return "not a polynomial"
    return " + ".join(f"{c:g}*{'*'.join(f) or '1'}" for c, f in terms) or "none"
