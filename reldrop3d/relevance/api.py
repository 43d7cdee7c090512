"""Point-level relevance for PyG batches, and what every explanation shares: the model's
state, the explained class, the output seed, the inputs that require grad."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

import torch
from torch import Tensor
from torch_geometric.utils import to_dense_batch

from reldrop3d.models._base import in_mode
from reldrop3d.names import LRP_SEEDS as SEEDS
from reldrop3d.names import RELEVANCE_METHODS as METHODS
from reldrop3d.relevance.fast import fast_lrp, supports_fast
from reldrop3d.relevance.rulemaps import PointLRPComposite, lrp_composite


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module under ``DistributedDataParallel``/``DataParallel`` wrappers."""
    while isinstance(model, (torch.nn.parallel.DistributedDataParallel, torch.nn.DataParallel)):
        model = model.module
    return model


@contextmanager
def explaining(model: torch.nn.Module, keep_param_grad: bool = False) -> Iterator[torch.nn.Module]:
    """Eval mode (batch norms use, and never update, their running statistics; no dropout)
    and frozen parameters (input gradients only) inside the block; every module's mode and
    every parameter's ``requires_grad`` restored on exit, exceptions included.
    ``keep_param_grad=True`` leaves ``requires_grad`` as it is."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        with in_mode(model, training=False):
            if not keep_param_grad:
                for p, _ in flags:
                    p.requires_grad_(False)
            yield model
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def resolve_target(target: None | str | int | Tensor, data, logits: Tensor) -> Tensor:
    """``LongTensor [num_graphs]`` of the class to explain for each cloud.

    ``None``: the ground truth ``data.y``; ``"pred"``: the predicted class;
    an int: that class for every cloud; a ``LongTensor [num_graphs]``: as given.
    """
    num_graphs, num_classes = logits.shape
    if target is None:
        y = getattr(data, "y", None)
        if not isinstance(y, Tensor):
            raise ValueError("target=None explains the ground-truth class, but the batch has no y")
        t = y.view(-1)
    elif isinstance(target, str):
        if target != "pred":
            raise ValueError(f"target must be None, 'pred', an int or a LongTensor, got {target!r}")
        t = logits.detach().argmax(-1)
    elif isinstance(target, int) and not isinstance(target, bool):
        t = torch.full((num_graphs,), target, dtype=torch.long, device=logits.device)
    elif isinstance(target, Tensor):
        t = target.view(-1)
    else:
        raise TypeError(f"target must be None, 'pred', an int or a LongTensor, got {type(target)}")
    if t.dtype != torch.long or t.numel() != num_graphs:
        raise ValueError(
            f"target must hold one class index (torch.long) per cloud ({num_graphs}), got "
            f"{t.numel()} values of dtype {t.dtype}"
        )
    if isinstance(target, int) and not 0 <= target < num_classes:
        raise ValueError(f"target must be a class index in [0, {num_classes}), got {target}")
    if t.device.type == "cpu" and t.numel() and not 0 <= int(t.min()) <= int(t.max()) < num_classes:
        # (on an accelerator this check would stall the device; one_hot asserts there)
        what = "batch.y (explained when target=None)" if target is None else "target"
        raise ValueError(
            f"{what} must hold class indices in [0, {num_classes}) for this model, got values "
            f"from {int(t.min())} to {int(t.max())}"
        )
    return t.to(logits.device)


def check_seed(seed: str) -> str:
    """``seed`` if it is one of :data:`SEEDS`, else a ``ValueError`` naming it."""
    if not isinstance(seed, str) or seed not in SEEDS:
        raise ValueError(f"seed must be one of {SEEDS}, got {seed!r}")
    return seed


def output_relevance(logits: Tensor, target: Tensor, seed: str) -> Tensor:
    r"""The relevance LRP starts from, ``[num_graphs, num_classes]``: zero except at each
    cloud's target class ``t [num_graphs]``, where it is 1 (``seed="one"``, zennit's and the
    published RelDrop's convention) or the logit :math:`y_t` (``seed="logit"``, each point's
    relevance then has the sign of its contribution to :math:`y_t`). LRP is linear in the
    seed, so the two differ per cloud by the factor :math:`y_t` (a sign flip where
    :math:`y_t < 0`). ``"logit"`` keeps its graph to ``logits``."""
    onehot = torch.nn.functional.one_hot(target, logits.size(-1)).to(logits.dtype)
    return onehot if check_seed(seed) == "one" else onehot * logits


def grad_inputs(
    model: torch.nn.Module, data, requires_grad: bool = True
) -> tuple[object, list[Tensor]]:
    """``(inp, inputs)``: a shallow copy of ``data`` whose ``pos`` (and ``x``, when the model
    reads features) are detached leaves, and the list ``[pos, x?]`` of them."""
    inp = copy.copy(data)
    inputs = [data.pos.detach().requires_grad_(requires_grad)]
    inp.pos = inputs[0]
    if getattr(model, "in_channels", 0) > 0 and isinstance(getattr(data, "x", None), Tensor):
        inputs.append(data.x.detach().requires_grad_(requires_grad))
        inp.x = inputs[1]
    return inp, inputs


def per_point(method: str, inputs: list[Tensor], grads: tuple[Tensor, ...]) -> Tensor:
    """A point's relevance from the gradients of its inputs ``[pos, x?]``, summed over
    channels: ``"lrp"`` the gradients; ``"input_x_gradient"`` input times gradient;
    ``"gradient"`` the L2 norm (with gradient 0, not ``nan``, where the norm is 0)."""
    if method == "input_x_gradient":
        terms = [(i * g).sum(-1) for i, g in zip(inputs, grads)]
    elif method == "gradient":
        terms = [g.square().sum(-1) for g in grads]
    else:
        terms = [g.sum(-1) for g in grads]
    out = sum(terms[1:], terms[0])
    if method != "gradient":
        return out
    positive = out > 0
    return torch.where(positive, torch.where(positive, out, torch.ones_like(out)).sqrt(), 0.0)


@contextmanager
def _grad_enabled(data) -> Iterator:
    """Gradients on, even inside ``no_grad``/``inference_mode`` (tensors made there are copied)."""
    if torch.is_inference_mode_enabled():
        with torch.inference_mode(False), torch.enable_grad():
            yield data.clone()
    else:
        with torch.enable_grad():
            yield data


def _lrp_rules(model, composite, fast: bool | None, replay):
    """The context that makes input gradients LRP: the fast path or the composite's hooks."""
    composite = lrp_composite(model) if composite is None else composite
    if isinstance(composite, PointLRPComposite) and supports_fast(composite.rule_map):
        if fast is not False:
            return fast_lrp(model, composite.rule_map, replay)
    if fast is True or replay is not None:
        rules = getattr(composite, "rule_map", None)
        got = sorted({type(r).__name__ for r in rules.rules.values()}) if rules else composite
        raise ValueError(
            "fast=True and create_graph=True need a PointLRPComposite whose rules all have "
            f"closed forms (epsilon, flat, w-square, pass, norm, float stabilisers), got {got}"
        )
    return composite.context(model)


