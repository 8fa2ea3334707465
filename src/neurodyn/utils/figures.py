"""The one figure writer: every PDF / PNG target is saved through ``save_figure``."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from neurodyn.utils.atomic import atomic_path

# no timestamps or version strings in the files: a rerun with the same numbers writes the same bytes
METADATA = {"pdf": {"CreationDate": None, "ModDate": None}, "png": {"Software": None}}


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend (jobs have no screen), imported only when a figure is
    drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, paths: Iterable[str | os.PathLike], *, dpi: int = 120, close: bool = True) -> None:
    """Save ``fig`` to each path (format from its suffix, .pdf / .png) atomically; then close it."""
    import matplotlib.pyplot as plt

    try:
        for path in paths:
            fmt = Path(path).suffix[1:].lower()
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=fmt, dpi=dpi, metadata=METADATA.get(fmt))
    finally:
        if close:
            plt.close(fig)
