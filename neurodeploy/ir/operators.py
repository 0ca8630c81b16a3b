"""NIR's linear nodes as matrices on flattened (C-order) signals, with their output shapes.

Every synapse-side node becomes ``y = matrix @ x + bias``:

    Affine / Linear   dense weight matrix (and bias)
    Scale             diagonal
    Flatten           identity (signals are flat already; only the shape changes)
    Conv1d / Conv2d   sparse matrix of PyTorch's correlation with stride, padding,
                      dilation and groups; a 1-D convolution is a 2-D one of height 1
    SumPool2d         grouped convolution with a kernel of ones
    AvgPool2d         the same with 1 / (kh * kw) (padding counted, as PyTorch's default)

Convolutions and pools also return their ``Geometry`` (the shared kernel), which core
mapping and Lava's ``Conv`` process use. Shapes come from the signal flowing in, so a
Conv2d whose ``input_shape`` is missing (as some writers leave it) still works.
"""
from __future__ import annotations

from dataclasses import dataclass

import nir
import numpy as np
from nir.ir.utils import calc_flatten_output
from scipy import sparse

from ..errors import InvalidValueError, UnsupportedModelError
from ..limits import check_memory
from .stages import Geometry, Matrix

LINEAR_NODES = (nir.Affine, nir.Linear, nir.Scale, nir.Flatten, nir.Conv1d, nir.Conv2d, nir.SumPool2d, nir.AvgPool2d)


@dataclass(frozen=True)
class LinearOp:
    matrix: Matrix  # (n_out, n_in)
    bias: np.ndarray  # (n_out,)
    out_shape: tuple[int, ...]
    geometry: Geometry | None = None


MAX_GEOMETRY = 1 << 24  # largest kernel size, stride, padding or dilation a convolution or pool may have
BYTES_PER_ENTRY = 16  # a sparse matrix entry: float64 value and its index, and the row pointers


def operator_for(node: nir.NIRNode, name: str, in_shape: tuple[int, ...]) -> LinearOp:
    n_in = int(np.prod(in_shape))
    _check_entries(name, node, float(n_in))
    _check_declared_input(node, name, in_shape)
    if isinstance(node, nir.Flatten):
        out_shape = tuple(int(x) for x in calc_flatten_output(np.array(in_shape), node.start_dim, node.end_dim))
        return LinearOp(sparse.identity(n_in, format="csr"), np.zeros(n_in), out_shape)
    if isinstance(node, nir.Scale):
        scale = _broadcast(np.asarray(node.scale, float), n_in, name, "scale")
        return LinearOp(sparse.diags(scale, format="csr"), np.zeros(n_in), in_shape)
    if isinstance(node, (nir.Affine, nir.Linear)):
        weight = np.asarray(node.weight, dtype=np.float64)
        if weight.ndim != 2 or weight.shape[1] != n_in:
            raise InvalidValueError(
                f"node {name!r} ({type(node).__name__}): weight of shape {list(weight.shape)} cannot take the "
                f"{n_in} values (shape {list(in_shape)}) it receives"
            )
        bias = np.asarray(node.bias, np.float64).reshape(-1) if isinstance(node, nir.Affine) else np.zeros(weight.shape[0])
        if bias.shape[0] != weight.shape[0]:
            raise InvalidValueError(f"node {name!r} (Affine): bias has {bias.shape[0]} entries for {weight.shape[0]} outputs")
        return LinearOp(weight, bias, (weight.shape[0],))
    if isinstance(node, (nir.Conv1d, nir.Conv2d)):
        return _convolution(node, name, in_shape)
    if isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
        return _pooling(node, name, in_shape)
    raise UnsupportedModelError(f"node {name!r}: {type(node).__name__} is not a linear node")  # pragma: no cover


def _check_entries(name: str, node: nir.NIRNode, entries: float) -> None:
    """Refuse an operator whose matrix would exceed the memory limit, before building it."""
    check_memory(entries * BYTES_PER_ENTRY, f"node {name!r} ({type(node).__name__}): a matrix of {entries:.0f} entries",
                 "use a smaller input shape")


