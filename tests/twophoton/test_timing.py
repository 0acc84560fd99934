"""Pixel-timed raster scanning: :func:`bbbcore.twophoton.pixel_times_s` vs the paper's formula."""
from __future__ import annotations

import doctest

import numpy as np
import pytest

import bbbcore.twophoton.timing as timing_module
from bbbcore.reference import pixel_times_ref
from bbbcore.twophoton import ScanConfig, pixel_times_s


def _ref(scan: ScanConfig) -> np.ndarray:
    return pixel_times_ref(scan.frames, scan.rows, scan.cols, scan.dwell_s,
                           scan.line_retrace_ms * 1e-3, scan.frame_retrace_ms * 1e-3,
                           scan.bidirectional, scan.t0_s)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("shape", [(3, 5, 7), (2, 1, 1), (1, 4, 1), (2, 20, 20)])
def test_matches_reference(shape, bidirectional):
    T, R, C = shape
    scan = ScanConfig(frames=T, rows=R, cols=C, dwell_us=3.0, line_retrace_ms=0.25,
                      frame_retrace_ms=7.0, bidirectional=bidirectional)
    t = pixel_times_s(scan)
    assert t.dtype == np.float64 and t.shape == shape
    np.testing.assert_allclose(t, _ref(scan), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_t0_offset_shifts_every_pixel(bidirectional):
    base = ScanConfig(frames=3, rows=4, cols=5, bidirectional=bidirectional)
    shifted = ScanConfig(frames=3, rows=4, cols=5, bidirectional=bidirectional, t0_s=2.5)
    np.testing.assert_allclose(pixel_times_s(shifted), pixel_times_s(base) + 2.5,
                               rtol=0, atol=1e-12)
    np.testing.assert_allclose(pixel_times_s(shifted), _ref(shifted), rtol=1e-13, atol=1e-13)
    assert pixel_times_s(shifted)[0, 0, 0] == 2.5


def test_scan_order_is_strictly_increasing():
    """Convention: pixels in scan order (rows down, columns left to right, odd rows reversed when
    bidirectional) have strictly increasing times, and each row lasts (C − 1)·dwell."""
    for bidi in (False, True):
        scan = ScanConfig(frames=2, rows=4, cols=6, dwell_us=2.0, bidirectional=bidi)
        t = pixel_times_s(scan)
        order = t.copy()
        if bidi:
            order[:, 1::2] = order[:, 1::2, ::-1]
        assert np.all(np.diff(order.reshape(-1)) > 0)
        np.testing.assert_allclose(np.abs(t[:, :, -1] - t[:, :, 0]), 5 * 2e-6, rtol=1e-9)
    t = pixel_times_s(ScanConfig(frames=1, rows=2, cols=3, bidirectional=True))
    assert t[0, 1, 2] < t[0, 1, 0]                 # odd row runs right to left


def test_paper_code_preset_periods():
    scan = ScanConfig.paper_code()
    assert (scan.rows, scan.cols, scan.pixel_size_um, scan.dwell_us) == (20, 20, 0.15, 8.0)
    line = 19 * 8e-6 + 1.348e-3                    # (C − 1)·dwell + 1.348 ms = 1.5 ms
    assert scan.line_period_s == pytest.approx(line, rel=1e-12)
    assert scan.frame_period_s == pytest.approx(61.652e-3, rel=1e-12)
    t = pixel_times_s(ScanConfig.paper_code(frames=3))
    assert t[0, 1, 0] - t[0, 0, 0] == pytest.approx(line, rel=1e-12)
    assert t[1, 0, 0] - t[0, 0, 0] == pytest.approx(61.652e-3, rel=1e-12)
    assert t[2, 0, 0] == pytest.approx(2 * 61.652e-3, rel=1e-12)


def test_paper_preset_periods():
    scan = ScanConfig.paper()
    assert (scan.rows, scan.cols, scan.pixel_size_um) == (20, 20, 0.2)
    line = 20 * 8e-6 + 1.348e-3                    # C/v + τ
    assert scan.line_period_s == pytest.approx(line, rel=1e-12)
    assert scan.frame_period_s == pytest.approx(20 * line + 33e-3, rel=1e-12)
    t = pixel_times_s(ScanConfig.paper(frames=2))
    # the paper's t_rc = t0 + (rC + c)/v + τr within a frame
    r, c = np.meshgrid(np.arange(20), np.arange(20), indexing="ij")
    np.testing.assert_allclose(t[0], (r * 20 + c) * 8e-6 + 1.348e-3 * r, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(t[1] - t[0], scan.frame_period_s, rtol=1e-12)


def test_docstring_example():
    t = pixel_times_s(ScanConfig(frames=2, rows=2, cols=3, dwell_us=1.0, line_retrace_ms=0.001,
                                 frame_retrace_ms=0.0))
    assert np.round(t[0] * 1e6, 6).tolist() == [[0.0, 1.0, 2.0], [4.0, 5.0, 6.0]]
    assert np.round(t[1] * 1e6, 6).tolist() == [[8.0, 9.0, 10.0], [12.0, 13.0, 14.0]]
    result = doctest.testmod(timing_module, extraglobs={"ScanConfig": ScanConfig})
    assert result.attempted >= 2 and result.failed == 0


def test_bad_input():
    with pytest.raises(ValueError, match="pixel_times_s: scan must be a ScanConfig"):
        pixel_times_s({"frames": 1})
    with pytest.raises(ValueError, match="ScanConfig: dwell_us must be a finite number > 0"):
        ScanConfig(dwell_us=0)
    with pytest.raises(ValueError, match="ScanConfig: t0_s must be"):
        ScanConfig(t0_s=float("nan"))
    with pytest.raises(ValueError, match="ScanConfig: line_retrace_ms must be"):
        ScanConfig(line_retrace_ms=-1.0)
