"""Whether numba's parallel kernels may be launched from two threads at once (the pipeline runs
the float reference beside the bit-exact run). numba's OpenMP and TBB threading layers accept
that; its own workqueue layer, the fallback where neither is installed, stops the process.
"""
from __future__ import annotations

import functools

SAFE_LAYERS = ("omp", "tbb")


@functools.cache
def parallel_launches_thread_safe() -> bool:
    """Start numba's threading layer (as the first parallel kernel would) and say whether it is
    one that accepts concurrent launches."""
    import numba
    from numba.np.ufunc import parallel

    try:
        parallel._launch_threads()  # what the first parallel kernel's call does; numba offers no public way before one
        return numba.threading_layer() in SAFE_LAYERS
    except (ValueError, ImportError, AttributeError, RuntimeError):
        return False
