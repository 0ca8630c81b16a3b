"""Execution targets: float reference, bit-accurate CPU backend, Lava simulator."""
