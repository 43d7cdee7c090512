"""Evaluation instruments; those on a model and a loader return JSON-able dicts.

- :func:`corrupt`: the seven ModelNet-C corruptions (:data:`CORRUPTIONS`) and eight
  mesh-free ModelNet40-C ones (``SUITES["modelnet40-c"]``), five levels each.
- :func:`evaluate` (OA / mAcc / per-class accuracy, loss), :func:`corruption_accuracy`,
  :func:`modelnet_c_accuracy` (the official files), :func:`robustness_summary` (mCE / RmCE).
- :func:`deletion_curves`: MoRF / LeRF / random point-removal curves and their AUCs.
- :func:`attribution_report`: relevance entropy, mass fractions, part shares and energy.
- :func:`table` and :func:`plot`: Markdown tables and PNG plots of one run or several.
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
from reldrop3d.evaluate._report import plot, table

__all__ = [
    "CORRUPTIONS",
    "MODELNET_C_DGCNN",
    "SUITES",
    "attribution_report",
    "corruption_accuracy",
    "corrupt",
    "deletion_curves",
    "evaluate",
    "modelnet_c_accuracy",
    "plot",
    "robustness_summary",
    "table",
]
