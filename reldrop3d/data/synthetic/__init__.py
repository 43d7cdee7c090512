"""SyntheticShapes: labelled part-based point clouds built from open3d primitives.

* :mod:`.primitives`: open3d meshes as numpy :class:`~.primitives.Mesh`.
* :mod:`.shapes`: one builder per class, returning named parts.
* :mod:`.generate`: objects -> point clouds with part labels, per split.
* :mod:`.dataset`: the :class:`SyntheticShapes` dataset and its cache.
"""

from reldrop3d.data.synthetic.dataset import SyntheticShapes
from reldrop3d.data.synthetic.shapes import SHAPES

__all__ = ["SHAPES", "SyntheticShapes"]
