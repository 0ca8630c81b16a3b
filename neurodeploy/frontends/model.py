"""What a frontend returns."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..ir.stages import FloatGraph

MODEL_RULES = "model"  # --learn without a file: the plasticity the model states itself (LoadedModel.learning)


@dataclass(frozen=True)
class LoadedModel:
    graph: FloatGraph
    module: Any = None  # the snnTorch module where there is one: what --finetune trains
    data: Any = None  # data that comes with the model (the demo's digits), for its encoder
    encoder: str | None = None  # the encoder of that data (a name in ENCODERS)
    learning: Any = None  # the LearningSpec the model itself states (a Brian2 network's plasticity), else None


def model_monitors(float_graph) -> dict:
    """What the model itself says to record (graph metadata ``monitors``: a Brian2 network's
    SpikeMonitors and StateMonitors): {"spikes": [layer], "state": {layer: ["u" | "v"]}}, names
    as text (a NIR file read back holds them as bytes)."""
    monitors = (float_graph.graph.metadata or {}).get("monitors") or {}

    def text(names) -> list[str]:
        return [n.decode() if isinstance(n, bytes) else str(n) for n in list(names)]

    return {"spikes": text(monitors.get("spikes", ())), "state": {str(k): text(v) for k, v in dict(monitors.get("state", {})).items()}}
