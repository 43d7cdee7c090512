r"""The droppers: a drop mask applied to a batch, and the transforms built on it.

:func:`apply_fill` applies ``drop [P]`` (bool, ``True`` = drop) to a PyG batch:

- ``"remove"``: the dropped points are gone (:func:`~reldrop3d.data.batching.keep_points`:
  per-point attributes, ``batch``/``ptr`` and edges follow).
- ``"zero"``: floating-point per-point attributes (``pos``, ``x``, normals) of dropped
  points are multiplied by 0, integer ones (``part``) kept.
- ``"first"``: every per-point attribute of a dropped point becomes that of the first
  kept point of its cloud (the PointNet++ convention).

:class:`RelDrop`, :class:`RateMatchedDrop` and :class:`RandomPointDropout` are a rule of
:mod:`reldrop3d.drop.mask` followed by that fill, with two call shapes:

- ``dropper(batch, relevance)``: a PyG ``Batch`` (or one-cloud ``Data``) of ``P`` points,
  ``relevance [P]``; returns a new batch.
- ``dropper.dense(points, relevance, mask=None, channels_first=False)``: ``points
  [B, N, C]`` (``[B, C, N]`` with ``channels_first``), ``relevance [B, N]``, ``mask
  [B, N]`` of valid points (padding is never dropped nor counted, and left as it is);
  returns ``(points_out, drop [B, N])``, or with ``fill="remove"`` ``(packed, valid [B,
  N])``, each cloud's kept points moved, in order, to the front of its row.

The dense form is flattened, dropped by the same code and padded back, so with the same
generator state both forms drop the same points. Inputs are never modified.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor
from torch_geometric.data import Data

from reldrop3d.data import batching
from reldrop3d.data.batching import describe
from reldrop3d.drop import mask as rules
from reldrop3d.drop.mask import FILLS
from reldrop3d.ops.segment import segment_csr

__all__ = ["RandomPointDropout", "RateMatchedDrop", "RelDrop", "apply_fill"]


def apply_fill(data: Data, drop: Tensor, fill: str = "remove") -> Data:
    """``data`` with the points where ``drop [P]`` is true filled (see the module docstring).

    Returns a new object of ``data``'s class. ``"first"`` needs a kept point in every
    cloud that drops any (one host read); ``"remove"`` reads the new size.
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
    out, keys = copy.copy(data), batching.point_keys(data)
    if fill == "zero":  # times 0: 3x faster than masked_fill here
        keep = ~drop
        for key in keys:
            if data[key].is_floating_point():
                shape = (-1,) + (1,) * (data[key].dim() - 1)
                out[key] = data[key] * keep.to(data[key].dtype).view(shape)
        return out
    size = drop.numel()
    index = torch.arange(size, device=drop.device)
    first = segment_csr(index.masked_fill(drop, size), ptr, reduce="min")  # [B]
    empty = (first == size) & (ptr.diff() > 0)
    if bool(empty.any()):
        raise ValueError(
            f"fill='first' needs at least one kept point per cloud, got every point of "
            f"cloud {int(empty.nonzero()[0])} dropped"
        )
    source = torch.where(drop, first.index_select(0, batch), index)
    for key in keys:
        out[key] = data[key].index_select(0, source)
    return out