def _feature_norm(model, data) -> Tensor:
    from reldrop3d.data.batching import batch_vector
    from reldrop3d.ops import knn

    if not hasattr(model, "forward_features"):
        raise TypeError(
            f"method='feature_norm' needs a model with forward_features, got {type(model).__name__}"
        )
    with torch.no_grad():
        h, pos_f, batch_f, _ = model.forward_features(data)
        norm = h.norm(dim=-1)
        if h.size(0) == data.pos.size(0):
            return norm
        # features live on sampled centroids: each point takes its nearest centroid's norm
        point, centroid = knn(pos_f, data.pos, 1, batch_f, batch_vector(data, False)[0])
        out = norm.new_zeros(data.pos.size(0))
        out[point] = norm[centroid]
        return out


def point_relevance(
    model: torch.nn.Module,
    batch,
    target: None | str | int | Tensor = None,
    method: str = "lrp",
    *,
    composite=None,
    fast: bool | None = None,
    seed: str = "logit",
    alpha: float = 1.0,
    generator: torch.Generator | None = None,
    create_graph: bool = False,
    max_clouds: int | None = None,
) -> Tensor:
    r"""One relevance value per point of a PyG batch, ``[num_points]``: the sum over the
    point's input channels (coordinates, and ``x`` when the model reads it).

    Methods:
        ``"lrp"``: LRP with the model's rule map (:func:`lrp_composite`) from the
        output relevance ``seed`` (:func:`output_relevance`); per cloud it sums to the
        seeded output up to what biases and the stabiliser absorb.
        ``"gradient"``: :math:`\lVert \partial y_t / \partial p \rVert_2`.
        ``"input_x_gradient"``: :math:`\sum_c p_c\, \partial y_t / \partial p_c`.
        ``"saliency_map"`` (Zheng et al., ICCV 2019): with :math:`r_p` the distance to
        the cloud's median point, :math:`s_p = -\tfrac{\partial L}{\partial r_p}
        r_p^{1+\alpha}` for the cross-entropy loss :math:`L`.
        ``"feature_norm"`` (Levi and Gilboa, 2024): the norm of each point's feature
        before the global pool (PointNet++: of its nearest last centroid).
        ``"random"``: uniform noise in [0, 1), the control.

    Args:
        model: a reldrop3d model (a DDP wrapper is unwrapped).
        batch: PyG ``Batch``/``Data`` with ``pos [N, 3]`` (and ``x``, ``batch``, ``y``).
        target: ``None`` explains ``batch.y``, ``"pred"`` the predicted class, an int
            or ``LongTensor [num_graphs]`` the given class per cloud.
        method: one of :data:`METHODS`.
        composite: any zennit composite for ``"lrp"`` (default ``lrp_composite(model)``).
        fast: ``None`` takes the fast LRP path of a :class:`PointLRPComposite` whose rules
            allow it, ``False`` forces zennit's hooks (the reference), ``True`` requires it.
        seed: ``"logit"`` or ``"one"``, the output relevance of ``"lrp"``; the gradient
            methods differentiate the logit and ignore it.
        alpha: exponent of ``saliency_map``.
        generator: random source for ``"random"``.
        create_graph: relevance differentiable in the parameters (explanation guidance);
            for ``"lrp"`` it needs the fast path and costs a second forward.
        max_clouds: explain at most this many clouds per pass (``None``: all at once).

    The model runs in eval mode with frozen parameters; modes and ``requires_grad`` are
    restored afterwards, exceptions included. One forward and one input-only backward
    pass, no loop over clouds.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    check_seed(seed)
    if max_clouds is not None:
        if isinstance(max_clouds, bool) or not isinstance(max_clouds, int) or max_clouds < 1:
            raise ValueError(f"max_clouds must be a positive int or None, got {max_clouds!r}")
        num_graphs = int(getattr(batch, "num_graphs", 1) or 1)
        if num_graphs > max_clouds:
            from reldrop3d.data.batching import select_clouds

            ids, parts = torch.arange(num_graphs, device=batch.pos.device), []
            opts = dict(composite=composite, fast=fast, seed=seed, alpha=alpha)
            opts.update(generator=generator, create_graph=create_graph)
            for s in range(0, num_graphs, max_clouds):
                chunk = select_clouds(batch, (ids >= s) & (ids < s + max_clouds))
                t = target.view(-1)[s : s + max_clouds] if isinstance(target, Tensor) else target
                parts.append(point_relevance(model, chunk, t, method, **opts))
            return torch.cat(parts)
    pos = getattr(batch, "pos", None)
    if not isinstance(pos, Tensor) or pos.dim() != 2:
        raise ValueError(f"batch.pos must be a [N, 3] tensor, got {type(pos).__name__}")
    if method == "random":
        return torch.rand(pos.size(0), generator=generator, device=pos.device, dtype=pos.dtype)
    if composite is not None and method != "lrp":
        raise ValueError(f"composite= applies to method='lrp' only, got method={method!r}")
    model = unwrap(model)
    with explaining(model, keep_param_grad=create_graph):
        if method == "feature_norm":
            return _feature_norm(model, batch)
        with _grad_enabled(batch) as data:
            inp, inputs = grad_inputs(model, data)
            rules = nullcontext()
            if method == "lrp":
                replay = grad_inputs(model, data, requires_grad=False)[0] if create_graph else None
                rules = _lrp_rules(model, composite, fast, replay)
            with rules as reference:
                logits = model(inp)
                t = resolve_target(target, data, logits)
                if method == "saliency_map":
                    out = torch.nn.functional.cross_entropy(logits, t, reduction="sum")
                    grads = torch.autograd.grad(out, inputs, create_graph=create_graph)
                else:
                    # differentiable LRP seeds from the first pass's logits (the true graph)
                    seeded = reference if isinstance(reference, Tensor) else logits
                    start = output_relevance(seeded, t, seed if method == "lrp" else "one")
                    grads = torch.autograd.grad(logits, inputs, start, create_graph=create_graph)
            if method != "saliency_map":
                r = per_point(method, inputs, grads)
            else:
                b = getattr(data, "batch", None)
                b = torch.zeros_like(pos[:, 0], dtype=torch.long) if b is None else b
                num_graphs = int(getattr(data, "num_graphs", 1) or 1)
                nan = float("nan")
                dense, _ = to_dense_batch(inputs[0].detach(), b, nan, batch_size=num_graphs)
                offset = inputs[0].detach() - dense.nanmedian(dim=1).values[b]  # lower median
                # dL/dr = grad . offset / r, so s = -(grad . offset) * r^alpha
                r = -(grads[0] * offset).sum(-1) * offset.norm(dim=-1).pow(alpha)
        return r if create_graph else r.detach()
