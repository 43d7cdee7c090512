"""The resolved configuration of a training run, and its TOML form."""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from reldrop3d.names import (
    DROP_MODES,
    FILLS,
    GUIDANCE_LOSSES,
    GUIDANCE_METHODS,
    LRP_SEEDS,
    MODELS,
    RELEVANCE_METHODS,
)

DEVICE_PATTERN = r"cpu|cuda(:\d+)?|mps"  # what --device accepts; availability is checked later
# reldrop-rate: the rate-matched control, as many points as RelDrop drops, chosen at random
AUGMENTS = ("reldrop", "reldrop-rate", "random", "none")
SCHEDULERS = ("step", "cosine", "none")
DATA_KINDS = ("synthetic", "synthetic-decoy", "modelnet40", "shapenet")
# keys that may differ from the saved run on --resume: the epoch budget, where
# it runs, and memory knobs that do not change what is computed
RESUMABLE = ("epochs", "device", "eval_batch_size", "relevance_max_clouds", "test_every", "out")
CHOICES = {
    "model": MODELS,
    "augment": AUGMENTS,
    "mode": DROP_MODES,
    "fill": FILLS,
    "scheduler": SCHEDULERS,
    "relevance": RELEVANCE_METHODS,
    "relevance_seed": LRP_SEEDS,
    "guidance": ("none", *GUIDANCE_LOSSES),
    # attributions that can be differentiated in the parameters
    "guidance_method": GUIDANCE_METHODS,
}
# (keys, what each must be, test of a finite real number)
NUMBERS = (
    (("alpha", "beta", "max_ratio"), "a number in [0, 1]", lambda v: 0 <= v <= 1),
    (("train_fraction",), "in (0, 1]", lambda v: 0 < v <= 1),
    (("val_fraction",), "in [0, 1)", lambda v: 0 <= v < 1),
    (("guidance_fraction",), "a number in (0, 1]", lambda v: 0 < v <= 1),
    (("lr",), "a finite number > 0", lambda v: v > 0),
    (
        ("weight_decay", "shift", "jitter", "guidance_lambda"),
        "a finite number >= 0",
        lambda v: v >= 0,
    ),
    (
        ("epochs", "batch_size", "num_points", "reldrop_every", "eval_batch_size"),
        "a positive integer",
        lambda v: isinstance(v, int) and v >= 1,
    ),
    (
        ("min_points", "samples_per_class", "seed", "relevance_max_clouds", "test_every"),
        "a non-negative integer",
        lambda v: isinstance(v, int) and v >= 0,
    ),
)


class ConfigError(ValueError):
    """A configuration value is not allowed; the message names the key and the value."""


@dataclass
class TrainConfig:
    """Every setting of a run; ``reldrop3d train`` has a flag for each key.

    Defaults follow the published setup (Adam 1e-3, weight decay 1e-4, batch
    32, 1,024 points, step schedule x0.7 every 20 epochs, batch-norm momentum
    0.1 halved every 20 epochs down to 0.01, random scale and shift, alpha =
    beta = 0.5), except ``relevance_seed = "logit"``: the published seed 1
    (``"one"``) reverses the ranking of every cloud whose true-class logit is
    negative (see :func:`reldrop3d.relevance.point_relevance`). The ``guidance*``
    keys (off by default; data with masks) are described by :class:`~reldrop3d.train.Trainer`.
    """

    data: str = "synthetic"
    model: str = "pointnet"
    augment: str = "reldrop"
    alpha: float = 0.5
    beta: float = 0.5
    mode: str = "threshold"
    fill: str = "remove"
    min_points: int = 32
    max_ratio: float = 0.875
    relevance: str = "lrp"
    relevance_seed: str = "logit"
    relevance_max_clouds: int = 0
    reldrop_every: int = 1
    epochs: int = 100
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    scheduler: str = "step"
    num_points: int = 1024
    use_normals: bool = False
    scale: list[float] = field(default_factory=lambda: [0.8, 1.25])
    shift: float = 0.1
    jitter: float = 0.0
    rotate: bool = False
    seed: int = 0
    device: str = "cpu"
    out: str = "runs/run"
    eval_batch_size: int = 64
    test_every: int = 1
    samples_per_class: int = 0
    train_fraction: float = 1.0
    val_fraction: float = 0.0
    model_kwargs: dict = field(default_factory=dict)
    guidance: str = "none"
    guidance_lambda: float = 1.0
    guidance_method: str = "input_x_gradient"
    guidance_fraction: float = 1.0

    def validate(self) -> TrainConfig:
        """Raise :class:`ConfigError` naming the first bad key; return self."""
        for key, allowed in CHOICES.items():
            if getattr(self, key) not in allowed:
                raise ConfigError(
                    f"{key} must be one of {', '.join(allowed)}; got {getattr(self, key)!r}"
                )
        for keys, what, test in NUMBERS:
            for key in keys:
                v = getattr(self, key)
                real = isinstance(v, int) or (isinstance(v, float) and math.isfinite(v))
                if isinstance(v, bool) or not real or not test(v):
                    raise ConfigError(f"{key} must be {what}; got {v!r}")
        if not isinstance(self.device, str) or not re.fullmatch(DEVICE_PATTERN, self.device):
            raise ConfigError(f"device must be cpu, cuda, cuda:N or mps; got {self.device!r}")
        if (
            not isinstance(self.scale, (list, tuple))
            or len(self.scale) != 2
            or not 0 < self.scale[0] <= self.scale[1]
        ):
            raise ConfigError(f"scale must be [low, high] with 0 < low <= high; got {self.scale!r}")
        if not isinstance(self.data, str) or self.data.split(":", 1)[0] not in DATA_KINDS:
            raise ConfigError(
                "data must be synthetic, synthetic-decoy, modelnet40[:PATH] or "
                f"shapenet[:PATH]; got {self.data!r}"
            )
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, values: dict, source: str = "config") -> TrainConfig:
        values = {k.replace("-", "_"): v for k, v in values.items()}
        unknown = sorted(set(values) - set(cls.keys()))
        if unknown:
            raise ConfigError(f"unknown key(s) in {source}: {', '.join(unknown)}")
        return cls(**values)


def read_toml(path: str | Path) -> dict:
    """The keys of a config file (``reldrop3d train --config FILE``), hyphens as underscores."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        values = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {path} is not valid TOML: {e}") from None
    return {k.replace("-", "_"): v for k, v in values.items()}


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def to_toml(cfg: TrainConfig) -> str:
    """The flat TOML text of a config; :func:`read_toml` reads it back to the same values."""
    return "".join(f"{k} = {_toml_value(v)}\n" for k, v in cfg.to_dict().items())


def resume_conflicts(saved: dict, given: dict) -> list[tuple[str, object, object]]:
    """``(key, saved value, given value)`` for each key of ``given`` that may not change
    on resume (not in :data:`RESUMABLE`) and differs from the ``saved`` run's config.

    Keys the saved config lacks (written by an older version) compare against
    the default.
    """
    defaults = TrainConfig().to_dict()
    out = []
    for key, value in given.items():
        old = saved.get(key, defaults.get(key))
        as_list = [list(v) if isinstance(v, tuple) else v for v in (old, value)]
        if key not in RESUMABLE and as_list[0] != as_list[1]:
            out.append((key, old, value))
    return out
