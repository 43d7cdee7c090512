r"""Random per-cloud augmentations of one ``Data`` or a whole ``Batch``; unit-sphere scaling.

Each augmentation is a PyG :class:`~torch_geometric.transforms.BaseTransform` that sets
new ``pos`` (and normals). On a ``Batch`` of ``B`` clouds (``pos [P, 3]``, ``batch [P]``,
``ptr [B + 1]``; a ``Data`` without ``batch`` is one cloud) it draws one parameter set
per cloud from ``generator`` in one call and gathers it to the points: no loop over
clouds, no host sync; a seeded generator gives the same output.

=====================  ==========================================================
transform              per cloud ``b``, point ``i`` of ``b``
=====================  ==========================================================
:class:`ScaleClouds`   ``p_i * s_b``, ``s_b ~ U(low, high)^3`` (``^1`` if isotropic)
:class:`ShiftClouds`   ``p_i + t_b``, ``t_b ~ U(-m, m)^3``
:class:`RotateClouds`  ``R_axis(theta_b) p_i``, ``theta_b ~ U(-a, a)``
:class:`JitterClouds`  ``p_i + clip(sigma * eps_i, -c, c)``, ``eps_i ~ N(0, I)``
=====================  ==========================================================

Unit normals (``data.x [P, 3]``; ``normal_key`` names another attribute, or
``None`` to leave it alone) follow the points: rotated with them, and
``normalize(n_i / s_b)`` under an anisotropic scale (the inverse transpose of
``diag(s_b)``). Shift and jitter leave them unchanged.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform
from torch_geometric.utils import scatter

from reldrop3d.data.batching import batch_vector, describe

__all__ = [
    "JitterClouds",
    "RotateClouds",
    "ScaleClouds",
    "ShiftClouds",
    "normalize_unit_sphere",
    "rotate",
]


def rotate(x: Tensor, angle: Tensor, axis: int = 2, batch: Tensor | None = None) -> Tensor:
    r"""Rotate ``x [N, 3]`` by ``angle[batch]`` (radians, ``angle [B]``) about ``axis``.

    Right-handed: with ``(a, b)`` the two other axes in cyclic order
    (``z``: ``(x, y)``, ``x``: ``(y, z)``, ``y``: ``(z, x)``),
    :math:`a' = a\cos\theta - b\sin\theta,\ b' = a\sin\theta + b\cos\theta`.
    """
    a, b = (axis + 1) % 3, (axis + 2) % 3
    theta = angle.reshape(-1)
    theta = theta if batch is None else theta[batch]
    cos, sin = theta.cos(), theta.sin()
    cols = list(x.unbind(dim=-1))
    cols[a] = cos * x[:, a] - sin * x[:, b]
    cols[b] = sin * x[:, a] + cos * x[:, b]
    return torch.stack(cols, dim=-1)


def normalize_unit_sphere(
    pos: Tensor, batch: Tensor | None = None, num_graphs: int | None = None
) -> Tensor:
    r"""Centre each cloud of ``pos [N, 3]`` (clouds ``batch [N]``, ``None``: one; ``num_graphs``
    of them, default ``batch.max() + 1``, a sync) and scale its largest radius to 1:
    :math:`p_i' = (p_i - \bar p_b) / \max_{j \in b} \lVert p_j - \bar p_b \rVert`
    (a one-point cloud becomes the origin)."""
    if batch is None:
        centred = pos - pos.mean(dim=0, keepdim=True)
        radius = centred.norm(dim=-1).max() if pos.size(0) else pos.new_ones(())
        return centred / radius.clamp_min(1e-12)
    size = num_graphs if num_graphs is not None else int(batch.max()) + 1
    centroid = scatter(pos, batch, dim=0, dim_size=size, reduce="mean")
    centred = pos - centroid[batch]
    radius = scatter(centred.norm(dim=-1), batch, dim=0, dim_size=size, reduce="max")
    return centred / radius.clamp_min(1e-12)[batch].unsqueeze(-1)


def _nonneg(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"{name} must be a non-negative number, got {value!r}")
    return float(value)


def _normals(data: Data, key: str | None) -> Tensor | None:
    """The ``[N, 3]`` normals under ``key`` (``None`` if absent or ``key`` is None)."""
    normals = None if key is None else getattr(data, key, None)
    if normals is not None and (
        not isinstance(normals, Tensor) or normals.dim() != 2 or normals.size(-1) != 3
    ):
        raise ValueError(
            f"data.{key} must hold [N, 3] unit normals (normal_key={key!r}), got "
            f"{describe(normals)}; pass normal_key=None to leave it alone"
        )
    return normals


class _CloudTransform(BaseTransform):
    """Base: checks ``generator`` and ``data.pos`` and draws per-cloud parameters."""

    def __init__(self, generator: torch.Generator | None) -> None:
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(
                f"generator must be a torch.Generator or None, got {type(generator).__name__}"
            )
        self.generator = generator

    @staticmethod
    def _points(data: Data) -> tuple[Tensor, Tensor, int]:
        """``(pos [P, 3], batch [P], B)``; ``B`` is read from ``ptr`` (no sync when present)."""
        pos = getattr(data, "pos", None)
        if not isinstance(pos, Tensor) or pos.dim() != 2 or pos.size(-1) != 3:
            raise ValueError(f"data.pos must be a [N, 3] tensor, got {describe(pos)}")
        if not pos.is_floating_point():
            raise TypeError(f"data.pos must be a floating-point tensor, got {describe(pos)}")
        batch, ptr = batch_vector(data, check_values=False)
        return pos, batch, ptr.numel() - 1

    def _draw(self, like: Tensor, shape: tuple[int, ...], uniform: tuple[float, float] | None):
        """``U(low, high)`` samples (``uniform=(low, high)``) or ``N(0, 1)`` ones (``None``),
        drawn on the generator's device and returned on ``like``'s, in ``like``'s dtype."""
        kw = {"generator": self.generator, "dtype": like.dtype}
        kw["device"] = self.generator.device if self.generator is not None else like.device
        if uniform is None:
            return torch.randn(shape, **kw).to(like.device)
        low, high = uniform
        return (low + (high - low) * torch.rand(shape, **kw)).to(like.device)


