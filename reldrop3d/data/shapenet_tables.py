"""The fixed tables of the ShapeNet part benchmark (Yi et al., SIGGRAPH Asia 2016).

16 object categories, alphabetical (the label ``y`` is the index into
:data:`CATEGORIES`), and 50 part labels numbered globally: each category owns
a contiguous range of part ids (:data:`PART_RANGES`), as in the PointNet /
PointNet++ / DGCNN code and the released HDF5 and text files.
"""

from __future__ import annotations

import numpy as np

#: Category names; line ``i`` of ``all_object_categories.txt`` is label ``i``.
CATEGORIES: tuple[str, ...] = (
    "Airplane",
    "Bag",
    "Cap",
    "Car",
    "Chair",
    "Earphone",
    "Guitar",
    "Knife",
    "Lamp",
    "Laptop",
    "Motorbike",
    "Mug",
    "Pistol",
    "Rocket",
    "Skateboard",
    "Table",
)

#: ShapeNetCore synset id (folder name of the text layout) of each category.
SYNSETS: dict[str, str] = {
    "Airplane": "02691156",
    "Bag": "02773838",
    "Cap": "02954340",
    "Car": "02958343",
    "Chair": "03001627",
    "Earphone": "03261776",
    "Guitar": "03467517",
    "Knife": "03624134",
    "Lamp": "03636649",
    "Laptop": "03642806",
    "Motorbike": "03790512",
    "Mug": "03797390",
    "Pistol": "03948459",
    "Rocket": "04099429",
    "Skateboard": "04225987",
    "Table": "04379243",
}

#: Global part ids of each category, ``(start, stop)``: ``range(start, stop)``.
PART_RANGES: dict[str, tuple[int, int]] = {
    "Airplane": (0, 4),
    "Bag": (4, 6),
    "Cap": (6, 8),
    "Car": (8, 12),
    "Chair": (12, 16),
    "Earphone": (16, 19),
    "Guitar": (19, 22),
    "Knife": (22, 24),
    "Lamp": (24, 28),
    "Laptop": (28, 30),
    "Motorbike": (30, 36),
    "Mug": (36, 38),
    "Pistol": (38, 41),
    "Rocket": (41, 44),
    "Skateboard": (44, 47),
    "Table": (47, 50),
}

NUM_PARTS = 50

#: Part names per category as listed by Yi et al. 2016, in the order commonly
#: taken to match the part ids. The ids are authoritative; the names are for
#: display and were not checked against the annotation files.
PART_NAMES: dict[str, tuple[str, ...]] = {
    "Airplane": ("body", "wing", "tail", "engine"),
    "Bag": ("handle", "body"),
    "Cap": ("panels", "peak"),
    "Car": ("roof", "hood", "wheel", "body"),
    "Chair": ("back", "seat", "leg", "arm"),
    "Earphone": ("earphone", "headband", "data_wire"),
    "Guitar": ("head", "body", "neck"),
    "Knife": ("blade", "handle"),
    "Lamp": ("base", "shade", "canopy", "tube"),
    "Laptop": ("keyboard", "screen"),
    "Motorbike": ("gas_tank", "seat", "wheel", "handle", "light", "body"),
    "Mug": ("handle", "cup"),
    "Pistol": ("barrel", "handle", "trigger"),
    "Rocket": ("body", "fin", "nose"),
    "Skateboard": ("wheel", "deck", "belt"),
    "Table": ("top", "leg", "support"),
}


def part_ranges_array() -> np.ndarray:
    """``[16, 2]`` int64: ``(start, stop)`` of the part ids of each category, in label order."""
    return np.array([PART_RANGES[c] for c in CATEGORIES], dtype=np.int64)


def part_category() -> np.ndarray:
    """``[50]`` int64: the category label that owns each global part id."""
    owner = np.empty(NUM_PARTS, dtype=np.int64)
    for label, cat in enumerate(CATEGORIES):
        start, stop = PART_RANGES[cat]
        owner[start:stop] = label
    return owner


def global_part_names() -> list[str]:
    """``[50]`` names ``"<Category>/<part>"`` indexed by global part id."""
    return [f"{cat}/{name}" for cat in CATEGORIES for name in PART_NAMES[cat]]
