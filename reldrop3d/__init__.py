"""reldrop3d: Relevance-driven Input Dropout (RelDrop) for 3D point-cloud classifiers.

Explain the model on each training batch with LRP, remove the most relevant
points of every cloud, then take the optimiser step, so the model learns to
use the whole shape. Layers, from the bottom: :mod:`reldrop3d.ops` (knn, fps,
radius), :mod:`reldrop3d.data`, :mod:`reldrop3d.models`,
:mod:`reldrop3d.relevance`, :mod:`reldrop3d.drop`, :mod:`reldrop3d.train`,
:mod:`reldrop3d.evaluate`.

open3d is imported only by the functions that need it.
"""

import warnings

with warnings.catch_warnings():
    # torch_geometric 2.8 scripts a helper at import; torch 2.14 warns about it
    warnings.filterwarnings(
        "ignore", message="`torch.jit.script` is deprecated", category=FutureWarning
    )
    import torch_geometric  # noqa: F401

from reldrop3d import data, drop, guidance, models, ops, relevance  # noqa: E402
from reldrop3d.drop import RandomPointDropout, RelDrop  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "RandomPointDropout",
    "RelDrop",
    "__version__",
    "data",
    "drop",
    "guidance",
    "models",
    "ops",
    "relevance",
]
