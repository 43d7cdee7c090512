"""Point operations on batched point clouds, in pure torch.

Every function takes points as a flat ``[N, C]`` tensor plus an optional
``batch`` vector ``[N]`` (sorted, as PyG produces it) assigning each point to
its cloud, works on clouds of different sizes in one batch, runs on any
device, and loops in Python over neither clouds nor points. They stand in for
``torch_cluster``'s ``knn``/``fps``/``radius``, which PyG 2.8 routes to
``pyg-lib``.
"""

from reldrop3d.ops.fps import fps
from reldrop3d.ops.neighbors import knn, knn_graph, radius, radius_graph

__all__ = ["fps", "knn", "knn_graph", "radius", "radius_graph"]
