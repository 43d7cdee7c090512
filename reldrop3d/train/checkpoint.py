"""Checkpoints: plain data (tensors, numbers, strings, ``None``, lists, tuples, dicts),
written atomically, read with ``weights_only=True`` so that loading never runs code."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import torch

# what every reldrop3d checkpoint holds (``reldrop3d eval``/``explain`` read these)
MODEL_KEYS = ("model", "config", "num_classes")


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable, unsafe, or does not fit; the message names the file."""


def _plain(value, where: str = "state") -> None:
    """Raise ``TypeError`` naming the first entry of ``value`` that is not plain data."""
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, (str, int)):
                raise TypeError(f"{where} has a key of type {type(k).__name__}: {k!r}")
            _plain(v, f"{where}[{k!r}]")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _plain(v, f"{where}[{i}]")
    elif value is not None and not isinstance(value, (int, float, str, torch.Tensor, torch.Size)):
        raise TypeError(f"{where} is a {type(value).__module__}.{type(value).__qualname__}")


def save_checkpoint(state: dict, path: str | Path) -> Path:
    """Write ``state`` to ``path`` atomically: a temporary file in the same folder,
    flushed to disk, then renamed over ``path``. A failed write (a full disk, say)
    leaves the old file intact and raises :class:`CheckpointError` naming the file.
    Raises ``TypeError`` if ``state`` holds anything but plain data, which could not
    be read back.
    """
    _plain(state)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # open() keeps the umask's mode
    try:
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if not isinstance(e, OSError):
            raise
        kept = "the previous one is intact" if path.exists() else "no earlier one existed"
        raise CheckpointError(
            f"could not write checkpoint {path} ({e.strerror or e}); {kept}"
        ) from None
    return path


def load_checkpoint(
    path: str | Path,
    map_location: str | torch.device = "cpu",
    required: Iterable[str] = MODEL_KEYS,
) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`, with ``weights_only=True``.

    Raises :class:`CheckpointError` naming the file when it is missing, damaged,
    holds anything but plain data (refused, never loaded another way), or lacks
    one of the ``required`` keys.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises several types for damaged files
        lines = str(e).splitlines()
        if "Weights only load failed" in str(e):
            found = [ln.strip() for ln in lines if "GLOBAL" in ln or "Unsupported" in ln]
            reason = found[0] if found else "it holds more than plain data"
            raise CheckpointError(
                f"refusing to load checkpoint {path}: loading it could run code ({reason})"
            ) from None
        first = lines[0] if lines else ""
        raise CheckpointError(
            f"checkpoint {path} is corrupt or truncated ({type(e).__name__}: {first})"
        ) from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} is not a reldrop3d checkpoint (not a dict)")
    missing = [k for k in required if k not in state]
    if missing:
        raise CheckpointError(
            f"{path} is not a complete reldrop3d checkpoint (missing {', '.join(missing)})"
        )
    return state


def model_from_checkpoint(path: str | Path, device: str | torch.device = "cpu"):
    """``(model in eval mode, checkpoint dict)`` rebuilt from a training checkpoint.

    Raises :class:`CheckpointError` naming the file when it lacks what a model
    needs or its weights do not fit the model its configuration describes.
    """
    from reldrop3d.models import build

    state = load_checkpoint(path)
    cfg = state["config"]
    try:
        model = build(
            cfg["model"],
            state["num_classes"],
            in_channels=state.get("in_channels", 0),
            **cfg.get("model_kwargs", {}),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(
            f"checkpoint {path} does not describe a model this version can build "
            f"({type(e).__name__}: {e})"
        ) from None
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as e:
        first = str(e).splitlines()[0]
        raise CheckpointError(
            f"checkpoint {path} does not fit a {cfg['model']} model: {first}"
        ) from None
    return model.to(device).eval(), state
