"""The random numbers of the droppers, drawn in the flat order of the points.

All draws are made for the ``P`` valid points in their flat order (cloud by
cloud, point by point), whatever the layout of the input, so a PyG batch and
its dense ``[B, N]`` form consume a seeded generator identically and drop the
same points.

The threshold rule needs one uniform number per point, and on a CPU the
generator is the most expensive part of the whole dropper: ``torch.rand`` of
32768 float32 values takes 94 us here (one thread), a third of the whole
mask. A 32-bit generator output carries two independent 15-bit uniforms, so
:func:`uniform15` draws ``ceil(P / 2)`` 31-bit integers and splits each into
two (46 us for 32768 values, measured side by side). ``U = v / 2**15`` is
uniform on the grid ``{0, 1/32768, ..., 32767/32768}``: every drop
probability of the rule is exact up to ``2**-15 = 3e-5``, far below anything
a training run can see.
The modes that rank points use full 31-bit integers or float32 exponentials.
"""

from __future__ import annotations

import torch
from torch import Tensor

U15_SCALE = 2.0**-15  # U = v * U15_SCALE for v from uniform15


def uniform15(n: int, device: torch.device, generator: torch.Generator | None) -> Tensor:
    """``n`` independent integers uniform on ``[0, 2**15)``, as ``int16 [n]``.

    ``random_()`` on ``int32`` yields 31 uniform bits (``[0, 2**31)``), on CPU
    and CUDA alike; bits 0-14 and 16-30 of each word make two values.
    """
    words = torch.empty((n + 1) // 2, dtype=torch.int32, device=device)
    words.random_(generator=generator).bitwise_and_(0x7FFF7FFF)
    values = words.view(torch.int16)
    return values if n % 2 == 0 else values[:n]


def uniform31(n: int, device: torch.device, generator: torch.Generator | None) -> Tensor:
    """``n`` independent integers uniform on ``[0, 2**31)``, as ``int32 [n]``."""
    return torch.empty(n, dtype=torch.int32, device=device).random_(generator=generator)


def exponential(n: int, device: torch.device, generator: torch.Generator | None) -> Tensor:
    """``n`` independent ``Exp(1)`` values, ``float32 [n]``: ``-log(1 - U)``, ``U ~ rand``.

    Finite (``U < 1``), and fine-grained near 0, where the sampling keys that
    matter most lie. Cheaper here than ``Tensor.exponential_`` (measured at 32768
    values: 125 us against 620 us).
    """
    u = torch.rand(n, device=device, generator=generator)
    return u.neg_().log1p_().neg_()