class ScaleClouds(_CloudTransform):
    """Scale each cloud by ``s ~ U(low, high)``, one factor per axis if ``anisotropic``
    (``s [B, 3]``, else ``[B, 1]``). The defaults are PointNet++'s."""

    def __init__(
        self,
        low: float = 0.8,
        high: float = 1.25,
        anisotropic: bool = True,
        generator: torch.Generator | None = None,
        normal_key: str | None = "x",
    ) -> None:
        super().__init__(generator)
        if not (math.isfinite(low) and math.isfinite(high) and 0 < low <= high):
            raise ValueError(
                f"low, high must be finite, 0 < low <= high, got low={low}, high={high}"
            )
        self.low, self.high, self.anisotropic = float(low), float(high), bool(anisotropic)
        self.normal_key = normal_key

    def forward(self, data: Data) -> Data:
        normals = _normals(data, self.normal_key)
        pos, batch, num_clouds = self._points(data)
        shape = (num_clouds, 3 if self.anisotropic else 1)
        factor = self._draw(pos, shape, (self.low, self.high))[batch]
        if normals is not None and self.anisotropic:
            n = normals / factor
            data[self.normal_key] = n / n.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        data.pos = pos * factor
        return data

    def __repr__(self) -> str:
        return f"ScaleClouds(low={self.low}, high={self.high}, anisotropic={self.anisotropic})"


class ShiftClouds(_CloudTransform):
    """Translate each cloud by ``t ~ U(-max_shift, max_shift)^3``."""

    def __init__(self, max_shift: float = 0.1, generator: torch.Generator | None = None) -> None:
        super().__init__(generator)
        self.max_shift = _nonneg("max_shift", max_shift)

    def forward(self, data: Data) -> Data:
        pos, batch, num_clouds = self._points(data)
        m = self.max_shift
        data.pos = pos + self._draw(pos, (num_clouds, 3), (-m, m))[batch]
        return data

    def __repr__(self) -> str:
        return f"ShiftClouds(max_shift={self.max_shift})"


class RotateClouds(_CloudTransform):
    """Rotate each cloud about ``axis`` (the data's ``up_axis``; 2 = z) by
    ``theta ~ U(-max_angle, max_angle)``; the default draws any rotation about it."""

    def __init__(
        self,
        axis: int = 2,
        max_angle: float = math.pi,
        generator: torch.Generator | None = None,
        normal_key: str | None = "x",
    ) -> None:
        super().__init__(generator)
        if axis not in (0, 1, 2) or isinstance(axis, bool):
            raise ValueError(f"axis must be 0, 1 or 2, got {axis!r}")
        self.axis, self.normal_key = int(axis), normal_key
        self.max_angle = _nonneg("max_angle", max_angle)

    def forward(self, data: Data) -> Data:
        normals = _normals(data, self.normal_key)
        pos, batch, num_clouds = self._points(data)
        a = self.max_angle
        angle = self._draw(pos, (num_clouds,), (-a, a))
        if normals is not None:
            data[self.normal_key] = rotate(normals, angle, self.axis, batch)
        data.pos = rotate(pos, angle, self.axis, batch)
        return data

    def __repr__(self) -> str:
        return f"RotateClouds(axis={self.axis}, max_angle={self.max_angle:.4g})"


class JitterClouds(_CloudTransform):
    """Add clipped Gaussian noise ``clamp(sigma * N(0, I), -clip, clip)`` to every point."""

    def __init__(
        self, sigma: float = 0.01, clip: float = 0.05, generator: torch.Generator | None = None
    ) -> None:
        super().__init__(generator)
        self.sigma, self.clip = _nonneg("sigma", sigma), _nonneg("clip", clip)

    def forward(self, data: Data) -> Data:
        pos, _, _ = self._points(data)
        noise = self.sigma * self._draw(pos, tuple(pos.shape), None)
        data.pos = pos + noise.clamp(-self.clip, self.clip)
        return data

    def __repr__(self) -> str:
        return f"JitterClouds(sigma={self.sigma}, clip={self.clip})"
