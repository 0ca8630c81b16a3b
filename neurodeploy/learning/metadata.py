"""What a learned network (learned.nir, ``writeback.learned_graph``) keeps in its graph metadata,
read back when it is deployed again: the learning specification (``LEARNED_KEY``, YAML) and the
learning projections' weight ranges (``BOUNDS_KEY``, JSON). Light to import: every deployment
asks whether its network learned."""
from __future__ import annotations

import json

import numpy as np

from ..errors import ModelLoadError
from ..ir.passes.quantise import WeightBound

LEARNED_KEY = "neurodeploy-learning"  # the learning specification (YAML)
BOUNDS_KEY = "neurodeploy-learned-weight-ranges"  # the learning projections' weight ranges (JSON)


def learned_spec(metadata):
    """The learning specification a learned network's metadata keeps (``learned_graph``), or None."""
    import yaml

    from .spec import SpecError, spec_from_dict

    text = (metadata or {}).get(LEARNED_KEY)
    if text is None:
        return None
    try:
        raw = yaml.safe_load(text.decode() if isinstance(text, bytes) else str(text))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise SpecError(f"metadata {LEARNED_KEY}: not valid YAML ({type(exc).__name__})") from None
    return spec_from_dict(raw, f"metadata {LEARNED_KEY}")


def learned_bounds(metadata) -> dict[tuple[str, str], WeightBound] | None:
    """The weight ranges the projections of a learned network learned within (``weight_bounds``
    at learning, in normalised units per neuron), from its metadata (``learned_graph``); None
    without them. The compiler quantises those projections for them, as it did for learning."""
    text = (metadata or {}).get(BOUNDS_KEY)
    if text is None:
        return None
    try:
        rows = json.loads(text.decode() if isinstance(text, bytes) else str(text))
        bounds = {(str(row["layer"]), str(row["source"])): WeightBound(np.asarray(row["max_abs"], np.float64), str(row["sign_mode"]))
                  for row in rows}
        if not all(b.max_abs.ndim == 1 and np.all(np.isfinite(b.max_abs) & (b.max_abs >= 0)) and b.sign_mode in ("excitatory", "mixed")
                   for b in bounds.values()):
            raise ValueError("a range that is not a list of finite numbers >= 0 with sign mode excitatory or mixed")
        return bounds
    except (ValueError, TypeError, KeyError) as exc:
        raise ModelLoadError(f"metadata {BOUNDS_KEY}: not the learned weight ranges neurodeploy writes ({type(exc).__name__}); "
                             "remove the key to deploy the weights as they are") from None


def bounds_json(bounds: dict[tuple[str, str], WeightBound]) -> str:
    return json.dumps([{"layer": layer, "source": source, "max_abs": np.asarray(b.max_abs, np.float64).reshape(-1).tolist(),
                        "sign_mode": b.sign_mode} for (layer, source), b in bounds.items()])


def readout_mismatch(metadata, decision: str, output_layer: str) -> tuple[str, bool] | None:
    """Where a learned network is deployed with a ``--decision`` that is not the readout it learned
    for: (one line saying so, whether the report's accuracy still reads it as learning did)."""
    spec = learned_spec(metadata)
    readout = None if spec is None else spec.readout
    if readout is None or (readout.decision == decision and readout.layer == output_layer and readout.neurons_per_class == 1):
        return None
    if readout.decision == "label-assignment" or readout.neurons_per_class > 1 or readout.layer != output_layer:
        return (f"the network learned for a {readout.decision} readout of layer {readout.layer!r} with {readout.neurons_per_class} neuron(s) "
                f"per class, which --decision {decision} (one class per output neuron) does not read: no accuracy here; deploy it with "
                "--learn to measure that readout (learning.deployed_accuracy)", False)
    return f"the network learned for --decision {readout.decision}; its accuracy here is by --decision {decision}", True
