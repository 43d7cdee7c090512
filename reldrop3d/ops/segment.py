"""torch-scatter's reductions over contiguous segments, imported in this one place.

torch-scatter compiles against the installed torch, so ``pip install reldrop3d``
cannot pull it in; without it, importing this module fails with the command
that installs it. ``segment_csr`` is 3-4x faster than ``scatter_reduce`` for
the max pools of the models (measured in ``models/pool.py``'s use).
"""

try:
    from torch_scatter import segment_csr
except ImportError as e:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "reldrop3d needs torch-scatter, compiled against your torch: after installing torch, "
        "run  pip install --no-build-isolation torch-scatter  (see README, 'Install into "
        f"your own environment'); the import failed with: {e}"
    ) from e

__all__ = ["segment_csr"]
