"""On-chip learning: the learning specification, its lowering to Loihi's learning engine, and the
arithmetic every learning target reproduces (docs/learning.md)."""
