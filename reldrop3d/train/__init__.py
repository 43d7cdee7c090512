"""Training with RelDrop: the Trainer, its configuration, checkpoints and the relevance cache.

- :class:`Trainer`: explain, drop, augment, step; evaluation, checkpoints, resume.
- :class:`TrainConfig`: every setting of a run, with TOML in and out.
- :func:`save_checkpoint` / :func:`load_checkpoint`: atomic writes, named errors.
- :class:`RelevanceCache`: per-point relevance reused for ``--reldrop-every K``.
"""

from reldrop3d.train.cache import RelevanceCache
from reldrop3d.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from reldrop3d.train.config import ConfigError, TrainConfig, read_toml, to_toml
from reldrop3d.train.trainer import Interrupted, Trainer, TrainingError

__all__ = [
    "CheckpointError",
    "ConfigError",
    "Interrupted",
    "RelevanceCache",
    "TrainConfig",
    "Trainer",
    "TrainingError",
    "load_checkpoint",
    "read_toml",
    "save_checkpoint",
    "to_toml",
]
