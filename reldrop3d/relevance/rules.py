"""LRP rules of our own, in zennit's ``Hook`` protocol (the others are zennit's)."""

from __future__ import annotations

import torch
from zennit.core import Hook, stabilize


class PoolNorm(Hook):
    r"""LRP's ``Norm`` rule (epsilon without parameters) on a module ``z = f(x, *rest)``
    linear in ``x``:

    .. math::
        R_x = x \odot J_f^\top \frac{R_z}{z + \epsilon\,\mathrm{sign}(z)}

    with :math:`J_f^\top` the module's own backward (``rest``: index tensors,
    sizes, anything not differentiated). Each input gets its share of the
    output it was summed into. For a mean pool
    :math:`z_b = \frac{1}{n_b}\sum_{p \in b} x_p` this is

    .. math::
        R_{p,c} = \frac{x_{p,c} / n_b}{z_{b,c} + \epsilon\,\mathrm{sign}(z_{b,c})}\, R_{b,c},

    conservative per cloud and channel (up to :math:`\epsilon`), and exact LRP,
    where an even split :math:`R_{b,c} / n_b` (the plain gradient) conserves too
    but gives a point the same share whatever it contributed.

    zennit's ``Norm`` (a ``BasicHook``) re-runs ``module.forward(x)`` with the
    first input only and passes every input through an autograd identity
    (``int`` inputs fail there); this rule keeps the other inputs as they were.

    Args:
        epsilon: the stabiliser (``sign(0) = +1``, as zennit's).

    Shapes: those of the module; ``x [N, F]`` and ``z [B, F]`` for a pool.
    Relevance that arrives with a graph (``create_graph``) keeps it.
    """

    def __init__(self, epsilon: float = 1e-6):
        super().__init__()
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or epsilon < 0:
            raise ValueError(f"epsilon must be a number >= 0, got {epsilon!r}")
        self.epsilon = float(epsilon)

    def pre_forward(self, module: torch.nn.Module, input: tuple) -> tuple:
        """Zennit's identity (for the backward hook) on ``x`` only; the rest as given."""
        x, *rest = input
        return (super().pre_forward(module, (x,)), *rest)

    def forward(self, module: torch.nn.Module, input: tuple, output: torch.Tensor) -> None:
        self.stored_tensors["input"] = input

    def backward(self, module: torch.nn.Module, grad_input: tuple, grad_output: tuple) -> tuple:
        x, *rest = self.stored_tensors["input"]
        relevance = grad_output[0]
        with torch.enable_grad():
            x = x.clone().requires_grad_()
            z = module.forward(x, *rest)
            (g,) = torch.autograd.grad(
                z,
                x,
                relevance / stabilize(z, self.epsilon),
                create_graph=relevance.requires_grad,
            )
        return (x * g,)

    def copy(self) -> PoolNorm:
        return self.__class__(self.epsilon)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(epsilon={self.epsilon})"
