"""Evaluation instruments: accuracy, corruption robustness, deletion curves, feature use.

- :func:`corrupt`: the seven ModelNet-C corruptions (:data:`CORRUPTIONS`) and
  eight mesh-free ModelNet40-C ones (``SUITES["modelnet40-c"]``), five levels
  each, batched on PyG batches and dense tensors.
- :func:`evaluate` (OA / mAcc / per-class accuracy, loss),
  :func:`corruption_accuracy`, :func:`modelnet_c_accuracy` (the official files)
  and :func:`robustness_summary` (mCE / RmCE / mOA).
- :func:`deletion_curves`: MoRF / LeRF / random point-removal curves and
  their AUCs.
- :func:`attribution_report`: relevance entropy, mass fractions, part shares
  and part energy, per class and overall.
- :mod:`~reldrop3d.evaluate.plots`: PNG bar charts and curves.
- :mod:`~reldrop3d.evaluate.tables`: Markdown tables, runs side by side.

The loader-level functions take a model and a data loader and return plain
JSON-able dicts.
"""

from reldrop3d.evaluate._accuracy import (
    MODELNET_C_DGCNN,
    corruption_accuracy,
    evaluate,
    modelnet_c_accuracy,
    robustness_summary,
)
from reldrop3d.evaluate._attribution import attribution_report
from reldrop3d.evaluate._corruptions import CORRUPTIONS, SUITES, corrupt
from reldrop3d.evaluate._deletion import deletion_curves
from reldrop3d.evaluate.plots import (
    plot_class_accuracy_delta,
    plot_corruption_accuracy,
    plot_deletion_curves,
)
from reldrop3d.evaluate.tables import (
    attribution_table,
    corruption_levels_table,
    corruption_table,
    deletion_table,
)

__all__ = [
    "CORRUPTIONS",
    "MODELNET_C_DGCNN",
    "SUITES",
    "attribution_report",
    "attribution_table",
    "corruption_accuracy",
    "corruption_levels_table",
    "corrupt",
    "corruption_table",
    "deletion_curves",
    "deletion_table",
    "evaluate",
    "modelnet_c_accuracy",
    "plot_class_accuracy_delta",
    "plot_corruption_accuracy",
    "plot_deletion_curves",
    "robustness_summary",
]
