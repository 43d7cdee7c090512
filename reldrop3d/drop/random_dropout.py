"""``RandomPointDropout``: the PointNet++ random point dropout baseline."""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import Data

from reldrop3d.drop._checks import (
    FILLS,
    check_choice,
    check_count,
    check_generator,
    check_generator_device,
    check_ratio,
)
from reldrop3d.drop.fill import batch_layout, fill_batch, fill_dense, num_points_of
from reldrop3d.drop.mask import random_grid
from reldrop3d.drop.reldrop import dense_layout

__all__ = ["RandomPointDropout"]


class RandomPointDropout:
    r"""Random point dropout, the augmentation of the PointNet++ reference code.

    Per cloud ``i`` a ratio :math:`\rho_i \sim U[0, \text{max\_ratio})`, then every
    point is dropped with probability :math:`\rho_i` (independently), and the
    dropped points are replaced by the cloud's first kept point (``fill="first"``,
    the PointNet++ convention), zeroed, or removed. Every cloud keeps at least
    ``max(min_points, 1)`` points (the published code keeps none when all are
    dropped; one is needed for ``fill="first"``).

    Same call shapes as :class:`~reldrop3d.drop.RelDrop`, so a training loop can
    swap the two: ``dropper(batch, relevance=None)`` and ``dropper.dense(points,
    relevance=None, mask=None, channels_first=False)``. ``relevance`` is accepted
    and ignored; ``needs_relevance = False`` tells the loop it need not compute it.

    Draws per call: ``B`` ratios (float32), then one 15-bit uniform per valid
    point in flat order (the same for both call shapes).

    Args:
        max_ratio: largest drop ratio, in ``[0, 1]``.
        fill: ``"first"``, ``"zero"`` or ``"remove"``.
        generator: random source, on the data's device.
        min_points: points every cloud keeps (at least 1).
    """

    needs_relevance = False

    def __init__(
        self,
        max_ratio: float = 0.875,
        fill: str = "first",
        generator: torch.Generator | None = None,
        min_points: int = 1,
    ) -> None:
        self.max_ratio = check_ratio("max_ratio", max_ratio)
        self.fill = check_choice("fill", fill, FILLS)
        self.generator = check_generator(generator)
        self.min_points = check_count("min_points", min_points)

    def __call__(self, batch: Data, relevance: Tensor | None = None) -> Data:
        """Drop points of a PyG batch; ``relevance`` is ignored."""
        num_points = num_points_of(batch)
        layout, ptr_host = batch_layout(batch, num_points)
        check_generator_device(self.generator, layout.device)
        drop = random_grid(layout, self.max_ratio, max(self.min_points, 1), self.generator)
        return fill_batch(batch, layout.unpad(drop), drop, layout, ptr_host, self.fill)

    def dense(
        self,
        points: Tensor,
        relevance: Tensor | None = None,
        mask: Tensor | None = None,
        channels_first: bool = False,
    ) -> tuple[Tensor, Tensor]:
        """Drop points of dense clouds; returns as :meth:`RelDrop.dense`."""
        dim, layout = dense_layout(points, mask, channels_first)
        check_generator_device(self.generator, points.device)
        drop = random_grid(layout, self.max_ratio, max(self.min_points, 1), self.generator)
        return fill_dense(points, drop, mask, self.fill, dim)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(max_ratio={self.max_ratio}, fill={self.fill!r}, "
            f"min_points={self.min_points})"
        )
