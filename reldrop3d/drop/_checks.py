"""Argument checks of the droppers.

Every check raises early, with a message that names the argument, the value
it expects and the value it received (a ``TypeError`` for a wrong type, a
``ValueError`` for a wrong value).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import torch
from torch import Tensor

MODES = ("threshold", "topk", "sample")
FILLS = ("remove", "zero", "first")


def check_ratio(name: str, value: float) -> float:
    """A real number in ``[0, 1]`` (``bool`` and NaN rejected), returned as ``float``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number in [0, 1], got {type(value).__name__}")
    value = float(value)
    if not 0.0 <= value <= 1.0:  # also rejects NaN
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return value


def check_choice(name: str, value: str, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        expected = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {expected}, got {value!r}")
    return value


def check_count(name: str, value: int) -> int:
    """A non-negative Python/NumPy integer (``bool`` rejected)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a non-negative int, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    return int(value)


def check_generator(generator: torch.Generator | None) -> torch.Generator | None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator or None, got {type(generator).__name__}"
        )
    return generator


def check_generator_device(generator: torch.Generator | None, device: torch.device) -> None:
    """The random numbers are drawn on the data's device, so the generator must live there."""
    if generator is not None and generator.device.type != device.type:
        raise ValueError(
            f"generator must live on the data's device ({device.type}), "
            f"got a generator on {generator.device}"
        )


def describe(value: object) -> str:
    """``'float32 tensor of shape (4, 3)'`` or the type name, for error messages."""
    if isinstance(value, Tensor):
        return f"{str(value.dtype).removeprefix('torch.')} tensor of shape {tuple(value.shape)}"
    return type(value).__name__


def check_float_tensor(name: str, value: Tensor, shape: tuple[int, ...], what: str) -> Tensor:
    """A floating-point tensor of exactly ``shape`` (``what`` spells the shape out)."""
    if not isinstance(value, Tensor):
        raise TypeError(
            f"{name} must be a floating-point tensor of shape {what}, got {describe(value)}"
        )
    if not value.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor of shape {what}, got {describe(value)}"
        )
    if tuple(value.shape) != tuple(shape):
        raise ValueError(
            f"{name} must have shape {what} = {tuple(shape)}, got {tuple(value.shape)}"
        )
    return value


def check_same_device(name: str, value: Tensor, device: torch.device) -> None:
    if value.device != device:
        raise ValueError(f"{name} must be on the points' device ({device}), got {value.device}")


def check_rule_args(alpha: float, beta: float, mode: str, min_points: int):
    """``(alpha, beta, mode, floor)`` of a dropping rule; ``floor = max(min_points, 1)``."""
    alpha = check_ratio("alpha", alpha)
    beta = check_ratio("beta", beta)
    mode = check_choice("mode", mode, MODES)
    floor = max(check_count("min_points", min_points), 1)
    return alpha, beta, mode, floor
