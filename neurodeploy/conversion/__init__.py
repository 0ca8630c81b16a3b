"""ANN-to-SNN conversion (``deploy.py ann.pt --convert --calibration-data x.npz``): a trained
ReLU network (``ann_file.py``: weights and a declared architecture) becomes a spiking network of
integrate-and-fire neurons with data-based weight normalisation (``convert.py``), which the
pipeline then compiles, runs and reports like any other (``report.py``: the ``conversion``
section, accuracy against the number of steps)."""
from __future__ import annotations

from .ann_file import load_ann, save_ann
from .convert import Conversion, ConvertSpec, convert

__all__ = ["Conversion", "ConvertSpec", "convert", "load_ann", "save_ann"]
