"""The registry of dialects: one line per exporter (its module in this folder)."""
from __future__ import annotations

from ..registry import Registry

DIALECTS: Registry = Registry("dialect", __package__, {
    "nir": ".nir:NIR",
    "snntorch": ".snntorch:SNNTORCH",
    "sinabs": ".sinabs:SINABS",
    "rockpool": ".rockpool:ROCKPOOL",
    "norse": ".norse:NORSE",
    "lava-dl": ".lava_dl:LAVA_DL",
})
