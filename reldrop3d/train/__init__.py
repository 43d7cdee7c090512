"""Training with RelDrop: :class:`Trainer`, :class:`TrainConfig` (with TOML in and out),
checkpoints of plain data, the :class:`RelevanceCache` of ``--reldrop-every K``. Names load
on first use: the command line reads :mod:`reldrop3d.train.config` without importing torch.
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
