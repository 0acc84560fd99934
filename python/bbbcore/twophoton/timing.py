"""Pixel-timed raster scanning: the time at which each pixel is recorded."""
from __future__ import annotations

import numpy as np

from bbbcore import _checks
from bbbcore.twophoton.config import ScanConfig


def pixel_times_s(scan: ScanConfig) -> np.ndarray:
    """Recording time of every pixel of a movie.

    ``t[f, r, c] = t0 + f·T_frame + r·T_line + k·dwell`` with ``k = c`` on forward rows and
    ``cols − 1 − c`` on the reversed (odd) rows of a bidirectional scan (paper §2.3:
    ``t_rc = t0 + (rC + c)/v + τr``).

    Args:
        scan: the scan configuration.

    Returns:
        float64 array ``(frames, rows, cols)`` [s].

    Example:
        >>> t = pixel_times_s(ScanConfig(frames=2, rows=2, cols=3, dwell_us=1.0, line_retrace_ms=0.001,
        ...                              frame_retrace_ms=0.0))
        >>> np.round(t[0] * 1e6, 6).tolist()
        [[0.0, 1.0, 2.0], [4.0, 5.0, 6.0]]
    """
    if not isinstance(scan, ScanConfig):
        _checks.fail("pixel_times_s", "scan", "a ScanConfig", type(scan).__name__)
    f = np.arange(scan.frames, dtype=np.float64)[:, None, None]
    r = np.arange(scan.rows, dtype=np.int64)[None, :, None]
    c = np.arange(scan.cols, dtype=np.int64)[None, None, :]
    k = np.where(scan.bidirectional & (r % 2 == 1), scan.cols - 1 - c, c).astype(np.float64)
    return (scan.t0_s + f * scan.frame_period_s + r.astype(np.float64) * scan.line_period_s
            + k * scan.dwell_s)
