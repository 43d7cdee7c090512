r"""The droppers: a rule of :mod:`reldrop3d.drop.mask`, then :func:`apply_fill`; inputs kept.

``dropper(batch, relevance [P])`` drops points of a PyG ``Batch`` (or one-cloud ``Data``)
of ``P`` points and returns a new one. ``dropper.dense(points, relevance, mask=None,
channels_first=False)`` takes ``points [B, N, C]`` (``[B, C, N]`` with ``channels_first``),
``relevance [B, N]`` and ``mask [B, N]`` of valid points (padding is never dropped nor
counted, and left as it is) and returns ``(points_out, drop [B, N])``, or with
``fill="remove"`` ``(packed, valid [B, N])``, kept points moved, in order, to the front of
their row; it flattens, drops by the same code and pads back: both forms drop the same points.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor
from torch_geometric.data import Data

from reldrop3d.data import batching
from reldrop3d.data.batching import describe
from reldrop3d.drop import mask as rules
from reldrop3d.drop.mask import FILLS, random_point_mask, relevance_mask
from reldrop3d.ops.segment import segment_csr

__all__ = ["RandomPointDropout", "RateMatchedDrop", "RelDrop", "apply_fill"]


def apply_fill(data: Data, drop: Tensor, fill: str = "remove") -> Data:
    """``data`` (``P`` points) with the points where ``drop [P]`` (bool) is true filled.

    ``"remove"``: they are gone (:func:`~reldrop3d.data.batching.keep_points`; reads the
    new size). ``"zero"``: their floating-point per-point attributes (``pos``, ``x``,
    normals) times 0, integer ones kept. ``"first"``: all become those of their cloud's
    first kept point (PointNet++; one host read checks there is one). A new ``type(data)``.
    """
    fill = rules._check_choice("fill", fill, FILLS)
    size = batching.num_points(data)
    if not isinstance(drop, Tensor) or drop.dtype != torch.bool or drop.shape != (size,):
        raise TypeError(
            f"drop must be a bool tensor of shape [num_points] = ({size},), got {describe(drop)}"
        )
    return _fill(data, drop, fill, *batching.batch_vector(data))


def _fill(data: Data, drop: Tensor, fill: str, batch: Tensor, ptr: Tensor) -> Data:
    """:func:`apply_fill` on checked arguments (``batch``, ``ptr``: the checked batch vector)."""
    if fill == "remove":
        return batching._keep_points(data, ~drop, batch, ptr)
    out, size = copy.copy(data), drop.numel()
    if fill == "zero":  # times 0: 3x faster than masked_fill here
        keep = ~drop
        for key in batching.point_keys(data):
            if (value := data[key]).is_floating_point():
                out[key] = value * keep.to(value.dtype).view(-1, *[1] * (value.dim() - 1))
        return out
    index = torch.arange(size, device=drop.device)
    first = segment_csr(index.masked_fill(drop, size), ptr, reduce="min")  # [B]
    empty = (first == size) & (ptr.diff() > 0)
    if bool(empty.any()):
        cloud = int(empty.nonzero()[0])
        raise ValueError(f"fill='first' needs a kept point per cloud, got none in cloud {cloud}")
    source = torch.where(drop, first.index_select(0, batch), index)
    for key in batching.point_keys(data):
        out[key] = data[key].index_select(0, source)
    return out


class _Dropper:
    """Both call shapes over ``_mask(relevance [P] or None, batch [P], ptr)``; checks once."""

    uses_relevance, validate = True, True  # subclasses set _shown, the arguments __repr__ shows

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._shown)
        return f"{type(self).__name__}({shown})"

    def _relevance(self, relevance: Tensor, shape: tuple, what: str, device) -> Tensor | None:
        if not self.uses_relevance:
            return None
        if not isinstance(relevance, Tensor) or not relevance.is_floating_point():
            got = describe(relevance)
            raise TypeError(f"relevance must be a floating-point tensor of shape {what}, got {got}")
        if (got := tuple(relevance.shape)) != shape:
            raise ValueError(f"relevance must have shape {what} = {shape}, got {got}")
        if relevance.device != device:
            raise ValueError(f"relevance must be on {device}, got {relevance.device}")
        return relevance.detach()

    def __call__(self, batch: Data, relevance: Tensor | None = None) -> Data:
        """Drop points of a PyG batch (see :mod:`reldrop3d.drop.droppers`)."""
        vector, ptr = batching.batch_vector(batch, check_values=self.validate)
        relevance = self._relevance(relevance, (vector.numel(),), "[num_points]", vector.device)
        return _fill(batch, self._mask(relevance, vector, ptr), self.fill, vector, ptr)

    def dense(
        self,
        points: Tensor,
        relevance: Tensor | None = None,
        mask: Tensor | None = None,
        channels_first: bool = False,
    ) -> tuple[Tensor, Tensor]:
        """Drop points of dense clouds (see :mod:`reldrop3d.drop.droppers`)."""
        if not isinstance(points, Tensor) or points.dim() != 3:
            raise TypeError(
                f"points must be a 3-D tensor [B, N, C] or [B, C, N], got {describe(points)}"
            )
        x = points.transpose(1, 2) if channels_first else points
        shape = tuple(x.shape[:2])
        if mask is not None and (
            not isinstance(mask, Tensor) or mask.dtype != torch.bool or tuple(mask.shape) != shape
        ):
            raise TypeError(
                f"mask must be a bool tensor of shape [B, N] = {shape}, got {describe(mask)}"
            )
        relevance = self._relevance(relevance, shape, "[B, N]", x.device)
        flat = batching.from_dense(x, mask)  # a flat batch of the valid points
        if relevance is not None:
            relevance = relevance.reshape(-1) if mask is None else relevance[mask]
        drop = self._mask(relevance, flat.batch, flat.ptr)
        out = _fill(flat, drop, self.fill, flat.batch, flat.ptr)
        if self.fill == "remove":
            pos, drop = batching.to_dense(out, width=shape[1])
        elif mask is None:
            pos, drop = out.pos.view(x.shape), drop.view(shape)
        else:  # back to the input's places; padding as it was
            pos = x.masked_scatter(mask.unsqueeze(-1), out.pos)
            drop = torch.zeros_like(mask).masked_scatter(mask, drop)
        return (pos.transpose(1, 2) if channels_first else pos), drop


class RelDrop(_Dropper):
    r"""Relevance-driven input dropout (Gururaj et al. 2025, arXiv 2505.21595).

    Drops the points that mattered most to the model (relevance, e.g. LRP), so that it
    learns to use the rest of the shape: :func:`~reldrop3d.drop.relevance_mask` (same
    arguments, ``validate`` included), then :func:`apply_fill`.
    """

    _shown = ("alpha", "beta", "mode", "fill", "min_points")

    def __init__(
        self,
        alpha: float = 0.5,
        beta: float = 0.5,
        mode: str = "threshold",
        fill: str = "remove",
        min_points: int = 32,
        generator: torch.Generator | None = None,
        validate: bool = True,
    ) -> None:
        self.alpha, self.beta, self.mode, _ = rules._rule_args(alpha, beta, mode, min_points)
        self.min_points, self.fill = int(min_points), rules._check_choice("fill", fill, FILLS)
        rules._check_generator(generator, None)
        self.generator, self.validate = generator, bool(validate)

    def _mask(self, relevance: Tensor, batch: Tensor, ptr: Tensor) -> Tensor:
        if self.validate:
            rules._check_finite(relevance, batch, ptr)
        rule = (self.alpha, self.beta, self.mode, self.min_points, self.generator)
        return relevance_mask(relevance, batch, *rule, ptr=ptr, validate=False)


class RateMatchedDrop(RelDrop):
    r"""The rate-matched control of :class:`RelDrop`: as many points per cloud, at random.

    Cloud ``i`` drops as many points, :math:`c_i`, as :class:`RelDrop` with the same
    arguments and generator state (whose draws come first), but the :math:`c_i` of
    smallest :math:`U_p \sim U[0, 1)`: a uniform subset.
    """

    def _mask(self, relevance: Tensor, batch: Tensor, ptr: Tensor) -> Tensor:
        count = segment_csr(super()._mask(relevance, batch, ptr).long(), ptr, reduce="sum")
        u = torch.rand(batch.shape, generator=self.generator, device=batch.device)
        return rules._rank(u, batch, ptr) < count.index_select(0, batch)


class RandomPointDropout(_Dropper):
    r"""Random point dropout, the augmentation of the PointNet++ reference code.

    :func:`~reldrop3d.drop.random_point_mask` (same arguments), then :func:`apply_fill`
    (default ``"first"``, the PointNet++ convention). ``relevance`` is ignored.
    """

    uses_relevance = False
    _shown = ("max_ratio", "fill", "min_points")

    def __init__(
        self,
        max_ratio: float = 0.875,
        fill: str = "first",
        generator: torch.Generator | None = None,
        min_points: int = 1,
    ) -> None:
        self.max_ratio = rules._check_ratio("max_ratio", max_ratio)
        self.fill = rules._check_choice("fill", fill, FILLS)
        rules._check_generator(generator, None)
        self.generator, self.min_points = generator, rules._check_count("min_points", min_points)

    def _mask(self, relevance: None, batch: Tensor, ptr: Tensor) -> Tensor:
        rule = (self.max_ratio, self.min_points, self.generator)
        return random_point_mask(batch, *rule, ptr=ptr, validate=False)
