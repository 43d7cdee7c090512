"""Canonizers that fold the difference features of point convolutions into linear layers.

zennit propagates relevance through un-hooked operations as a plain
gradient. For a difference feature ``d = a - b`` that sends ``+R`` to ``a``
and ``-R`` to ``b``, which breaks conservation. A linear layer on
``[u, a - b]`` with weights ``[W_u, W_d]`` is the same function as a linear
layer on ``[u, a, b]`` with weights ``[W_u, W_d, -W_d]``; after this fold the
difference is gone and the layer's LRP rule distributes relevance over
``u``, ``a`` and ``b`` directly, so it is conserved:

- :class:`PointNetConv` (PointNet++): ``[x_j, pos_j - pos_i]`` becomes
  ``[x_j, pos_j, pos_i]`` with ``[W_x, W_p, -W_p]``;
- :class:`EdgeConv` (DGCNN): ``[x_i, x_j - x_i]`` becomes ``[x_i, x_j]``
  with ``[W_1 - W_2, W_2]``.

The canonizer swaps in a new first linear layer holding the folded weights
(the model's own parameters are never written) and patches the
convolution's ``message``; :meth:`remove` restores both.

:class:`MergeBatchNorm` merges an eval-mode batch norm into the linear
layers before it and takes it out of the network. (zennit's own merge
leaves an identity-valued batch norm in place, which still scales by
``1 / sqrt(1 + eps)`` and so leaks a little relevance per layer, and costs
a pass forward and backward.) Both canonizers put new parameter tensors in
place instead of writing the model's, and zennit reverts canonizers in the
order they were applied, so folds must come before merges: a merge then
edits the folded copy, and the original layer is untouched.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor
from torch_geometric.nn import MLP, EdgeConv, PointNetConv
from zennit.canonizers import Canonizer


def _first_linear_slot(nn: torch.nn.Module) -> tuple[torch.nn.Module, str]:
    """The container and key of the first linear layer of a PyG ``MLP`` or a ``Sequential``."""
    if isinstance(nn, MLP):
        return nn.lins, "0"
    if isinstance(nn, torch.nn.Sequential):
        for key, child in nn._modules.items():
            if hasattr(child, "weight"):
                return nn, key
    raise TypeError(
        f"cannot fold the difference feature: the convolution's network must be a "
        f"torch_geometric.nn.MLP or torch.nn.Sequential starting with a linear layer, got "
        f"{type(nn).__name__}"
    )


def _linear_holding(weight: Tensor, bias: Tensor | None, differentiable: bool) -> torch.nn.Linear:
    """A ``torch.nn.Linear`` computing ``x W^T + b`` with the given tensors.

    ``differentiable=False``: frozen leaf copies (``requires_grad=False``).
    ``differentiable=True``: the tensors themselves, graph and all, so that
    gradients reach the parameters they were computed from.
    """
    lin = torch.nn.Linear(1, 1, bias=bias is not None, device=weight.device, dtype=weight.dtype)
    lin.in_features, lin.out_features = weight.size(1), weight.size(0)
    lin._parameters["weight"] = _held(weight, differentiable)
    lin._parameters["bias"] = None if bias is None else _held(bias, differentiable)
    return lin


def _held(t: Tensor, differentiable: bool) -> Tensor:
    return t if differentiable else torch.nn.Parameter(t.detach(), requires_grad=False)


def _pointnet_message(
    self: PointNetConv, x_j: Tensor | None, pos_i: Tensor, pos_j: Tensor
) -> Tensor:
    msg = torch.cat([pos_j, pos_i], dim=1)
    if x_j is not None:
        msg = torch.cat([x_j, msg], dim=1)
    return self.local_nn(msg) if self.local_nn is not None else msg


def _edge_message(self: EdgeConv, x_i: Tensor, x_j: Tensor) -> Tensor:
    return self.nn(torch.cat([x_i, x_j], dim=-1))


class DifferenceFold(Canonizer):
    """Fold the difference feature of every :class:`PointNetConv` and :class:`EdgeConv`.

    Args:
        names: restrict the fold to the convolutions with these module names;
            ``None`` folds every such convolution in the model.
        differentiable: ``False`` puts frozen copies of the folded weights in
            place; ``True`` keeps them functions of the parameters, for
            relevance that is differentiated again (``create_graph=True``).
    """

    def __init__(self, names: list[str] | None = None, differentiable: bool = False):
        super().__init__()
        self.names = None if names is None else list(names)
        self.differentiable = bool(differentiable)
        self.conv = None
        self.slot = None
        self.original = None

    def apply(self, root_module: torch.nn.Module) -> list[DifferenceFold]:
        instances = []
        for name, module in root_module.named_modules():
            if self.names is not None and name not in self.names:
                continue
            if isinstance(module, (PointNetConv, EdgeConv)):
                instance = self.copy()
                instance.register(module)
                instances.append(instance)
        return instances

    def register(self, conv: torch.nn.Module) -> None:
        self.conv = conv
        if isinstance(conv, PointNetConv):
            if conv.local_nn is None:
                raise TypeError("cannot fold a PointNetConv without local_nn")
            container, key = _first_linear_slot(conv.local_nn)
            lin = container._modules[key]
            w = lin.weight
            folded = torch.cat([w, -w[:, -3:]], dim=1)  # [W_x, W_p] -> [W_x, W_p, -W_p]
            message = _pointnet_message
        elif isinstance(conv, EdgeConv):
            container, key = _first_linear_slot(conv.nn)
            lin = container._modules[key]
            w = lin.weight
            c = w.size(1) // 2
            folded = torch.cat([w[:, :c] - w[:, c:], w[:, c:]], dim=1)  # [W1 - W2, W2]
            message = _edge_message
        else:
            raise TypeError(
                f"DifferenceFold applies to PointNetConv and EdgeConv, got {type(conv)}"
            )
        self.slot, self.original = (container, key), lin
        bias = getattr(lin, "bias", None)
        container._modules[key] = _linear_holding(folded, bias, self.differentiable)
        conv.message = functools.partial(message, conv)

    def remove(self) -> None:
        container, key = self.slot
        container._modules[key] = self.original
        del self.conv.message

    def copy(self) -> DifferenceFold:
        return self.__class__(self.names, self.differentiable)


class MergeBatchNorm(Canonizer):
    r"""Merge eval-mode batch norms into the linear layers before them, and remove them.

    With :math:`s = \gamma / \sqrt{\sigma^2 + \epsilon}`, the linear layer
    becomes :math:`W' = \mathrm{diag}(s) W`, :math:`b' = s (b - \mu) + \beta`
    and the batch norm is replaced by the identity, so the network computes the
    same function with one layer fewer.

    Args:
        name_map: pairs ``(linear_names, norm_name)``, as zennit's ``NamedMergeBatchNorm``.
        differentiable: as for :class:`DifferenceFold`; :math:`W, b, \gamma, \beta`
            carry gradients, the running statistics are constants either way.
    """

    def __init__(self, name_map: list[tuple[list[str], str]], differentiable: bool = False):
        super().__init__()
        self.name_map = name_map
        self.differentiable = bool(differentiable)
        self.saved = None
        self.slot = None

    def apply(self, root_module: torch.nn.Module) -> list[MergeBatchNorm]:
        instances = []
        for linear_names, norm_name in self.name_map:
            modules = dict(root_module.named_modules())
            parent_name, _, key = norm_name.rpartition(".")
            parent = modules[parent_name] if parent_name else root_module
            instance = self.copy()
            instance.register([modules[n] for n in linear_names], parent, key)
            instances.append(instance)
        return instances

    def register(self, linears: list[torch.nn.Module], parent: torch.nn.Module, key: str) -> None:
        norm = parent._modules[key]
        self.slot = (parent, key, norm)
        self.saved = []
        scale = norm.running_var.add(norm.eps).sqrt().reciprocal()
        if norm.weight is not None:
            scale = norm.weight / (norm.running_var + norm.eps).sqrt()
        shift = norm.bias if norm.bias is not None else torch.zeros_like(norm.running_mean)
        for lin in linears:
            w, b = lin._parameters["weight"], lin._parameters.get("bias")
            self.saved.append((lin, w, b))
            bias = b if b is not None else torch.zeros_like(norm.running_mean)
            lin._parameters["weight"] = _held(w * scale[:, None], self.differentiable)
            lin._parameters["bias"] = _held(
                (bias - norm.running_mean) * scale + shift, self.differentiable
            )
        parent._modules[key] = torch.nn.Identity()

    def remove(self) -> None:
        parent, key, norm = self.slot
        parent._modules[key] = norm
        for lin, w, b in self.saved:
            lin._parameters["weight"] = w
            lin._parameters["bias"] = b

    def copy(self) -> MergeBatchNorm:
        return self.__class__(self.name_map, self.differentiable)
