"""Net2Net weight maps in numpy (Chen, Goodfellow and Shlens, "Net2Net", ICLR 2016).

Net2WiderNet widens a layer from `old` to `new` units by a random mapping g: every new unit j
copies old unit g(j) (the first `old` units map to themselves); the next layer's incoming weights
from unit j are divided by how many units copy g(j), so the next layer sees the same sums.
Net2DeeperNet inserts an identity layer: with a ReLU after a ReLU (or no activation), the output
is unchanged. Everything is exact with `noise=0`; `noise > 0` adds Gaussian noise with standard
deviation `noise` × (the array's standard deviation) to the grown arrays, to break the symmetry of
replicated units, as the paper suggests. Kernels are Keras' layout: Dense (in, out), Conv2D
(height, width, in, out), channels last.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class WidthMap:
    """Which old unit each new unit copies, and how many new units copy each old one."""

    mapping: np.ndarray  # new unit → old unit, shape (new,)
    counts: np.ndarray  # old unit → number of new units copying it, shape (old,)

    @property
    def old(self) -> int:
        """The width before widening."""
        return int(self.counts.shape[0])


def widen_map(old: int, new: int, rng: np.random.Generator) -> WidthMap:
    """The random replication map of Net2WiderNet: units 0..old-1 stay, the rest copy random old units.

    Raises:
        ValueError: when `new` is below `old`.
    """
    if new < old:
        raise ValueError(f"cannot widen {old} units to {new}")
    mapping = np.concatenate([np.arange(old), rng.integers(0, old, size=new - old)])
    return WidthMap(mapping, np.bincount(mapping, minlength=old))


def widen_outgoing(kernel: np.ndarray, bias: np.ndarray, width: WidthMap) -> tuple[np.ndarray, np.ndarray]:
    """The widened layer's own weights: its output units (last kernel axis) replicated."""
    return kernel[..., width.mapping], bias[width.mapping]


def widen_incoming(kernel: np.ndarray, width: WidthMap) -> np.ndarray:
    """The next layer's kernel: input rows (Dense axis 0, Conv2D axis 2) replicated and divided by the counts."""
    axis = kernel.ndim - 2
    scale = 1.0 / width.counts[width.mapping]
    shape = [1] * kernel.ndim
    shape[axis] = -1
    return np.take(kernel, width.mapping, axis=axis) * scale.reshape(shape).astype(kernel.dtype)


def widen_incoming_through_flatten(kernel: np.ndarray, width: WidthMap, positions: int) -> np.ndarray:
    """The kernel of a Dense layer that reads a flattened (height, width, channels) map whose channels were widened.

    Flatten is channels-last: row (position × channels + channel). Each new row copies the row of the
    same position and the old channel it replicates, divided by that channel's count.

    Args:
        kernel: (positions × old channels, units).
        width: the channels' widening map.
        positions: height × width of the flattened map.
    """
    old = width.old
    rows = (np.arange(positions)[:, None] * old + width.mapping[None, :]).reshape(-1)
    scale = np.tile(1.0 / width.counts[width.mapping], positions).astype(kernel.dtype)
    return kernel[rows] * scale[:, None]


def identity_dense(units: int, dtype: str = "float32") -> tuple[np.ndarray, np.ndarray]:
    """Net2DeeperNet for a Dense layer: the identity kernel and a zero bias."""
    return np.eye(units, dtype=dtype), np.zeros(units, dtype=dtype)


def identity_conv(channels: int, kernel_size: int = 3, dtype: str = "float32") -> tuple[np.ndarray, np.ndarray]:
    """Net2DeeperNet for a 'same'-padded Conv2D: the centre tap is the identity, every other tap zero."""
    kernel = np.zeros((kernel_size, kernel_size, channels, channels), dtype=dtype)
    kernel[kernel_size // 2, kernel_size // 2] = np.eye(channels, dtype=dtype)
    return kernel, np.zeros(channels, dtype=dtype)


def add_noise(array: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    """`array` plus Gaussian noise of standard deviation `noise` × std(array) (unchanged for noise 0)."""
    if noise <= 0:
        return array
    spread = float(np.std(array)) or 1.0
    return (array + rng.normal(0.0, noise * spread, size=array.shape)).astype(array.dtype)
