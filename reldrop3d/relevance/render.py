"""Point clouds coloured by relevance: a ``.ply`` (open3d) and a ``.png`` (matplotlib)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor


def relevance_colours(relevance: Tensor, clip: float = 0.99) -> np.ndarray:
    r"""``[N, 3]`` RGB in [0, 1] of a relevance ``[N]``: a diverging map, blue negative,
    white 0, red positive.

    Colour of point :math:`i`: ``bwr`` at :math:`\tfrac12 + \tfrac12
    \operatorname{clamp}(R_i / s, -1, 1)` with :math:`s` the ``clip`` quantile
    of :math:`|R|` (``clip=1``: the largest). Point relevance behind a max pool
    sits on a few points; a quantile keeps one of them from washing out the rest.
    """
    import matplotlib

    if not 0.0 < clip <= 1.0:
        raise ValueError(f"clip must be in (0, 1], got {clip!r}")
    r = relevance.detach().double().cpu()
    scale = 1.0
    if r.numel():  # the quantile, else the largest (sparse maps), else 1 (all zero)
        scale = float(torch.quantile(r.abs(), clip)) or float(r.abs().max()) or 1.0
    cmap = matplotlib.colormaps["bwr"]
    return cmap((r / scale).clamp(-1.0, 1.0).mul(0.5).add(0.5).numpy())[:, :3]


def save_relevance_cloud(
    pos: Tensor, relevance: Tensor, path: str | Path, title: str | None = None
) -> tuple[Path, Path]:
    """Write ``path.ply`` (points with relevance colours) and ``path.png`` (two views).

    Args:
        pos: points ``[N, 3]``; relevance: ``[N]``; path: file name with or
            without suffix (both files share the stem).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import open3d

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stem = path.with_suffix("")
    ply, png = stem.with_suffix(".ply"), stem.with_suffix(".png")
    colours = relevance_colours(relevance)
    xyz = pos.detach().double().cpu().numpy()
    cloud = open3d.geometry.PointCloud(open3d.utility.Vector3dVector(xyz))
    cloud.colors = open3d.utility.Vector3dVector(colours.astype(np.float64))
    if not open3d.io.write_point_cloud(str(ply), cloud):
        raise OSError(f"open3d could not write {ply}")

    order = torch.argsort(relevance.detach().abs().cpu()).numpy()  # most relevant drawn last
    fig = plt.figure(figsize=(8, 4))
    for i, (elev, azim) in enumerate(((20, -60), (20, 30))):
        ax = fig.add_subplot(1, 2, i + 1, projection="3d")
        ax.scatter(
            xyz[order, 0],
            xyz[order, 1],
            xyz[order, 2],
            c=colours[order],
            s=10,
            edgecolors="0.5",
            linewidths=0.15,
        )
        ax.view_init(elev=elev, azim=azim)
        ax.set_box_aspect(np.ptp(xyz, axis=0) + 1e-6)
        ax.set_axis_off()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    plt.close(fig)
    return ply, png