def _check_declared_input(node: nir.NIRNode, name: str, in_shape: tuple[int, ...]) -> None:
    """A shape the node declares for its input (Flatten's input_type, a convolution's
    input_shape) must be the one it receives: a file that contradicts itself is an error, not
    something to guess about."""
    kind = type(node).__name__
    if isinstance(node, nir.Flatten):
        declared = node.input_type.get("input") if isinstance(node.input_type, dict) else None
        compared = tuple(in_shape)
    elif isinstance(node, (nir.Conv1d, nir.Conv2d)):
        declared, compared = node.input_shape, tuple(in_shape[1:])
    else:
        return
    if declared is None:
        return
    declared_shape = np.asarray(declared).reshape(-1)
    if declared_shape.dtype.kind not in "iuf" or not np.all(np.isfinite(declared_shape)):
        raise InvalidValueError(f"node {name!r} ({kind}): declared input shape {declared_shape.tolist()} is not a list of sizes")
    if tuple(int(x) for x in declared_shape) != compared:
        raise InvalidValueError(
            f"node {name!r} ({kind}): declares input shape {[int(x) for x in declared_shape]} but receives {list(compared)}: "
            "correct the declared shape (or leave it out)"
        )


def _broadcast(value: np.ndarray, n: int, name: str, field: str) -> np.ndarray:
    flat = value.reshape(-1)
    if flat.size == n:
        return flat
    if flat.size == 1:
        return np.full(n, float(flat[0]))
    raise InvalidValueError(f"node {name!r}: {field} has {flat.size} values for a signal of {n}")


def _pair(value, name: str, field: str) -> tuple[int, int]:
    array = np.asarray(value).reshape(-1)
    if array.size not in (1, 2):
        raise InvalidValueError(f"node {name!r}: {field} must have 1 or 2 values, got {array.size}")
    lowest = 0 if field == "padding" else 1
    if array.dtype.kind not in "iuf" or not np.all(np.isfinite(array)) or np.any(array != np.round(array)) \
            or np.any(array < lowest) or np.any(array > MAX_GEOMETRY):
        raise InvalidValueError(f"node {name!r}: {field} {array.tolist()} must be whole numbers {lowest}..{MAX_GEOMETRY}")
    return (int(array[0]), int(array[-1]))


def _as_image(in_shape: tuple[int, ...], name: str, kind: str, one_d: bool) -> tuple[int, int, int]:
    if one_d:
        if len(in_shape) != 2:
            raise InvalidValueError(f"node {name!r} ({kind}): expects input (channels, length), receives shape {list(in_shape)}")
        return int(in_shape[0]), 1, int(in_shape[1])
    if len(in_shape) != 3:
        raise InvalidValueError(f"node {name!r} ({kind}): expects input (channels, height, width), receives shape {list(in_shape)}")
    return int(in_shape[0]), int(in_shape[1]), int(in_shape[2])


def _convolution(node, name: str, in_shape: tuple[int, ...]) -> LinearOp:
    one_d = isinstance(node, nir.Conv1d)
    kind = type(node).__name__
    c_in, height, width = _as_image(in_shape, name, kind, one_d)
    weight = np.asarray(node.weight, np.float64)
    kernel = weight[:, :, None, :] if one_d else weight
    if kernel.ndim != 4:
        raise InvalidValueError(f"node {name!r} ({kind}): weight must be (C_out, C_in/groups, kernel...), got {list(weight.shape)}")
    groups = _pair(node.groups, name, "groups")[0]
    if groups < 1 or c_in % groups or kernel.shape[0] % groups or kernel.shape[1] != c_in // groups:
        raise InvalidValueError(
            f"node {name!r} ({kind}): weight {list(weight.shape)} with groups={groups} does not fit {c_in} input channels"
        )
    if one_d:
        stride, dilation = (1, _pair(node.stride, name, "stride")[0]), (1, _pair(node.dilation, name, "dilation")[0])
    else:
        stride, dilation = _pair(node.stride, name, "stride"), _pair(node.dilation, name, "dilation")
    padding = _padding(node.padding, kernel.shape[2:], dilation, name, one_d)
    bias = np.asarray(node.bias, np.float64).reshape(-1)
    geometry = _geometry("conv", (c_in, height, width), kernel, stride, padding, dilation, groups, name)
    _check_entries(name, node, float(np.prod(geometry.out_shape)) * kernel.shape[1] * kernel.shape[2] * kernel.shape[3])
    matrix = convolution_matrix(geometry)
    out = geometry.out_shape
    bias_full = np.repeat(bias, out[1] * out[2]) if bias.size == out[0] else _broadcast(bias, int(np.prod(out)), name, "bias")
    out_shape = (out[0], out[2]) if one_d else out
    return LinearOp(matrix, bias_full, out_shape, geometry)


