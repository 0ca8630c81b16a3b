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
