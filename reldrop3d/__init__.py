"""reldrop3d: Relevance-driven Input Dropout (RelDrop) for 3D point-cloud classifiers.

Explain the model on each training batch with LRP, remove the most relevant
points of every cloud, then take the optimiser step, so the model learns to
use the whole shape. Layers, from the bottom: :mod:`reldrop3d.ops` (knn, fps,
radius), :mod:`reldrop3d.data`, :mod:`reldrop3d.models`,
:mod:`reldrop3d.relevance`, :mod:`reldrop3d.drop`, :mod:`reldrop3d.guidance`,
:mod:`reldrop3d.train`, :mod:`reldrop3d.evaluate`.

Subpackages load on first use (``import reldrop3d as rd; rd.train``), so
importing the package is cheap; open3d is imported only by the functions
that need it.
"""

import warnings

from reldrop3d._lazy import attach

# torch 2.14 deprecates torch.jit.script, which PyG 2.8 calls once at import; only that
# message, from that module, is silenced (torch's own warning, not ours to show users)
warnings.filterwarnings(
    "ignore",
    message="`torch.jit.script` is deprecated",
    category=FutureWarning,
    module=r"torch\.jit\._script",
)

__version__ = "0.1.0"

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        **dict.fromkeys(
            ("data", "drop", "evaluate", "guidance", "models", "ops", "relevance", "train"), ""
        ),
        "RelDrop": "drop",
        "RandomPointDropout": "drop",
    },
)
__all__ += ["__version__"]
