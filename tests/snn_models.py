"""snnTorch models used by the tests (module level, so torch.save can pickle them)."""
import functools

import snntorch as snn
import torch
from snntorch import surrogate
from torch import nn

# snnTorch's default surrogate (surrogate.atan()) is a closure that pickle cannot save;
# the same ATan surrogate as a partial of the autograd Function can be saved.
PICKLABLE_ATAN = functools.partial(surrogate.ATan.apply, alpha=2.0)


class TutorialNet(nn.Module):
    """The snnTorch tutorial style: explicit states, a Python loop over time."""

    def __init__(self, n_in=12, n_hidden=16, n_out=4, beta=0.85, reset="subtract"):
        super().__init__()
        self.fc1 = nn.Linear(n_in, n_hidden)
        self.lif1 = snn.Leaky(beta=beta, reset_mechanism=reset, spike_grad=PICKLABLE_ATAN)
        self.fc2 = nn.Linear(n_hidden, n_out)
        self.lif2 = snn.Leaky(beta=beta, reset_mechanism=reset, spike_grad=PICKLABLE_ATAN)

    def forward(self, x):
        mem1 = self.lif1.reset_mem()
        mem2 = self.lif2.reset_mem()
        out = []
        for step in range(x.shape[0]):
            cur1 = self.fc1(x[step])
            spk1, mem1 = self.lif1(cur1, mem1)
            spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
            out.append(spk2)
        return torch.stack(out)


class ScaledNet(nn.Module):
    """An operation between layers that is not a module: must be rejected, not dropped."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(5, 4)
        self.lif1 = snn.Leaky(beta=0.9, init_hidden=True)

    def forward(self, x):
        return self.lif1(self.fc1(x) * 2.0)
