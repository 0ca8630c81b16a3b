"""snnTorch-style neuron modules for the neuron models snnTorch lacks: train or run them in
torch like snnTorch's own (``init_hidden``, ``output``, explicit ``mem``), and deploy them
with neurodeploy, whose snnTorch frontend converts each to the neurodeploy NIR extension
(``neurons/nir_extension.py``) through the neuron model that lists it in ``snntorch_modules``.

    RefractoryLeaky(beta, threshold, refractory)          Leaky with a refractory period (steps)
    AdaptiveLeaky(beta, threshold, theta_step, theta_decay, refractory)
                                                          Leaky with an adaptive threshold (ALIF)
    Izhikevich(a, b, c, d, bias, ...)                     Izhikevich (2003), Euler substeps

Their resets are immediate (as on Loihi): "zero", "subtract" (the resting threshold) or
"none". One step of each, per neuron (x: the input of the step):

    RefractoryLeaky   held = count > 0;  mem = mem if held else beta mem + x;  count -= held
                      spk = not held and mem > threshold;  reset;  count = refractory where spk
    AdaptiveLeaky     as RefractoryLeaky, with theta = threshold + theta_decay (theta - threshold)
                      replacing the threshold, and theta += theta_step where spk
    Izhikevich        ``neurons/izhikevich.py`` (the float scheme), x in mV/ms

Spikes use the module's surrogate gradient (``spike_grad``) on ``mem - threshold``.
"""
from __future__ import annotations

import snntorch as snn
import torch