def _padding(value, kernel_hw, dilation, name: str, one_d: bool) -> tuple[int, int]:
    if isinstance(value, (str, bytes)):
        value = value.decode() if isinstance(value, bytes) else value
        if value == "valid":
            return 0, 0
        if value == "same":
            if any(k % 2 == 0 for k in kernel_hw):
                raise UnsupportedModelError(f"node {name!r}: padding='same' with an even kernel is asymmetric and not supported")
            return tuple(d * (k - 1) // 2 for k, d in zip(kernel_hw, dilation))
        raise InvalidValueError(f"node {name!r}: padding {value!r} (use 'same', 'valid' or integers)")
    if one_d:
        return 0, _pair(value, name, "padding")[0]
    return _pair(value, name, "padding")


def _pooling(node, name: str, in_shape: tuple[int, ...]) -> LinearOp:
    kind = type(node).__name__
    channels, height, width = _as_image(in_shape, name, kind, one_d=False)
    kh, kw = _pair(node.kernel_size, name, "kernel_size")
    stride = _pair(node.stride, name, "stride") if node.stride is not None else (kh, kw)
    padding = _pair(node.padding, name, "padding") if node.padding is not None else (0, 0)
    value = 1.0 if isinstance(node, nir.SumPool2d) else 1.0 / (kh * kw)
    if kh > height + 2 * padding[0] or kw > width + 2 * padding[1]:
        raise InvalidValueError(f"node {name!r} ({kind}): kernel {kh}x{kw} is larger than its padded input of {height}x{width}")
    _check_entries(name, node, float(channels) * height * width * kh * kw)
    kernel = np.full((channels, 1, kh, kw), value)
    geometry = _geometry("pool", (channels, height, width), kernel, stride, padding, (1, 1), channels, name)
    return LinearOp(convolution_matrix(geometry), np.zeros(int(np.prod(geometry.out_shape))), geometry.out_shape, geometry)


def _geometry(kind, in_shape, kernel, stride, padding, dilation, groups, name) -> Geometry:
    c_in, height, width = in_shape
    kh, kw = kernel.shape[2:]
    out_h = (height + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    out_w = (width + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    if out_h < 1 or out_w < 1 or min(stride) < 1 or min(dilation) < 1 or min(padding) < 0:
        raise InvalidValueError(
            f"node {name!r}: kernel {kh}x{kw}, stride {stride}, padding {padding}, dilation {dilation} leave no output "
            f"for an input of {height}x{width}"
        )
    return Geometry(kind, (c_in, height, width), (int(kernel.shape[0]), out_h, out_w), kernel, stride, padding, dilation, groups)


def convolution_matrix(g: Geometry, kernel: np.ndarray | None = None) -> sparse.csr_matrix:
    """The (C_out*H_out*W_out, C_in*H*W) matrix of a grouped 2-D correlation (PyTorch's conv).

    Built tap by tap, vectorised over output positions and channels.
    """
    kernel = g.kernel if kernel is None else kernel
    c_out, c_in_g, kh, kw = kernel.shape
    c_in, height, width = g.in_shape
    _, out_h, out_w = g.out_shape
    out_per_group = c_out // g.groups
    oy, ox = np.meshgrid(np.arange(out_h), np.arange(out_w), indexing="ij")
    co = np.arange(c_out)
    ci_local = np.arange(c_in_g)
    rows, cols, values = [], [], []
    for ky in range(kh):
        for kx in range(kw):
            iy = oy * g.stride[0] - g.padding[0] + ky * g.dilation[0]
            ix = ox * g.stride[1] - g.padding[1] + kx * g.dilation[1]
            valid = (iy >= 0) & (iy < height) & (ix >= 0) & (ix < width)
            out_pos = (oy * out_w + ox)[valid]
            in_pos = (iy * width + ix)[valid]
            ci = (co // out_per_group)[:, None] * c_in_g + ci_local[None, :]  # (c_out, c_in_g)
            row = co[:, None, None] * (out_h * out_w) + out_pos[None, None, :]
            col = ci[:, :, None] * (height * width) + in_pos[None, None, :]
            shape = (c_out, c_in_g, out_pos.size)
            rows.append(np.broadcast_to(row, shape).ravel())
            cols.append(np.broadcast_to(col, shape).ravel())
            values.append(np.broadcast_to(kernel[:, :, ky, kx][:, :, None], shape).ravel())
    shape = (c_out * out_h * out_w, c_in * height * width)
    matrix = sparse.csr_matrix((np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))), shape=shape)
    matrix.eliminate_zeros()
    return matrix


def compose_geometries(first: Geometry, second: Geometry) -> Geometry | None:
    """One convolution equal to ``first`` followed by ``second``, or None where that is not exact.

    With dilation 1, a kernel k1 at stride s1 followed by k2 at stride s2 is a kernel of
    size (k2 - 1) s1 + k1 at stride s1 s2 and padding p1 + p2 s1, whose taps sum the
    products along every pair of paths:  K[y] = sum over b s1 + a = y of W2[b] W1[a].
    That reads the same inputs as the two steps if the second has no padding (its window
    then never leaves the intermediate map); with padding, only if the first tiles its
    input exactly (k1 <= s1, no padding, the map a multiple of s1), as a pooling does.
    Grouped kernels (pools are grouped) are expanded to full channel mixing first.
    """
    if first.dilation != (1, 1) or second.dilation != (1, 1) or second.in_shape != first.out_shape:
        return None
    k1 = first.kernel.shape[2:]
    if any(second.padding):
        tiles = all(k <= s for k, s in zip(k1, first.stride)) and not any(first.padding)
        exact = all(m * s == n for m, s, n in zip(first.out_shape[1:], first.stride, first.in_shape[1:]))
        if not (tiles and exact):
            return None
    w1, w2 = _full_kernel(first), _full_kernel(second)
    size = tuple((k2 - 1) * s1 + a for k2, s1, a in zip(w2.shape[2:], first.stride, k1))
    kernel = np.zeros((w2.shape[0], w1.shape[1], *size))
    for by in range(w2.shape[2]):
        for bx in range(w2.shape[3]):
            y0, x0 = by * first.stride[0], bx * first.stride[1]
            # sum over the intermediate channels: (c_out, c_mid) x (c_mid, c_in, k1h, k1w)
            kernel[:, :, y0 : y0 + k1[0], x0 : x0 + k1[1]] += np.einsum("om,mihw->oihw", w2[:, :, by, bx], w1)
    stride = (first.stride[0] * second.stride[0], first.stride[1] * second.stride[1])
    padding = (first.padding[0] + second.padding[0] * first.stride[0], first.padding[1] + second.padding[1] * first.stride[1])
    c_in, height, width = first.in_shape
    out_h = (height + 2 * padding[0] - size[0]) // stride[0] + 1
    out_w = (width + 2 * padding[1] - size[1]) // stride[1] + 1
    if (out_h, out_w) != tuple(second.out_shape[1:]):
        return None
    return Geometry("conv", first.in_shape, second.out_shape, kernel, stride, padding, (1, 1), 1)


def _full_kernel(g: Geometry) -> np.ndarray:
    """(C_out, C_in, kh, kw): a grouped kernel with zeros between the groups."""
    c_out, c_in_g, kh, kw = g.kernel.shape
    if g.groups == 1:
        return g.kernel
    full = np.zeros((c_out, c_in_g * g.groups, kh, kw))
    per_group = c_out // g.groups
    for group in range(g.groups):
        rows = slice(group * per_group, (group + 1) * per_group)
        full[rows, group * c_in_g : (group + 1) * c_in_g] = g.kernel[rows]
    return full
