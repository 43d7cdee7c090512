"""Point-level relevance for PyG batches: LRP and attribution baselines."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

import torch
from torch import Tensor
from torch_geometric.utils import to_dense_batch

from reldrop3d.relevance._context import explaining, unwrap
from reldrop3d.relevance.composite import PointLRPComposite, lrp_composite
from reldrop3d.relevance.fast import fast_lrp, supports_fast
from reldrop3d.relevance.targets import check_seed, output_relevance, resolve_target

METHODS = ("lrp", "gradient", "input_x_gradient", "saliency_map", "feature_norm", "random")


@contextmanager
def _grad_enabled(data) -> Iterator:
    """Gradients on, even inside ``no_grad``/``inference_mode`` (tensors made there are copied)."""
    if torch.is_inference_mode_enabled():
        with torch.inference_mode(False), torch.enable_grad():
            yield data.clone()
    else:
        with torch.enable_grad():
            yield data


def _uses_features(model: torch.nn.Module, data) -> bool:
    return getattr(model, "in_channels", 0) > 0 and isinstance(getattr(data, "x", None), Tensor)


def _input_gradients(model, data, target, method, composite, fast, create_graph, seed):
    """One forward, one input-only backward: ``(grad_pos, grad_x or None, pos, x or None, t)``."""
    inp = copy.copy(data)
    inp.pos = data.pos.detach().requires_grad_(True)
    inputs = [inp.pos]
    if _uses_features(model, data):
        inp.x = data.x.detach().requires_grad_(True)
        inputs.append(inp.x)
    if method == "lrp":
        if composite is None:
            composite = lrp_composite(model)
        if (
            fast is not False
            and isinstance(composite, PointLRPComposite)
            and supports_fast(composite.rule_map)
        ):
            rules = fast_lrp(model, composite.rule_map)
        elif fast is True:
            raise ValueError(
                "fast=True needs a PointLRPComposite whose rules all have fast versions"
            )
        else:
            rules = composite.context(model)
    else:
        rules = nullcontext()
    with rules:
        logits = model(inp)
        t = resolve_target(target, data, logits)
        if method == "saliency_map":
            out = torch.nn.functional.cross_entropy(logits, t, reduction="sum")
            grad_out = None
        else:
            out, grad_out = logits, output_relevance(logits, t, seed if method == "lrp" else "one")
        grads = torch.autograd.grad(out, inputs, grad_out, create_graph=create_graph)
    g_x = grads[1] if len(grads) > 1 else None
    return grads[0], g_x, inputs[0], (inputs[1] if len(inputs) > 1 else None)


def _median_per_cloud(pos: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
    """Coordinate-wise median of each cloud ``[num_graphs, 3]`` (lower median)."""
    dense, _ = to_dense_batch(pos.detach(), batch, fill_value=float("nan"), batch_size=num_graphs)
    return dense.nanmedian(dim=1).values


def _feature_norm(model, data) -> Tensor:
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
        batch = getattr(data, "batch", None)
        if batch is None:
            batch = torch.zeros(data.pos.size(0), dtype=torch.long, device=data.pos.device)
        point, centroid = knn(pos_f, data.pos, 1, batch_f, batch)
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
    r"""One relevance value per point of a PyG batch: ``Tensor [num_points]``.

    The relevance of a point is the sum over its input channels (coordinates,
    and ``x`` when the model reads it), as the published RelDrop does.

    Methods:
        ``"lrp"``: layer-wise relevance propagation with the model's rule map
        (:func:`lrp_composite`) from the output relevance ``seed``: per cloud
        it sums to the seeded output (the target logit, or 1), up to what
        biases and the stabiliser absorb.
        ``"gradient"``: :math:`\lVert \partial y_t / \partial p \rVert_2` (sensitivity).
        ``"input_x_gradient"``: :math:`\sum_c p_c\, \partial y_t / \partial p_c`.
        ``"saliency_map"`` (Zheng et al., ICCV 2019): with ``c`` the cloud's
        median point and :math:`r_p = \lVert p - c\rVert`, the loss gradient along
        the radius scaled by :math:`r^{1+\alpha}`:
        :math:`s_p = -\tfrac{\partial L}{\partial r_p} r_p^{1+\alpha}`, high for points
        whose shift towards the centre raises the loss.
        ``"feature_norm"`` (Levi and Gilboa, 2024): the norm of each point's
        feature before the global pool; for PointNet++, whose last features sit
        on sampled centroids, each point takes its nearest centroid's value.
        ``"random"``: uniform noise in [0, 1), the control.

    Args:
        model: a reldrop3d model (a DDP wrapper is unwrapped).
        batch: PyG ``Batch``/``Data`` with ``pos [N, 3]`` (and ``x``, ``batch``, ``y``).
        target: ``None`` explains ``batch.y``; ``"pred"`` the predicted class;
            an int or ``LongTensor [num_graphs]`` any class per cloud.
        method: one of :data:`METHODS`.
        composite: a zennit composite for ``"lrp"`` (default:
            ``lrp_composite(model)``). Any zennit composite works; a
            :class:`PointLRPComposite` runs on the fast path.
        fast: ``None`` uses the fast LRP path when the rules allow it,
            ``False`` forces zennit's hooks (the reference), ``True`` requires the fast path.
        seed: the output relevance of ``"lrp"``
            (:func:`~reldrop3d.relevance.output_relevance`): ``"logit"``
            (default) starts from the target logit, so relevance has the sign
            of each point's contribution (on a bias-free ReLU network, with the
            epsilon rule everywhere, it equals input x gradient); ``"one"``
            starts from 1 (as the published RelDrop), the same relevance
            divided by the logit, so where the logit is negative every sign
            flips and the points that least support the class rank first. The
            two rank the points of a cloud with a positive logit alike. The
            gradient methods always differentiate the logit itself and ignore
            ``seed``.
        alpha: exponent of ``saliency_map``.
        generator: random source for ``"random"``.
        create_graph: keep the graph so the relevance can be differentiated
            with respect to the parameters (explanation guidance); parameters keep
            their ``requires_grad`` then.
        max_clouds: explain at most this many clouds per pass (a loop over
            chunks of the batch, not over clouds): peak memory scales with the
            chunk, time barely changes. ``None``: the whole batch in one pass.

    The model runs in eval mode; its modes and its parameters'
    ``requires_grad`` are restored afterwards, exceptions included. No
    parameter gradient is computed or accumulated (unless ``create_graph``).
    LRP, the gradient methods and ``saliency_map`` take one forward and one
    input-only backward pass, with no loop over clouds.
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

            parts = []
            for start in range(0, num_graphs, max_clouds):
                keep = torch.zeros(num_graphs, dtype=torch.bool, device=batch.pos.device)
                keep[start : start + max_clouds] = True
                part_target = target
                if isinstance(target, Tensor):
                    part_target = target.view(-1)[start : start + max_clouds]
                parts.append(
                    point_relevance(
                        model,
                        select_clouds(batch, keep),
                        part_target,
                        method,
                        composite=composite,
                        fast=fast,
                        seed=seed,
                        alpha=alpha,
                        generator=generator,
                        create_graph=create_graph,
                    )
                )
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
            g_pos, g_x, pos, x = _input_gradients(
                model, data, target, method, composite, fast, create_graph, seed
            )
            if method == "lrp":
                r = g_pos.sum(-1) if g_x is None else g_pos.sum(-1) + g_x.sum(-1)
            elif method == "input_x_gradient":
                r = (pos * g_pos).sum(-1)
                if g_x is not None:
                    r = r + (x * g_x).sum(-1)
            elif method == "gradient":
                sq = g_pos.square().sum(-1)
                r = (sq if g_x is None else sq + g_x.square().sum(-1)).sqrt()
            else:  # saliency_map
                b = getattr(data, "batch", None)
                if b is None:
                    b = torch.zeros(pos.size(0), dtype=torch.long, device=pos.device)
                num_graphs = int(getattr(data, "num_graphs", 1) or 1)
                offset = pos.detach() - _median_per_cloud(pos, b, num_graphs)[b]
                radius = offset.norm(dim=-1)
                # dL/dr = grad . offset / r, so s = -(grad . offset) * r^alpha
                r = -(g_pos * offset).sum(-1) * radius.pow(alpha)
        return r if create_graph else r.detach()
