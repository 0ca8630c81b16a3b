"""The float reference's synaptic products, event-driven: for each row of source values (one
sample at one step) only the weight rows of its nonzero values are summed into the row's
synaptic input, rows in parallel. Spikes are mostly zeros, so this reads a fraction of the
weights a dense product reads (``float_reference._product`` chooses it by the values' density).

Values come in two types, uint8 (spikes: the input's, and a layer's bool spikes viewed as
bytes) and float64 (graded values, several-spike counts); weights are float64, dense
(n_in, n_out) or CSR rows per source. Each sum runs over a row's nonzero values in source
order. ``python -m neurodeploy.warmup`` compiles every combination (``warm``).
"""
from __future__ import annotations

import numba
import numpy as np
from scipy import sparse


@numba.njit(parallel=True, cache=True)
def _dense_rows(values, weights, out):
    n_in, n_out = weights.shape
    for r in numba.prange(values.shape[0]):
        for j in range(n_in):
            x = values[r, j]
            if x != 0:
                scale = np.float64(x)
                for k in range(n_out):
                    out[r, k] += scale * weights[j, k]


@numba.njit(parallel=True, cache=True)
def _sparse_rows(values, indptr, indices, data, out):
    for r in numba.prange(values.shape[0]):
        for j in range(values.shape[1]):
            x = values[r, j]
            if x != 0:
                scale = np.float64(x)
                for p in range(indptr[j], indptr[j + 1]):
                    out[r, indices[p]] += scale * data[p]


def kernel_values(values: np.ndarray) -> np.ndarray:
    """Source values in one of the kernels' two types (bool and uint8 without a copy)."""
    if values.dtype == np.bool_:
        return values.view(np.uint8)
    if values.dtype == np.uint8:
        return values
    return values.astype(np.float64, copy=False)


def kernel_weights(weights):
    """Weights (n_in, n_out) as the kernels take them: a C-contiguous float64 array, or the
    CSR arrays (indptr, indices, data) with int64 indices."""
    if sparse.issparse(weights):
        w = sparse.csr_matrix(weights)
        return (w.indptr.astype(np.int64), w.indices.astype(np.int64), w.data.astype(np.float64))
    return np.ascontiguousarray(weights, dtype=np.float64)


def add_product(values: np.ndarray, weights, out: np.ndarray) -> None:
    """out (rows, n_out) += values (rows, n_in) @ weights, ``weights`` from ``kernel_weights``."""
    values = np.ascontiguousarray(kernel_values(values))
    if isinstance(weights, tuple):
        _sparse_rows(values, *weights, out)
    else:
        _dense_rows(values, weights, out)


def warm() -> None:
    """Compile (or load) every kernel for both value types."""
    dense = kernel_weights(np.ones((3, 2)))
    csr = kernel_weights(sparse.csr_matrix(np.eye(3, 2)))
    for values in (np.ones((2, 3), np.uint8), np.ones((2, 3))):
        for weights in (dense, csr):
            add_product(values, weights, np.zeros((2, 2)))
