"""Cores of a max pool's OR neurons and of the layers around it: the table of docs/neurons.md,
"Layers" (Mozafari et al. 2018's layer sizes, random weights; mapping only, no run).

    python benchmarks/maxpool_cores.py                       # loihi2 and loihi1
    python benchmarks/maxpool_cores.py --profiles loihi2

Each profile as it is (population axons into convolutions and poolings), and with
"discrete axons only": every neuron its own output axon per core it reaches
(core.population_axon_slots = 0). "bands of rows only" forbids map_cores' cut in groups of
whole channels.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import re
import sys
from pathlib import Path
from unittest import mock

import snntorch as snn
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's neurodeploy, installed or not

from neurodeploy.errors import DoesNotFitError  # noqa: E402
from neurodeploy.frontends.snntorch_model import snntorch_to_float_graph  # noqa: E402
from neurodeploy.hardware.profile import load_profile  # noqa: E402
from neurodeploy.ir.passes import CompileOptions, compile_network  # noqa: E402


class Mozafari(nn.Module):
    """Input 6x28x28; conv 30 5x5, max pool 2; conv 250 3x3, max pool 3; conv 200 5x5."""

    def __init__(self):
        super().__init__()
        self.conv1, self.lif1, self.pool1 = nn.Conv2d(6, 30, 5, padding=2), snn.Leaky(beta=1.0, init_hidden=True), nn.MaxPool2d(2)
        self.conv2, self.lif2, self.pool2 = nn.Conv2d(30, 250, 3, padding=1), snn.Leaky(beta=1.0, init_hidden=True), nn.MaxPool2d(3)
        self.conv3, self.lif3 = nn.Conv2d(250, 200, 5, padding=2), snn.Leaky(beta=1.0, init_hidden=True)

    def forward(self, x):
        x = self.pool1(self.lif1(self.conv1(x)))
        return self.lif3(self.conv3(self.pool2(self.lif2(self.conv2(x)))))


LAYERS = ("lif1", "pool1.or", "lif2", "pool2.or", "lif3")


CUTS = {  # (population axons, whole channels)
    "as mapped": (True, True),
    "bands of rows only": (True, False),
    "discrete axons only": (False, True),
    "discrete axons, bands of rows only": (False, False),
}


def cores(profile_name: str, population: bool, whole_channels: bool) -> str:
    graph = snntorch_to_float_graph(Mozafari(), input_shape=(6, 28, 28))
    map_cores = importlib.import_module("neurodeploy.ir.passes.map_cores")
    profile = load_profile(profile_name)
    if not population:
        profile = dataclasses.replace(profile, core=dataclasses.replace(profile.core, population_axon_slots=0))
    with mock.patch.object(map_cores, "_channel_major", map_cores._channel_major if whole_channels else (lambda *args: None)):
        try:
            mapped = compile_network(graph, CompileOptions(profile=profile)).mapped
        except DoesNotFitError as error:  # more cores than the profile's chips: its message lists them per layer
            found = re.search(r"needs (\d+) cores \(([^)]*)\)", str(error))
            if found is None:
                return str(error)
            per_layer = dict(item.split(": ") for item in found.group(2).split(", "))
            return " | ".join(per_layer[name] for name in LAYERS) + f" | {found.group(1)} (does not fit)"
    per_layer = {m.name: len({s.core for s in m.slices}) for m in mapped.layers}
    return " | ".join(str(per_layer[name]) for name in LAYERS) + f" | {mapped.cores_used}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", default="loihi2,loihi1")
    args = parser.parse_args()
    print("| profile | mapping | conv1 | pool1 | conv2 | pool2 | conv3 | total |\n|---|---|---|---|---|---|---|---|")
    for profile in args.profiles.split(","):
        for cut, (population, whole) in CUTS.items():
            print(f"| {profile} | {cut} | {cores(profile, population, whole)} |", flush=True)


if __name__ == "__main__":
    main()
