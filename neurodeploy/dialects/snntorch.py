"""snnTorch 1.0.0: NIR's forward Euler at the dt its exporter writes, and the reset the file
does not store.

snnTorch's exporter (snntorch/export_nir.py:67-217) writes, with dt = 1e-4 s hard-coded,
Leaky -> LIF(tau = dt/(1 - beta), r = tau/dt), Synaptic -> CubaLIF(tau_syn = dt/(1 - alpha),
w_in = tau_syn/dt), and RLeaky/RSynaptic as subgraphs whose recurrent Linear is '<x>.w_rec':
forward Euler at dt = tau/r is exactly its ``mem = beta mem + input`` (input gain r dt/tau = 1,
synaptic gain w_in dt/tau_syn = 1). Its simulator fires at v > thr (H(x) = x > 0,
surrogate.py:190), once per step.

The file does not store ``reset_mechanism`` or ``reset_delay`` (snnTorch's own importer
assumes zero and no delay, import_nir.py:273-275). They come from ``--reset`` /
``--reset-delay``, else from node metadata (neurodeploy's snnTorch frontend writes it), else
snnTorch's constructor defaults, subtract with delay, stated as assumptions. With
rst = H(v[t-1] - thr) on the stored membrane (neurons.py:102-108):

    subtract, delay     v = beta v + i - rst thr      (leaky.py:238-243): exactly an immediate
                        subtraction of thr / beta (neurons/base.py, ``delayed_subtraction``)
    zero, Leaky         v = beta (1 - rst) v + i      (leaky.py:245-247): an immediate reset to 0
    zero, no delay      the reset of this step's spike at once: an immediate reset to 0
    subtract, no delay  v -= (s - rst) thr (leaky.py:222-229): after a subtraction that left v
                        above thr the next spike needs v > 2 thr (the extended compartment's
                        guard, exact)
    zero, delay, Synaptic / RLeaky / RSynaptic
                        v = (1 - rst)(beta v + i) (synaptic.py:271-289, rleaky.py:405-408): the
                        step after a spike is zeroed, its input lost (a one-step refractory
                        period, exact)

RSynaptic ignores reset_delay=False (rsynaptic.py:366-375 resets local copies and returns the
stored membrane): it runs with the delay whatever the setting.
"""
from __future__ import annotations

import copy
import dataclasses

import nir

from ..neurons import model_of
from ..neurons.nir_extension import KEY
from ..neurons.snntorch import snntorch_reset
from .base import Dialect, DialectOptions, Lowered

DEFAULT_RESET, DEFAULT_DELAY = "subtract", True  # snnTorch's Leaky/Synaptic constructor defaults
NEURONS = ("LIF", "CubaLIF")  # what Leaky, RLeaky, Synaptic and RSynaptic export to


class SnnTorchDialect(Dialect):
    name = "snntorch"
    framework = "snnTorch 1.0.0"
    summary = "snnTorch: Euler at dt = tau/r (exact for beta/alpha decays), v > thr, its reset from --reset/--reset-delay or node metadata"

    def settings(self, graph: nir.NIRGraph, options: DialectOptions):
        spiking = [name for name, node in graph.nodes.items() if type(node).__name__ in NEURONS]
        settings = {
            "reset": options.reset or DEFAULT_RESET,
            "reset_delay": DEFAULT_DELAY if options.reset_delay is None else options.reset_delay,
            "reset_from": "--reset" if options.reset else "node metadata, else snnTorch's default",
            "reset_delay_from": "--reset-delay" if options.reset_delay is not None else "node metadata, else snnTorch's default",
        }
        assumptions = []
        unknown = [name for name in spiking if "reset" not in _metadata(graph.nodes[name]) and "reset_mechanism" not in _metadata(graph.nodes[name])]
        if options.reset is None and unknown:
            assumptions.append(
                f"snnTorch reset mechanism assumed '{DEFAULT_RESET}' (snnTorch's default) for {_few(unknown)}: the file does not store it; "
                "pass --reset subtract or --reset zero"
            )
        unknown = [name for name in spiking if "reset_delay" not in _metadata(graph.nodes[name])]
        if options.reset_delay is None and unknown:
            assumptions.append(
                f"snnTorch reset_delay assumed {DEFAULT_DELAY} (snnTorch's default) for {_few(unknown)}: the file does not store it; "
                "pass --reset-delay yes or --reset-delay no"
            )
        return settings, assumptions

    def lower(self, model, low, settings) -> Lowered:
        """The reset (--reset, node metadata, else snnTorch's default) goes into the node's
        metadata, which the neuron model reads (``neurons/base.py``, ``neurons/snntorch.py``):
        snnTorch's semantics stay in one place."""
        if model.name not in NEURONS:
            dynamics, gain = model.lower(low)
            return Lowered(dynamics, gain, (f"not an snnTorch neuron: NIR's equations in forward Euler at dt = {low.dt:g} s",))
        meta = _metadata(low.node)
        reset = settings["reset"] if settings["reset_from"] == "--reset" else _text(meta.get("reset", meta.get("reset_mechanism", settings["reset"])))
        delay = settings["reset_delay"] if settings["reset_delay_from"] == "--reset-delay" else bool(meta.get("reset_delay", settings["reset_delay"]))
        module = ("RSynaptic" if low.recurrent else "Synaptic") if model.name == "CubaLIF" else ("RLeaky" if low.recurrent else "Leaky")
        module = _text(meta.get("snntorch_module", module))
        conventions = [f"{module}: forward Euler at dt = {low.dt:g} s is snnTorch's beta/alpha update exactly (export_nir.py:67-117); fires at v > thr"]
        if module == "RSynaptic" and not delay:
            delay = True
            conventions.append("RSynaptic ignores reset_delay=False in snnTorch 1.0 (rsynaptic.py:366-375): its reset is delayed")
        node = copy.copy(low.node)
        exact = {"reset": reset, "reset_delay": delay} if KEY in meta else snntorch_reset(module, reset, delay)
        node.metadata = {**meta, **exact}  # snnTorch's reset exactly (neurons/snntorch.py)
        dynamics, gain = model_of(node).lower(dataclasses.replace(low, node=node))  # the extension's model where the reset needs one
        conventions.append(RESET_RULES.get((reset, delay), f"reset {reset!r}"))
        return Lowered(dynamics, gain, tuple(conventions))
RESET_RULES = {
    ("subtract", True): "reset by subtraction one step late (leaky.py:238-243): an immediate subtraction of thr / beta",
    ("subtract", False): "reset by subtraction without delay (leaky.py:222-229)",
    ("zero", True): "reset to zero one step late (leaky.py:245-247; Synaptic, RLeaky, RSynaptic zero that whole step: synaptic.py:271-289)",
    ("zero", False): "reset to zero",
}


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _metadata(node) -> dict:
    return dict(node.metadata or {}) if hasattr(node, "metadata") else {}


def _few(names: list[str]) -> str:
    return ", ".join(repr(n) for n in names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")


SNNTORCH = SnnTorchDialect()