def _state_like(state: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """``state``, or zeros where its shape differs from the input's (snnTorch's rule)."""
    return state if state.shape == reference.shape else torch.zeros_like(reference)


class _ImmediateResetLeaky(snn.Leaky):
    """A Leaky whose reset happens at the spike (reset_delay=False, without snnTorch's guard)."""

    def __init__(self, beta, threshold=1.0, refractory: int = 0, reset_mechanism: str = "zero", **kwargs):
        kwargs.pop("reset_delay", None)
        super().__init__(beta, threshold=threshold, reset_mechanism=reset_mechanism, reset_delay=False, **kwargs)
        if int(refractory) < 0:
            raise ValueError(f"refractory must be >= 0 steps, got {refractory}")
        self.refractory = int(refractory)
        self.register_buffer("count", torch.zeros(0), False)

    def reset_mem(self):
        self.count = torch.zeros_like(self.count)
        return super().reset_mem()

    def _advance(self, input_, mem):
        """(held, mem after integration) and the count decremented."""
        if mem is not None:
            self.mem = mem
        self.mem = _state_like(self.mem, input_)
        self.count = _state_like(self.count, input_)
        held = self.count > 0
        self.count = self.count - held.to(self.count.dtype)
        return held, torch.where(held, self.mem, self.beta.clamp(0, 1) * self.mem + input_)

    def _reset(self, mem, spk, threshold):
        spiked = spk.detach() > 0
        if self.reset_mechanism_val == 0:  # subtract the (resting) threshold
            mem = mem - spk.detach() * threshold
        elif self.reset_mechanism_val == 1:  # zero
            mem = mem * (1 - spk.detach())
        self.count = torch.where(spiked, torch.full_like(self.count, float(self.refractory)), self.count)
        self.mem = mem
        return mem

    def _returns(self, spk):
        if self.output:
            return spk, self.mem
        if self.init_hidden:
            return spk
        return spk, self.mem


class RefractoryLeaky(_ImmediateResetLeaky):
    """snn.Leaky with a refractory period of ``refractory`` steps: after a spike the membrane
    is held (at 0 after a zero reset) and the input of those steps is dropped."""

    def forward(self, input_, mem=None):
        held, mem = self._advance(input_, mem)
        spk = self.fire(mem) * (~held).to(mem.dtype)
        self._reset(mem, spk, self.threshold)
        return self._returns(spk)


class AdaptiveLeaky(_ImmediateResetLeaky):
    """snn.Leaky with an adaptive threshold (ALIF, homeostasis): the threshold jumps by
    ``theta_step`` at each spike and relaxes back to ``threshold`` by the factor
    ``theta_decay`` per step (1: never); optionally a refractory period (steps)."""

    def __init__(self, beta, threshold=1.0, theta_step=0.1, theta_decay=0.95, refractory: int = 0, reset_mechanism="zero", **kwargs):
        super().__init__(beta, threshold=threshold, refractory=refractory, reset_mechanism=reset_mechanism, **kwargs)
        self.register_buffer("theta_step", torch.as_tensor(theta_step, dtype=torch.float32), False)
        self.register_buffer("theta_decay", torch.as_tensor(theta_decay, dtype=torch.float32), False)
        self.register_buffer("theta", torch.zeros(0), False)

    def reset_mem(self):
        self.theta = torch.zeros(0, dtype=self.theta.dtype, device=self.theta.device)
        return super().reset_mem()

    def forward(self, input_, mem=None):
        held, mem = self._advance(input_, mem)
        if self.theta.shape != input_.shape:
            self.theta = (self.threshold * torch.ones_like(input_)).to(input_.dtype)
        self.theta = self.threshold + self.theta_decay * (self.theta - self.threshold)
        spk = self.spike_grad(mem - self.theta) * (~held).to(mem.dtype)
        self._reset(mem, spk, self.threshold)
        self.theta = self.theta + self.theta_step * spk.detach()
        return self._returns(spk)


class Izhikevich(snn.SpikingNeuron):
    """Izhikevich (2003) neurons: v' = 0.04 v^2 + 5 v + 140 - u + I, u' = a (b v - u), at
    v >= v_peak v = c and u += d; v in mV, time in ms. Each call is one step of ``step_ms``
    in ``substeps`` Euler substeps (v and u from the old values, the test after every
    substep); I = bias + the input (mV/ms). Returns the spikes (any substep fired), and v
    with ``output=True`` or without ``init_hidden``."""

    def __init__(self, a, b, c, d, bias=0.0, v_peak=30.0, v_init=-65.0, u_init=None, step_ms=1.0, substeps=2,
                 spike_grad=None, init_hidden=False, output=False):
        super().__init__(threshold=v_peak, spike_grad=spike_grad, init_hidden=init_hidden, reset_mechanism="zero", output=output)
        for name, value in (("a", a), ("b", b), ("c", c), ("d", d), ("bias", bias), ("v_init", v_init)):
            self.register_buffer(name, torch.as_tensor(value, dtype=torch.float32), False)
        self.register_buffer("u_init", torch.as_tensor(u_init if u_init is not None else b * torch.as_tensor(v_init), dtype=torch.float32), False)
        if substeps < 1:
            raise ValueError(f"substeps must be >= 1, got {substeps}")
        self.step_ms, self.substeps = float(step_ms), int(substeps)
        self.register_buffer("mem", torch.zeros(0), False)
        self.register_buffer("u", torch.zeros(0), False)

    def reset_mem(self):
        self.mem = torch.zeros(0, dtype=self.mem.dtype, device=self.mem.device)
        self.u = torch.zeros(0, dtype=self.u.dtype, device=self.u.device)
        return self.mem

    def forward(self, input_, mem=None):
        if mem is not None:
            self.mem = mem
        if self.mem.shape != input_.shape:
            self.mem = (self.v_init * torch.ones_like(input_)).to(input_.dtype)
            self.u = (self.u_init * torch.ones_like(input_)).to(input_.dtype)
        v, u = self.mem, self.u
        h = self.step_ms / self.substeps
        current = self.bias + input_
        spiked = torch.zeros_like(v)
        for _ in range(self.substeps):
            dv = 0.04 * v * v + 5.0 * v + 140.0 - u + current
            du = self.a * (self.b * v - u)
            v, u = v + h * dv, u + h * du
            surrogate = self.spike_grad(v - self.threshold)  # its gradient; the value is v >= v_peak
            fired = (v >= self.threshold).to(v.dtype)
            v = v * (1 - fired) + self.c * fired
            u = u + self.d * fired
            spiked = torch.maximum(spiked, fired + (surrogate - surrogate.detach()))
        self.mem, self.u = v, u
        if self.output or not self.init_hidden:
            return spiked, self.mem
        return spiked
