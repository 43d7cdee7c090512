"""Reductions over contiguous segments: torch-scatter's ``segment_csr``, imported in this one
place, and the CSR pointer it takes.

torch-scatter compiles against the installed torch, so ``pip install reldrop3d``
cannot pull it in; without it, importing this module fails with the command
that installs it.
"""

import torch
from torch import Tensor

try:
    from torch_scatter import segment_csr
except ImportError as e:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "reldrop3d needs torch-scatter, compiled against your torch: after installing torch, "
        "run  pip install --no-build-isolation torch-scatter  (see README, 'Install into "
        f"your own environment'); the import failed with: {e}"
    ) from e

__all__ = ["index_to_ptr", "segment_csr"]


def index_to_ptr(index: Tensor, size: int) -> Tensor:
    """Sorted ``index [E]`` with values in ``[0, size)`` -> CSR pointer ``[size + 1]``
    (``ptr[b + 1] - ptr[b]`` entries have the value ``b``), without a host sync."""
    return torch._convert_indices_from_coo_to_csr(index, size)
