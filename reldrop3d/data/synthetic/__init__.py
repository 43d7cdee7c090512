"""SyntheticShapes: labelled part-based point clouds built from open3d primitives.

* :mod:`.shapes`: the open3d primitives and one builder per class, returning named parts.
* :mod:`.generate`: objects (with or without a decoy) -> point clouds with part labels.
* :mod:`.dataset`: the :class:`SyntheticShapes` dataset and its cache.
"""

from reldrop3d.data.synthetic.dataset import SyntheticShapes
from reldrop3d.data.synthetic.shapes import SHAPES

__all__ = ["SHAPES", "SyntheticShapes"]
