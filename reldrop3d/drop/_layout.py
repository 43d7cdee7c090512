"""The padded grid the dropping rules work on.

A batch of ``B`` clouds with ``n_i`` points each (``P = sum_i n_i`` in all)
is laid out as a grid ``[B, W]``, ``W = max_i n_i``: row ``i`` holds cloud
``i``. Every per-cloud reduction of the rules (min, max, counts, k-th
values) is then a reduction over the last dimension, which on a CPU is an
order of magnitude cheaper than ``torch_scatter.segment_csr`` over ``ptr``
(measured here at 32 x 1024: ``amax`` over rows 5 us, ``segment_csr`` max
45-80 us) and which needs no per-point gather of the per-cloud results.

When every cloud has ``W`` points (the usual case: ModelNet batches) the
grid is a free ``view`` of the flat ``[P]`` tensors. Otherwise points are
scattered into the grid through ``index [P]`` and the padding is marked by
``valid [B, W]``. For a PyG batch the row of cloud ``i`` holds its points in
order, first (``valid[i, j] = j < n_i``); for a dense ``[B, N]`` input with
a mask the valid entries may sit anywhere in the row.

Building a layout needs the host-side sizes ``B``, ``W`` and ``P``. A PyG
``Batch`` built by ``Batch.from_data_list`` keeps its per-cloud sizes on the
CPU in ``_slice_dict`` (even when the data live on a GPU), so it costs no
device synchronisation; other inputs cost one (documented where it happens).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


class Layout:
    """Placement of ``P`` points in a ``[B, W]`` grid.

    Attributes:
        num_clouds: ``B``.
        width: ``W``, the row length (largest cloud, or ``N`` of a dense input).
        num_points: ``P``, the number of valid points.
        valid: ``[B, W]`` bool, ``None`` when every row is full.
        index: ``[P]`` long, flat position ``i * W + j`` of each point, ``None``
            when every row is full (the grid is then a view of the flat order).
        device: the data's device.
        counts: points per cloud ``[B]`` (long, on the device; computed on first use).
    """

    __slots__ = ("num_clouds", "width", "num_points", "valid", "index", "device", "_counts", "_ptr")

    def __init__(
        self,
        num_clouds: int,
        width: int,
        num_points: int,
        device: torch.device,
        valid: Tensor | None = None,
        index: Tensor | None = None,
        counts: Tensor | None = None,
        ptr: Tensor | None = None,
    ) -> None:
        self.num_clouds, self.width, self.num_points = num_clouds, width, num_points
        self.device, self.valid, self.index = device, valid, index
        self._counts, self._ptr = counts, ptr

    @property
    def full(self) -> bool:
        """Every row holds ``W`` points: the grid is a view, there is no padding."""
        return self.index is None

    @property
    def counts(self) -> Tensor:
        if self._counts is None:
            if self._ptr is not None:
                self._counts = self._ptr[1:] - self._ptr[:-1]
            else:
                self._counts = torch.full(
                    (self.num_clouds,), self.width, dtype=torch.long, device=self.device
                )
        return self._counts

    def pad(self, x: Tensor, fill: float | int) -> Tensor:
        """``[P, *F] -> [B, W, *F]``, padding set to ``fill``."""
        shape = (self.num_clouds, self.width, *x.shape[1:])
        if self.index is None:
            return x.view(shape)
        out = x.new_full((self.num_clouds * self.width, *x.shape[1:]), fill)
        return out.index_copy_(0, self.index, x).view(shape)

    def unpad(self, x: Tensor) -> Tensor:
        """``[B, W, *F] -> [P, *F]``, the valid entries in flat order."""
        flat = x.reshape(self.num_clouds * self.width, *x.shape[2:])
        if self.index is None:
            return flat
        return flat.index_select(0, self.index)

    @staticmethod
    def from_ptr(ptr_host: np.ndarray, ptr: Tensor, batch: Tensor) -> Layout:
        """Layout of a flat batch from its CSR pointer.

        Args:
            ptr_host: ``[B + 1]`` on the host (NumPy): the sizes, read without a device sync.
            ptr: the same ``[B + 1]`` on the data's device.
            batch: cloud of each point ``[P]`` on the data's device (sorted).
        """
        sizes = ptr_host[1:] - ptr_host[:-1]
        num_clouds = sizes.size
        num_points = int(ptr_host[-1]) if num_clouds else 0
        width = int(sizes.max()) if num_clouds else 0
        device = batch.device
        if num_clouds == 0 or int(sizes.min()) == width:
            return Layout(num_clouds, width, num_points, device, ptr=ptr)
        counts = ptr[1:] - ptr[:-1]
        local = torch.arange(num_points, device=device) - ptr.index_select(0, batch)
        index = local.add_(batch, alpha=width)
        cols = torch.arange(width, device=device)
        valid = cols.unsqueeze(0) < counts.unsqueeze(1)
        return Layout(num_clouds, width, num_points, device, valid, index, counts, ptr)

    @staticmethod
    def from_mask(shape: tuple[int, int], mask: Tensor | None, device: torch.device) -> Layout:
        """Layout of a dense ``[B, N]`` input with an optional validity mask.

        With a mask, ``P = mask.sum()`` is read on the host: one device sync
        (``nonzero``), the only one of the dense form.
        """
        num_clouds, width = shape
        if mask is None:
            return Layout(num_clouds, width, num_clouds * width, device)
        index = flat_nonzero(mask.reshape(-1))
        counts = mask.sum(1)
        if index.numel() == num_clouds * width:  # all valid: same as no mask
            return Layout(num_clouds, width, index.numel(), device, counts=counts)
        return Layout(num_clouds, width, index.numel(), device, mask, index, counts)


def ptr_from_batch(batch: Tensor) -> tuple[np.ndarray, Tensor]:
    """``(ptr_host, ptr)`` of a sorted batch vector: one device sync on a GPU."""
    num_points = batch.numel()
    if num_points == 0:
        zero = torch.zeros(1, dtype=torch.long, device=batch.device)
        return np.zeros(1, dtype=np.int64), zero
    num_clouds = int(batch[-1]) + 1
    counts = torch.bincount(batch, minlength=num_clouds)
    ptr = torch.zeros(num_clouds + 1, dtype=torch.long, device=batch.device)
    torch.cumsum(counts, 0, out=ptr[1:])
    return ptr.cpu().numpy(), ptr


def host_ptr_of(data: object, num_points: int) -> np.ndarray | None:
    """The CPU copy of a PyG batch's ``ptr`` that ``Batch.from_data_list`` keeps in
    ``_slice_dict`` (for ``pos``, else ``x``), or ``None`` if it has none that fits."""
    slices = getattr(data, "_slice_dict", None)
    if not isinstance(slices, dict):
        return None
    num_clouds = getattr(data, "_num_graphs", None)
    for key in ("pos", "x"):
        ptr = slices.get(key)
        if (
            isinstance(ptr, Tensor)
            and ptr.device.type == "cpu"
            and ptr.dim() == 1
            and (num_clouds is None or ptr.numel() == num_clouds + 1)
            and ptr.numel() >= 1
            and int(ptr[-1]) == num_points
        ):
            return ptr.numpy()
    return None


def flat_nonzero(mask: Tensor) -> Tensor:
    """Indices of the ``True`` entries of a 1-D bool tensor, ``long [K]`` (the size is read
    on the host: a device sync on a GPU).

    On a CPU, NumPy's ``flatnonzero`` on the tensor's memory: measured here 18 us against
    57 us for ``torch.nonzero`` at 32768 entries, 0.12 ms against 1.6 ms at 262144.
    """
    if mask.device.type == "cpu":
        return torch.from_numpy(np.flatnonzero(mask.contiguous().numpy()))
    return mask.nonzero().view(-1)
