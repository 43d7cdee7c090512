r"""Point-cloud transforms for one :class:`~torch_geometric.data.Data` or a whole ``Batch``.

A transform maps a cloud (``pos [N, 3]``, optional unit normals ``x [N, 3]``)
to a new one; its input is never modified (the output is a shallow copy
with new ``pos``/``x`` tensors). The random ones draw their parameters
through an optional :class:`torch.Generator`, so a seeded generator gives
the same output.

Each random transform also works on a PyG ``Batch`` of ``B`` clouds of any
sizes (``pos [N, 3]``, ``batch [N]``): it draws one parameter set per cloud in
a single call (a ``[B, ...]`` tensor) and gathers it to the points with the
batch vector, with no Python loop over clouds and no host synchronisation,
so the training loop can augment a batch after point dropout.
:class:`RandomSubsample` is the exception: it changes the number of points
and takes one ``Data`` only.

The functional core (:func:`scale`, :func:`shift`, :func:`rotate`,
:func:`jitter`, :func:`normalize_unit_sphere`) takes the per-cloud parameters
explicitly; the classes draw them and apply the core.

=========================  ==================================================
transform                  per cloud ``b``, point ``i`` in ``b``
=========================  ==================================================
:class:`RandomScale`       ``p_i * s_b``, ``s_b ~ U(low, high)^3`` (or ``^1``)
:class:`RandomShift`       ``p_i + t_b``, ``t_b ~ U(-m, m)^3``
:class:`RandomRotate`      ``R_axis(theta_b) p_i``, ``theta_b ~ U(-a, a)``
:class:`RandomJitter`      ``p_i + clip(sigma * eps_i, -c, c)``, ``eps_i ~ N(0, I)``
:class:`NormalizeUnitSphere`  ``(p_i - mean_b p) / max_b |p - mean_b p|``
=========================  ==================================================
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor
from torch_geometric.data import Batch, Data
from torch_geometric.utils import scatter

__all__ = [
    "Compose",
    "NormalizeUnitSphere",
    "RandomJitter",
    "RandomRotate",
    "RandomScale",
    "RandomShift",
    "RandomSubsample",
    "jitter",
    "normalize_unit_sphere",
    "rotate",
    "scale",
    "shift",
]


# ----------------------------------------------------------------------------- helpers
def clouds_of(data: Data) -> tuple[Tensor | None, int]:
    """``(batch [N] or None, number of clouds B)`` of a ``Data`` (``None, 1``) or ``Batch``.

    ``B`` comes from ``ptr`` (a shape, no synchronisation) when present.
    """
    batch = getattr(data, "batch", None)
    if batch is None:
        return None, 1
    ptr = getattr(data, "ptr", None)
    if ptr is not None:
        return batch, ptr.numel() - 1
    if isinstance(data, Batch):
        return batch, data.num_graphs
    return batch, int(batch.max()) + 1 if batch.numel() else 0


def _per_point(values: Tensor, batch: Tensor | None) -> Tensor:
    """Gather per-cloud ``values [B, ...]`` to the points (``[1, ...]`` broadcasts if no batch)."""
    return values if batch is None else values[batch]


def _uniform(
    shape: tuple[int, ...], low: float, high: float, like: Tensor, generator: torch.Generator | None
) -> Tensor:
    """``U(low, high)`` samples drawn on the generator's device, returned on ``like``'s."""
    device = generator.device if generator is not None else like.device
    u = torch.rand(shape, generator=generator, device=device, dtype=like.dtype)
    return (low + (high - low) * u).to(like.device)


def _check_pos(data: Data) -> Tensor:
    pos = getattr(data, "pos", None)
    if not isinstance(pos, Tensor) or pos.dim() != 2 or pos.size(-1) != 3:
        got = tuple(pos.shape) if isinstance(pos, Tensor) else type(pos).__name__
        raise ValueError(f"data.pos must be a [N, 3] tensor, got {got}")
    if not pos.is_floating_point():
        raise TypeError(f"data.pos must be a floating-point tensor, got dtype {pos.dtype}")
    return pos


def _normals(data: Data, key: str | None) -> Tensor | None:
    """The ``[N, 3]`` normals stored under ``key`` (``None`` if absent or ``key`` is None)."""
    if key is None:
        return None
    normals = getattr(data, key, None)
    if normals is None:
        return None
    if not isinstance(normals, Tensor) or normals.dim() != 2 or normals.size(-1) != 3:
        got = tuple(normals.shape) if isinstance(normals, Tensor) else type(normals).__name__
        raise ValueError(
            f"data.{key} must hold [N, 3] unit normals (normal_key={key!r}), got {got}; "
            "pass normal_key=None to leave it alone"
        )
    return normals


def _check_range(name: str, low: float, high: float) -> None:
    if not (math.isfinite(low) and math.isfinite(high)) or low > high:
        raise ValueError(f"{name} must be finite with low <= high, got low={low}, high={high}")


def _check_nonneg(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"{name} must be a non-negative number, got {value!r}")
    return float(value)


# ----------------------------------------------------------------------------- functional core
def scale(pos: Tensor, factor: Tensor, batch: Tensor | None = None) -> Tensor:
    """``pos [N, 3] * factor[batch]``, ``factor [B, 3]`` or ``[B, 1]`` (``B = 1`` without batch)."""
    return pos * _per_point(factor, batch)


def scale_normals(normals: Tensor, factor: Tensor, batch: Tensor | None = None) -> Tensor:
    """Normals after ``scale``: ``n / s`` renormalised (the inverse transpose of ``diag(s)``)."""
    n = normals / _per_point(factor, batch)
    return n / n.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def shift(pos: Tensor, offset: Tensor, batch: Tensor | None = None) -> Tensor:
    """``pos [N, 3] + offset[batch]``, ``offset [B, 3]``."""
    return pos + _per_point(offset, batch)


def rotate(x: Tensor, angle: Tensor, axis: int = 2, batch: Tensor | None = None) -> Tensor:
    r"""Rotate ``x [N, 3]`` by ``angle[batch]`` (radians, ``angle [B]``) about ``axis``.

    Right-handed: with ``(a, b)`` the two other axes in cyclic order
    (``z``: ``(x, y)``, ``x``: ``(y, z)``, ``y``: ``(z, x)``),
    :math:`a' = a\cos\theta - b\sin\theta,\ b' = a\sin\theta + b\cos\theta`.
    """
    a, b = (axis + 1) % 3, (axis + 2) % 3
    theta = _per_point(angle.reshape(-1), batch)
    cos, sin = theta.cos(), theta.sin()
    cols = list(x.unbind(dim=-1))
    cols[a] = cos * x[:, a] - sin * x[:, b]
    cols[b] = sin * x[:, a] + cos * x[:, b]
    return torch.stack(cols, dim=-1)


def jitter(pos: Tensor, noise: Tensor, clip: float) -> Tensor:
    """``pos + clamp(noise, -clip, clip)``, ``noise [N, 3]``."""
    return pos + noise.clamp(-clip, clip)


def normalize_unit_sphere(
    pos: Tensor, batch: Tensor | None = None, num_graphs: int | None = None
) -> Tensor:
    r"""Centre each cloud at its centroid and scale its largest radius to 1.

    .. math:: p_i' = (p_i - \bar p_b) / \max_{j \in b} \lVert p_j - \bar p_b \rVert

    Args:
        pos: ``[N, 3]`` points.
        batch: ``[N]`` cloud index of each point (``None``: one cloud).
        num_graphs: number of clouds ``B`` (default: ``batch.max() + 1``, one sync).
    """
    if batch is None:
        centred = pos - pos.mean(dim=0, keepdim=True)
        radius = centred.norm(dim=-1).max() if pos.size(0) else pos.new_ones(())
        return centred / radius.clamp_min(1e-12)
    size = num_graphs if num_graphs is not None else int(batch.max()) + 1
    centroid = scatter(pos, batch, dim=0, dim_size=size, reduce="mean")
    centred = pos - centroid[batch]
    radius = scatter(centred.norm(dim=-1), batch, dim=0, dim_size=size, reduce="max")
    return centred / radius.clamp_min(1e-12)[batch].unsqueeze(-1)


# ----------------------------------------------------------------------------- classes
class _PointTransform:
    """Base: shallow-copies the input and hands ``pos``/normals to :meth:`_apply`."""

    def __init__(self, generator: torch.Generator | None = None, normal_key: str | None = "x"):
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(
                f"generator must be a torch.Generator or None, got {type(generator).__name__}"
            )
        self.generator = generator
        self.normal_key = normal_key

    def __call__(self, data: Data) -> Data:
        pos = _check_pos(data)
        normals = _normals(data, self.normal_key)
        batch, num_graphs = clouds_of(data)
        new_pos, new_normals = self._apply(pos, normals, batch, num_graphs)
        out = copy.copy(data)
        out.pos = new_pos
        if new_normals is not None:
            setattr(out, self.normal_key, new_normals)  # type: ignore[arg-type]
        return out

    def _apply(
        self, pos: Tensor, normals: Tensor | None, batch: Tensor | None, num_graphs: int
    ) -> tuple[Tensor, Tensor | None]:
        raise NotImplementedError

    def _params(self) -> str:
        return ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._params()})"


class RandomScale(_PointTransform):
    r"""Scale each cloud by ``s ~ U(low, high)``: one factor per axis if ``anisotropic``.

    ``pos' = pos * s[batch]`` with ``s [B, 3]`` (``[B, 1]`` if isotropic);
    normals become ``normalize(n / s)``. Defaults are PointNet++'s.
    """

    def __init__(
        self,
        low: float = 0.8,
        high: float = 1.25,
        anisotropic: bool = True,
        generator: torch.Generator | None = None,
        normal_key: str | None = "x",
    ) -> None:
        super().__init__(generator, normal_key)
        _check_range("RandomScale(low, high)", low, high)
        if low <= 0:
            raise ValueError(f"low must be positive, got {low}")
        self.low, self.high, self.anisotropic = float(low), float(high), bool(anisotropic)

    def _apply(self, pos, normals, batch, num_graphs):
        dims = 3 if self.anisotropic else 1
        factor = _uniform((num_graphs, dims), self.low, self.high, pos, self.generator)
        new_normals = None
        if normals is not None:
            new_normals = scale_normals(normals, factor, batch) if self.anisotropic else normals
        return scale(pos, factor, batch), new_normals

    def _params(self) -> str:
        return f"low={self.low}, high={self.high}, anisotropic={self.anisotropic}"


class RandomShift(_PointTransform):
    """Translate each cloud by ``t ~ U(-max_shift, max_shift)^3``; normals unchanged."""

    def __init__(self, max_shift: float = 0.1, generator: torch.Generator | None = None) -> None:
        super().__init__(generator, normal_key=None)
        self.max_shift = _check_nonneg("max_shift", max_shift)

    def _apply(self, pos, normals, batch, num_graphs):
        m = self.max_shift
        return shift(pos, _uniform((num_graphs, 3), -m, m, pos, self.generator), batch), None

    def _params(self) -> str:
        return f"max_shift={self.max_shift}"


class RandomRotate(_PointTransform):
    """Rotate each cloud about ``axis`` by ``theta ~ U(-max_angle, max_angle)``.

    ``axis`` is the up axis of the data (``dataset.up_axis``; 2 = z). The
    normals (``data.x`` by default) are rotated with the points. The default
    ``max_angle = pi`` draws any rotation about the axis.
    """

    def __init__(
        self,
        axis: int = 2,
        max_angle: float = math.pi,
        generator: torch.Generator | None = None,
        normal_key: str | None = "x",
    ) -> None:
        super().__init__(generator, normal_key)
        if axis not in (0, 1, 2) or isinstance(axis, bool):
            raise ValueError(f"axis must be 0, 1 or 2, got {axis!r}")
        self.axis = int(axis)
        self.max_angle = _check_nonneg("max_angle", max_angle)

    def _apply(self, pos, normals, batch, num_graphs):
        a = self.max_angle
        angle = _uniform((num_graphs,), -a, a, pos, self.generator)
        new_normals = None if normals is None else rotate(normals, angle, self.axis, batch)
        return rotate(pos, angle, self.axis, batch), new_normals

    def _params(self) -> str:
        return f"axis={self.axis}, max_angle={self.max_angle:.4g}"


class RandomJitter(_PointTransform):
    """Add clipped Gaussian noise ``clamp(sigma * N(0, I), -clip, clip)`` to every point."""

    def __init__(
        self, sigma: float = 0.01, clip: float = 0.05, generator: torch.Generator | None = None
    ) -> None:
        super().__init__(generator, normal_key=None)
        self.sigma = _check_nonneg("sigma", sigma)
        self.clip = _check_nonneg("clip", clip)

    def _apply(self, pos, normals, batch, num_graphs):
        device = self.generator.device if self.generator is not None else pos.device
        noise = torch.randn(pos.shape, generator=self.generator, device=device, dtype=pos.dtype)
        return jitter(pos, self.sigma * noise.to(pos.device), self.clip), None

    def _params(self) -> str:
        return f"sigma={self.sigma}, clip={self.clip}"


class NormalizeUnitSphere(_PointTransform):
    """Centre each cloud at its centroid and scale it to max radius 1 (per cloud in a batch)."""

    def __init__(self) -> None:
        super().__init__(None, normal_key=None)

    def _apply(self, pos, normals, batch, num_graphs):
        return normalize_unit_sphere(pos, batch, num_graphs), None


class RandomSubsample:
    """Keep ``num_points`` random points of one cloud (every per-point attribute alike).

    Works on a single ``Data`` only (it changes the number of points, so it
    belongs in a dataset's ``transform``, not on a batch). A cloud with fewer
    points raises, unless ``replace=True``, which then adds repeated points.
    """

    def __init__(
        self, num_points: int, replace: bool = False, generator: torch.Generator | None = None
    ) -> None:
        if isinstance(num_points, bool) or not isinstance(num_points, int) or num_points < 1:
            raise ValueError(f"num_points must be a positive int, got {num_points!r}")
        self.num_points = num_points
        self.replace = bool(replace)
        self.generator = generator

    def __call__(self, data: Data) -> Data:
        if isinstance(data, Batch) or getattr(data, "batch", None) is not None:
            raise TypeError("RandomSubsample takes one Data, got a Batch (it has a batch vector)")
        pos = _check_pos(data)
        n = pos.size(0)
        if n < self.num_points and not self.replace:
            raise ValueError(
                f"RandomSubsample(num_points={self.num_points}) got a cloud of {n} points; "
                "pass replace=True to allow repeats"
            )
        device = self.generator.device if self.generator is not None else pos.device
        idx = torch.randperm(n, generator=self.generator, device=device)[: self.num_points]
        if n < self.num_points:
            extra = torch.randint(
                n, (self.num_points - n,), generator=self.generator, device=device
            )
            idx = torch.cat([idx, extra])
        idx = idx.to(pos.device)
        out = copy.copy(data)
        for key, value in data.items():
            if isinstance(value, Tensor) and value.dim() > 0 and data.is_node_attr(key):
                out[key] = value[idx]
        return out

    def __repr__(self) -> str:
        return f"RandomSubsample(num_points={self.num_points}, replace={self.replace})"


class Compose:
    """Apply ``transforms`` in order."""

    def __init__(self, transforms: Sequence[Callable[[Data], Data]]) -> None:
        for i, t in enumerate(transforms):
            if not callable(t):
                raise TypeError(f"transforms[{i}] must be callable, got {type(t).__name__}")
        self.transforms = list(transforms)

    def __call__(self, data: Data) -> Data:
        for t in self.transforms:
            data = t(data)
        return data

    def __repr__(self) -> str:
        inner = "".join(f"\n  {t!r}," for t in self.transforms)
        return f"Compose([{inner}\n])"
