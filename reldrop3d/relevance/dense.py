"""Point relevance for models that take dense ``[B, N, C]`` (or ``[B, C, N]``) tensors."""

from __future__ import annotations

from contextlib import nullcontext

import torch
from torch import Tensor
from zennit.canonizers import SequentialMergeBatchNorm
from zennit.composites import EpsilonPlusFlat

from reldrop3d.relevance.api import check_seed, explaining, output_relevance, resolve_target, unwrap

DENSE_METHODS = ("lrp", "gradient", "input_x_gradient", "random")


def point_relevance_dense(
    model: torch.nn.Module,
    points: Tensor,
    target: Tensor | int | str,
    method: str = "lrp",
    *,
    composite=None,
    mask: Tensor | None = None,
    channels_first: bool = False,
    seed: str = "logit",
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""One relevance value per point for a dense model: ``[B, N, C] -> [B, N]``.

    For pipelines built like the published PointNet/PointNet++ code, where a
    model maps a ``[B, N, C]`` (or, with ``channels_first``, ``[B, C, N]``)
    tensor to logits ``[B, num_classes]``. The relevance of a point is the
    sum over its channels.

    Args:
        model: the dense classifier (an ``nn.Module``, so zennit can hook it).
        points: ``[B, N, C]``, or ``[B, C, N]`` with ``channels_first=True``.
        target: the class to explain, required: a ``LongTensor [B]`` of labels (what
            :func:`~reldrop3d.relevance.point_relevance` explains by default, from
            ``batch.y``), ``"pred"`` for the predicted class, or an int. A dense
            tensor carries no labels, so there is no default that would agree.
        method: ``"lrp"``, ``"gradient"`` (L2 norm of the input gradient),
            ``"input_x_gradient"`` or ``"random"``.
        composite: zennit composite for ``"lrp"``; default
            ``EpsilonPlusFlat(canonizers=[SequentialMergeBatchNorm()])``, which
            matches ``torch.nn.Linear``/``Conv*`` by type (flat on the first
            layer, epsilon elsewhere) and merges each batch norm that follows a
            linear layer. Difference features computed outside modules
            (``grouped_xyz - new_xyz`` in PointNet++ code) pass relevance as a
            gradient, which is not conservative; fold them for exact LRP.
        mask: optional ``[B, N]`` bool of valid points; padding gets relevance 0.
        channels_first: ``points`` is ``[B, C, N]``.
        seed: output relevance of ``"lrp"``, ``"logit"`` (default) or ``"one"``,
            as in :func:`~reldrop3d.relevance.point_relevance`.
        generator: random source for ``"random"``.

    Returns:
        ``Tensor [B, N]``. The model's modes and ``requires_grad`` flags are
        restored afterwards; no parameter gradient is accumulated.
    """
    if target is None:
        raise TypeError(
            "target must be 'pred', an int or a LongTensor [B] (no labels here), got None"
        )
    if method not in DENSE_METHODS:
        raise ValueError(f"method must be one of {DENSE_METHODS}, got {method!r}")
    check_seed(seed)
    if not isinstance(points, Tensor) or points.dim() != 3:
        got = tuple(points.shape) if isinstance(points, Tensor) else type(points).__name__
        raise ValueError(f"points must be a [B, N, C] tensor, got {got}")
    b, n = (points.size(0), points.size(2)) if channels_first else points.shape[:2]
    if mask is not None and tuple(mask.shape) != (b, n):
        raise ValueError(f"mask must have shape {(b, n)}, got {tuple(mask.shape)}")
    if method == "random":
        r = torch.rand(b, n, generator=generator, device=points.device, dtype=points.dtype)
        return r if mask is None else r * mask
    model = unwrap(model)
    if method == "lrp" and composite is None:
        composite = EpsilonPlusFlat(canonizers=[SequentialMergeBatchNorm()])
    with explaining(model), torch.inference_mode(False), torch.enable_grad():
        x = points.detach().clone().requires_grad_(True)
        context = composite.context(model) if method == "lrp" else nullcontext()
        with context:
            logits = model(x)
            t = resolve_target(target, None, logits)
            start = output_relevance(logits, t, seed if method == "lrp" else "one")
            (g,) = torch.autograd.grad(logits, x, start)
    cdim = 1 if channels_first else 2
    if method == "lrp":
        r = g.sum(cdim)
    elif method == "input_x_gradient":
        r = (x.detach() * g).sum(cdim)
    else:
        r = g.norm(dim=cdim)
    return r if mask is None else r * mask