class _Dropper:
    """The two call shapes over a rule ``_mask(relevance [P] or None, batch [P], ptr)``."""

    uses_relevance, validate = True, True
    _shown: tuple[str, ...] = ()  # the arguments __repr__ shows

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._shown)
        return f"{type(self).__name__}({shown})"

    def _drop(self, data: Data, relevance: Tensor | None, shape: tuple, what: str):
        """``(filled data, drop [P])`` for ``relevance`` of shape ``shape``, flattened."""
        batch, ptr = batching.batch_vector(data, check_values=self.validate)
        rules._check_generator(self.generator, batch.device)
        if not self.uses_relevance:
            relevance = None
        elif not isinstance(relevance, Tensor) or not relevance.is_floating_point():
            raise TypeError(
                f"relevance must be a floating-point tensor of shape {what}, "
                f"got {describe(relevance)}"
            )
        elif tuple(relevance.shape) != shape:
            raise ValueError(
                f"relevance must have shape {what} = {shape}, got {tuple(relevance.shape)}"
            )
        elif relevance.device != batch.device:
            raise ValueError(f"relevance must be on {batch.device}, got {relevance.device}")
        drop = self._mask(relevance, batch, ptr)
        return _fill(data, drop, self.fill, batch, ptr), drop

    def __call__(self, batch: Data, relevance: Tensor | None = None) -> Data:
        """Drop points of a PyG batch (see :mod:`reldrop3d.drop.droppers`)."""
        return self._drop(batch, relevance, (batching.num_points(batch),), "[num_points]")[0]

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
                f"points must be a 3-D tensor [B, N, C] ([B, C, N] with "
                f"channels_first=True), got {describe(points)}"
            )
        x = points.transpose(1, 2) if channels_first else points
        shape = tuple(x.shape[:2])
        if mask is not None and (
            not isinstance(mask, Tensor) or mask.dtype != torch.bool or tuple(mask.shape) != shape
        ):
            raise TypeError(
                f"mask must be a bool tensor of shape [B, N] = {shape}, got {describe(mask)}"
            )
        flat = batching.from_dense(x, mask)  # a flat batch of the valid points
        if (
            isinstance(relevance, Tensor)
            and relevance.shape == shape
            and relevance.device == x.device
        ):
            relevance = relevance.reshape(-1) if mask is None else relevance[mask]
            shape = tuple(relevance.shape)
        out, drop = self._drop(flat, relevance, shape, "[B, N]")
        if self.fill == "remove":
            pos, drop = batching.to_dense(out, width=x.size(1))
        elif mask is None:
            pos, drop = out.pos.view(x.shape), drop.view(x.shape[:2])
        else:  # back to the input's places; padding as it was
            pos = x.masked_scatter(mask.unsqueeze(-1), out.pos)
            drop = torch.zeros_like(mask).masked_scatter(mask, drop)
        return (pos.transpose(1, 2) if channels_first else pos), drop


class RelDrop(_Dropper):
    r"""Relevance-driven input dropout (Gururaj et al. 2025, arXiv 2505.21595).

    Drops, in every cloud, the points that mattered most to the model (per-point
    relevance, e.g. LRP) so that it learns to use the rest of the shape: the rule of
    :func:`~reldrop3d.drop.relevance_mask` (see :mod:`reldrop3d.drop.mask`), then
    :func:`apply_fill`. Call shapes: see :mod:`reldrop3d.drop.droppers`.

    Args:
        alpha: randomness in ``[0, 1]``.
        beta: largest share of each cloud to drop, in ``[0, 1]``.
        mode: ``"threshold"``, ``"topk"`` or ``"sample"``.
        fill: ``"remove"``, ``"zero"`` or ``"first"``.
        min_points: points every cloud keeps (enough for the model's neighbourhoods).
        generator: random source on the data's device; ``None``: torch's default.
        validate: check the batch vector and that the relevance is finite (a NaN
            names its cloud; one host read). ``False`` trusts them.
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
        self.alpha, self.beta, self.mode, self._floor = rules._rule_args(
            alpha, beta, mode, min_points
        )
        self.min_points, self.fill = int(min_points), rules._check_choice("fill", fill, FILLS)
        rules._check_generator(generator, None)
        self.generator, self.validate = generator, bool(validate)

    def _mask(self, relevance: Tensor, batch: Tensor, ptr: Tensor) -> Tensor:
        rule = (self.alpha, self.beta, self.mode, self._floor, self.generator, self.validate)
        return rules._rule_mask(relevance.detach(), batch, ptr, *rule)


class RateMatchedDrop(RelDrop):
    r"""The rate-matched control of :class:`RelDrop`: as many points per cloud, at random.

    In cloud ``i`` it drops exactly :math:`c_i` points, the number :class:`RelDrop` with
    the same arguments and generator state drops there (its rule's draws come first),
    chosen uniformly at random among the cloud's points (``P`` more uniforms): only
    *which* points go differs. Same arguments, fills and call shapes as :class:`RelDrop`.
    """

    def _mask(self, relevance: Tensor, batch: Tensor, ptr: Tensor) -> Tensor:
        drop = super()._mask(relevance, batch, ptr)
        return rules._same_count_mask(drop, batch, ptr, self.generator)


class RandomPointDropout(_Dropper):
    r"""Random point dropout, the augmentation of the PointNet++ reference code.

    Per cloud a ratio :math:`\rho_i \sim U[0, \text{max\_ratio})`, every point dropped
    with probability :math:`\rho_i` (:func:`~reldrop3d.drop.random_point_mask`), at least
    ``max(min_points, 1)`` points kept, then :func:`apply_fill` (default ``"first"``, the
    PointNet++ convention). Same call shapes as :class:`RelDrop`; ``relevance`` is
    accepted and ignored.
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
        floor = max(self.min_points, 1)
        return rules._random_mask(batch, ptr, self.max_ratio, floor, self.generator)
