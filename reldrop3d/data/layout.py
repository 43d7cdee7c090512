"""Recognising which on-disk layout of a dataset a folder holds.

A :class:`Layout` pairs a cheap ``detect(folder) -> bool`` with the
``read(folder, split, num_points, use_normals) -> (classes, Clouds)`` that
loads it. :func:`find_layout` tries each layout on the given root, its
``raw/`` subfolder and its immediate subfolders, so a loader may be given
either the dataset folder or the folder holding it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from torch_geometric.data import Data

from reldrop3d.data._checks import check_num_points, check_split
from reldrop3d.data.clouds import Clouds, PointCloudDataset

Reader = Callable[[Path, str, int | None, bool], tuple[list[str], Clouds]]


@dataclass(frozen=True)
class Layout:
    """One on-disk layout: how to recognise its folder, read it, and its up axis."""

    name: str
    description: str
    detect: Callable[[Path], bool]
    read: Reader
    up_axis: int


def subdirs(folder: Path) -> list[Path]:
    """Sorted non-hidden subfolders of ``folder`` (empty if it cannot be listed)."""
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []


def find_layout(
    root: Path, layouts: Sequence[Layout], layout: str | None = None, dataset: str = "dataset"
) -> tuple[Layout, Path]:
    """Find one of ``layouts`` in ``root``, ``root/raw`` or an immediate subfolder of ``root``.

    Args:
        root: the layout folder itself or a folder containing it.
        layouts: candidates, in order of preference.
        layout: restrict the search to the layout of this name (``None``: any).
        dataset: the dataset's name, for messages.

    Returns:
        ``(layout, folder)``: the first match, ``root`` itself before its subfolders.

    Raises:
        ValueError: ``layout`` is not the name of one of ``layouts``.
        FileNotFoundError: ``root`` is missing or no layout is found; the
            message lists the layouts looked for and what ``root`` holds.
    """
    names = [lay.name for lay in layouts]
    if layout is not None and layout not in names:
        raise ValueError(f"layout must be one of {names} or None, got {layout!r}")
    if not root.exists():
        raise FileNotFoundError(f"{dataset} root {root} does not exist")
    if not root.is_dir():
        raise FileNotFoundError(f"{dataset} root {root} is not a folder")
    wanted = [lay for lay in layouts if layout in (None, lay.name)]
    candidates = [root, root / "raw"]
    for sub in subdirs(root):
        candidates += [sub, sub / "raw"]
    for folder in candidates:
        if folder.is_dir():
            for lay in wanted:
                if lay.detect(folder):
                    return lay, folder
    entries = sorted(p.name + ("/" if p.is_dir() else "") for p in root.iterdir())
    found = ", ".join(entries[:20])
    if len(entries) > 20:
        found += f", ... ({len(entries)} entries)"
    looked = "; ".join(lay.description for lay in wanted)
    raise FileNotFoundError(
        f"no {dataset} layout found in {root} (nor in its raw/ or immediate subfolders). "
        f"Looked for: {looked}. Found: {found or 'nothing (empty folder)'}"
    )


class LayoutDataset(PointCloudDataset):
    """A dataset read whole from whichever of its :attr:`LAYOUTS` is found under ``root``.

    Subclasses set :attr:`NAME` (for messages), :attr:`SPLITS` and :attr:`LAYOUTS`,
    and give their own defaults for ``split`` and ``num_points``.
    """

    NAME: str = "dataset"
    SPLITS: tuple[str, ...] = ()
    LAYOUTS: tuple[Layout, ...] = ()

    def __init__(
        self,
        root: str | Path,
        split: str,
        num_points: int | None,
        transform: Callable[[Data], Data] | None = None,
        use_normals: bool = False,
        layout: str | None = None,
    ) -> None:
        super().__init__(transform)
        self.split = check_split(split, self.SPLITS)
        self.num_points = check_num_points(num_points)
        self.use_normals = bool(use_normals)
        found, folder = find_layout(Path(root).expanduser(), self.LAYOUTS, layout, self.NAME)
        self.layout = found.name
        self.folder = folder
        self.up_axis = found.up_axis
        classes, clouds = found.read(folder, self.split, self.num_points, self.use_normals)
        self.classes = classes
        self._set_clouds(clouds)
