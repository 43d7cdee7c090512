"""Training with RelDrop: the Trainer, its configuration, checkpoints and the relevance cache.

- :class:`Trainer`: explain, drop, augment, step; evaluation, checkpoints, resume.
- :class:`TrainConfig`: every setting of a run, with TOML in and out.
- :func:`save_checkpoint` / :func:`load_checkpoint`: atomic writes, plain data only
  (read with ``weights_only=True``), named errors.
- :class:`RelevanceCache`: per-point relevance reused for ``--reldrop-every K``.

Names load on first use, so :mod:`reldrop3d.train.config` (pure Python) can be
read by the command line without importing torch.
"""

from reldrop3d._lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "CheckpointError": "checkpoint",
        "load_checkpoint": "checkpoint",
        "save_checkpoint": "checkpoint",
        "ConfigError": "config",
        "TrainConfig": "config",
        "read_toml": "config",
        "to_toml": "config",
        "RelevanceCache": "cache",
        "Interrupted": "trainer",
        "RunExistsError": "trainer",
        "Trainer": "trainer",
        "TrainingError": "trainer",
    },
)
