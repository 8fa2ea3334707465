"""The one Gaussian smoother of the project: along one axis, kernel s.d. in bins, with the edge rule a caller's
paper or benchmark uses."""

from __future__ import annotations

import numpy as np


def gaussian_smooth(x: np.ndarray, sd_bins: float, axis: int, *, edges: str = "renormalise") -> np.ndarray:
    """Smooth ``x`` along ``axis`` with a normalised Gaussian kernel of s.d. ``sd_bins`` (0 or less: unsmoothed).

    ``edges="renormalise"`` (NLB's spike-smoothing reference): zero padding with the kernel renormalised over the
    bins that exist, NaN bins left out of every average and kept NaN (normalised convolution); returns a copy.
    ``edges="nearest"``: the edge bin repeated (scipy's ``mode="nearest"``), no NaN handling; unsmoothed ``x`` is
    returned as is. Both keep x's shape.
    """
    if edges not in ("renormalise", "nearest"):
        raise ValueError(f"edges: 'renormalise' or 'nearest' (got {edges!r})")
    if sd_bins <= 0:
        return x.copy() if edges == "renormalise" else x
    from scipy.ndimage import gaussian_filter1d

    if edges == "nearest":
        return gaussian_filter1d(x, sd_bins, axis=axis, mode="nearest")
    valid = ~np.isnan(x)
    num = gaussian_filter1d(np.where(valid, x, 0.0), sd_bins, axis=axis, mode="constant")
    den = gaussian_filter1d(valid.astype(np.float64), sd_bins, axis=axis, mode="constant")
    with np.errstate(invalid="ignore", divide="ignore"):
        out = num / den
    out[~valid] = np.nan
    return out
