"""``RelDrop``: relevance-driven input dropout as a batch transform."""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import Data

from reldrop3d.drop._checks import (
    FILLS,
    check_choice,
    check_float_tensor,
    check_generator,
    check_generator_device,
    check_rule_args,
    check_same_device,
    describe,
)
from reldrop3d.drop._layout import Layout
from reldrop3d.drop.fill import batch_layout, fill_batch, fill_dense, num_points_of
from reldrop3d.drop.mask import drop_grid, finite_flag, raise_non_finite

__all__ = ["RelDrop"]


class RelDrop:
    r"""Relevance-driven input dropout (Gururaj et al. 2025, arXiv 2505.21595).

    Drops, in every cloud of a batch, the points that mattered most to the
    model (per-point relevance, e.g. LRP), so that the model learns to use the
    rest of the shape. Per cloud, relevance is normalised to
    :math:`r \in [0, 1]` by the cloud's own min and max, then (``mode``):

    - ``"threshold"``: drop ``p`` iff :math:`\alpha U_p + (1 - \alpha) r_p \ge 1 - \beta`,
      :math:`U_p \sim U[0, 1)` (the published rule);
    - ``"topk"``: drop the :math:`\operatorname{round}(\beta n_i)` most relevant points,
      a share ``alpha`` of them chosen uniformly at random instead;
    - ``"sample"``: drop :math:`\operatorname{round}(\beta n_i)` points sampled without
      replacement with probability :math:`\propto (1 - \alpha) r_p + \alpha / n_i`;

    and every cloud keeps at least ``max(min_points, 1)`` points (details in
    :mod:`reldrop3d.drop.mask`). The dropped points are then removed, zeroed
    or replaced by the cloud's first kept point (``fill``, see
    :mod:`reldrop3d.drop.fill`).

    Two call shapes:

    - ``dropper(batch, relevance)``: ``batch`` a PyG ``Batch`` (or one-cloud
      ``Data``) with ``P`` points, ``relevance [P]``; returns a new ``Batch``.
    - ``dropper.dense(points, relevance, mask=None, channels_first=False)``:
      ``points [B, N, C]`` (``[B, C, N]`` with ``channels_first``), ``relevance
      [B, N]``, ``mask [B, N]`` of valid points (padding is never dropped nor
      counted); returns ``(points_out, drop_mask [B, N])``, or for
      ``fill="remove"`` ``(packed_points, valid [B, N])`` with each cloud's kept
      points moved to the front of its row.

    With the same generator state both call shapes drop the same points of the
    same clouds: random numbers are drawn in the flat order of the valid points.
    Neither modifies its inputs.

    Device syncs: none to compute the mask of a batch built by
    ``Batch.from_data_list`` when ``validate=False`` (``fill="remove"`` then
    reads the output size); ``validate=True`` adds one (finite relevance),
    ``dense`` with a ``mask`` one (the number of valid points).

    Args:
        alpha: randomness in ``[0, 1]``.
        beta: largest share of each cloud to drop, in ``[0, 1]``.
        mode: ``"threshold"``, ``"topk"`` or ``"sample"``.
        fill: ``"remove"``, ``"zero"`` or ``"first"``.
        min_points: points every cloud keeps (enough for the model's
            neighbourhoods); a cloud with at most that many is left whole.
        generator: random source, on the data's device; ``None`` = torch's default.
        validate: check that the relevance is finite (a NaN names its cloud).
    """

    needs_relevance = True  # lets a training loop skip the explanation for other droppers

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
        self.alpha, self.beta, self.mode, self._floor = check_rule_args(
            alpha, beta, mode, min_points
        )
        self.min_points = int(min_points)
        self.fill = check_choice("fill", fill, FILLS)
        self.generator = check_generator(generator)
        self.validate = bool(validate)

    def __call__(self, batch: Data, relevance: Tensor) -> Data:
        """Drop points of a PyG batch; see the class docstring."""
        num_points = num_points_of(batch)
        layout, ptr_host = batch_layout(batch, num_points)
        relevance = _check_relevance(relevance, (num_points,), "[num_points]", layout.device)
        check_generator_device(self.generator, relevance.device)
        grid = layout.pad(relevance.detach(), 0)
        drop, finite = drop_grid(
            grid, layout, self.alpha, self.beta, self.mode, self._floor, self.generator
        )
        if self.validate:
            finite = finite if finite is not None else finite_flag(grid, layout)
            if not bool(finite):
                raise_non_finite(relevance, getattr(batch, "batch", None))
        return fill_batch(batch, layout.unpad(drop), drop, layout, ptr_host, self.fill)

    def dense(
        self,
        points: Tensor,
        relevance: Tensor,
        mask: Tensor | None = None,
        channels_first: bool = False,
    ) -> tuple[Tensor, Tensor]:
        """Drop points of dense ``[B, N, C]`` clouds; see the class docstring."""
        dim, layout = dense_layout(points, mask, channels_first)
        relevance = _check_relevance(
            relevance, (layout.num_clouds, layout.width), "[B, N]", points.device
        )
        check_generator_device(self.generator, points.device)
        relevance = relevance.detach()
        drop, finite = drop_grid(
            relevance, layout, self.alpha, self.beta, self.mode, self._floor, self.generator
        )
        if self.validate:
            finite = finite if finite is not None else finite_flag(relevance, layout)
            if not bool(finite):
                shown = relevance if mask is None else relevance.masked_fill(~mask, 0)
                raise_non_finite(shown, None, width=layout.width)
        return fill_dense(points, drop, mask, self.fill, dim)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(alpha={self.alpha}, beta={self.beta}, "
            f"mode={self.mode!r}, fill={self.fill!r}, min_points={self.min_points})"
        )


def _check_relevance(
    relevance: Tensor, shape: tuple[int, ...], what: str, device: torch.device
) -> Tensor:
    check_float_tensor("relevance", relevance, shape, what)
    check_same_device("relevance", relevance, device)
    return relevance


def dense_layout(points: Tensor, mask: Tensor | None, channels_first: bool) -> tuple[int, Layout]:
    """Check dense points/mask; ``(points' dimension, layout)``."""
    if not isinstance(points, Tensor) or points.dim() != 3:
        raise TypeError(
            f"points must be a 3-D tensor [B, N, C] ([B, C, N] with "
            f"channels_first=True), got {describe(points)}"
        )
    dim = 2 if channels_first else 1
    shape = (points.shape[0], points.shape[dim])
    if mask is not None:
        if not isinstance(mask, Tensor) or mask.dtype != torch.bool or (tuple(mask.shape) != shape):
            raise TypeError(
                f"mask must be a bool tensor of shape [B, N] = {shape}, got {describe(mask)}"
            )
        check_same_device("mask", mask, points.device)
    return dim, Layout.from_mask(shape, mask, points.device)
