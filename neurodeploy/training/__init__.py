"""Training on the host before deployment: quantisation-aware fine-tuning of an snnTorch model
through the chip's exact fixed-point forward pass (``finetune.py``), and the step of a
deployment that runs it (``step.py``: data, accuracy before, re-exported files).

Learning on the chip (STDP and its kin on a target) is a different thing and will live with
the targets that run it.
"""
