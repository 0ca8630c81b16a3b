"""Where cores and chips sit: the 2-D mesh of router tiles on a chip, and the board's grid of chips.

Core mapping numbers the cores it fills; these functions lay them out. Cores fill router
tiles along a snake (boustrophedon) path over the chip's mesh, chips follow one another along
a snake path over the board's chip grid, so that consecutive cores, which exchange most
spikes, are neighbours. The energy and latency model counts hops between these positions.
"""
from __future__ import annotations

from .profile import HardwareProfile


def _snake(index: int, width: int) -> tuple[int, int]:
    """Position of the index-th cell on a boustrophedon path over rows of ``width``."""
    row, col = divmod(index, width)
    return (col if row % 2 == 0 else width - 1 - col), row


def place(core_index: int, profile: HardwareProfile) -> tuple[int, tuple[int, int]]:
    """(chip, tile) of a core: cores fill tiles along a snake path, chips one after another."""
    system = profile.system
    chip, on_chip = divmod(core_index, system.cores_per_chip)
    return chip, _snake(on_chip // system.cores_per_tile, system.mesh_tiles[0])


def chip_position(chip: int, profile: HardwareProfile) -> tuple[int, int]:
    """Where a chip sits on the board's chip grid (snake order)."""
    return _snake(chip, profile.system.chip_grid[0])
