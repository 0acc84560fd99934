"""Configuration of a simulated two-photon acquisition: scan timing, PSF and detector.

Two presets are offered side by side (SCIENCE.md, "Two-photon movies"):

============================  ==========================  ==================================
quantity                      ``.paper()`` (text, §2.3)   ``.paper_code()`` (public code)
============================  ==========================  ==================================
pixel size                    0.2 µm                      0.15 µm
dwell                         8 µs                        8 µs
line period                   C·dwell + 1.348 ms          (C−1)·dwell + 1.348 ms
                                                          (line_retrace_ms = 1.340 here)
frame period (20×20)          63.16 ms                    61.652 ms (frame_retrace_ms = 31.652)
PSF normalisation             3D, I/√(8π³σxy⁴σz²)         2D, I/(2πσxy²), z unnormalised
in-focus peak over bg 100     ≈ 49 counts                 ≈ 49 counts
============================  ==========================  ==================================

The paper's text gives the pixel-time formula but no timing constants; both presets use the
public code's 8 µs dwell and 1.348 ms retrace. The code's line period is one dwell shorter than
the text's formula, which :meth:`ScanConfig.paper_code` reproduces by a shorter retrace.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from bbbcore import _checks

_SQRT_8PI3 = math.sqrt(8.0 * math.pi ** 3)


@dataclass(frozen=True)
class ScanConfig:
    """Raster scan of a two-photon microscope.

    Pixel (r, c) of frame f is recorded at
    ``t = t0 + f·T_frame + r·T_line + k·dwell`` with ``T_line = cols·dwell + line_retrace``,
    ``T_frame = rows·T_line + frame_retrace`` and ``k = c`` (or ``cols−1−c`` on odd rows when
    ``bidirectional``; the line retrace is then the turn-around time).

    Args:
        frames, rows, cols: movie shape (T, R, C).
        pixel_size_um: pixel pitch [µm]; pixel (r, c) is centred at (y, x) = (r, c)·pixel_size_um.
        dwell_us: time per pixel [µs] (1/v of the paper).
        line_retrace_ms: time from a line's last pixel to the next line's first pixel [ms] (τ).
        frame_retrace_ms: extra time after a frame's last line [ms].
        bidirectional: scan odd rows right to left.
        t0_s: time of pixel (0, 0) of frame 0 [s].

    Convention:
        Axes are (frame, row, column) = (t, y, x); rows run along +y, columns along +x.
    """

    frames: int = 400
    rows: int = 20
    cols: int = 20
    pixel_size_um: float = 0.2
    dwell_us: float = 8.0
    line_retrace_ms: float = 1.348
    frame_retrace_ms: float = 33.0
    bidirectional: bool = False
    t0_s: float = 0.0

    def __post_init__(self):
        fn = "ScanConfig"
        for name in ("frames", "rows", "cols"):
            _checks.positive_int(fn, name, getattr(self, name))
        _checks.positive(fn, "pixel_size_um", self.pixel_size_um, "µm")
        _checks.positive(fn, "dwell_us", self.dwell_us, "µs")
        _checks.non_negative(fn, "line_retrace_ms", self.line_retrace_ms, "ms")
        _checks.non_negative(fn, "frame_retrace_ms", self.frame_retrace_ms, "ms")
        if not isinstance(self.bidirectional, bool):
            _checks.fail(fn, "bidirectional", "a bool", repr(self.bidirectional))
        if isinstance(self.t0_s, bool) or not isinstance(self.t0_s, (int, float)) or not math.isfinite(self.t0_s):
            _checks.fail(fn, "t0_s", "a finite number [s]", repr(self.t0_s))
        if self.frames * self.rows * (self.cols + 1) + self.frames >= 2**32:
            _checks.fail(fn, "frames·rows·(cols+1)", "< 2^32 (Philox counter range)",
                         self.frames * self.rows * (self.cols + 1))

    @property
    def dwell_s(self) -> float:
        return self.dwell_us * 1e-6

    @property
    def line_period_s(self) -> float:
        """T_line = cols·dwell + line_retrace [s]."""
        return self.cols * self.dwell_s + self.line_retrace_ms * 1e-3

    @property
    def frame_period_s(self) -> float:
        """T_frame = rows·T_line + frame_retrace [s]."""
        return self.rows * self.line_period_s + self.frame_retrace_ms * 1e-3

    @property
    def fov_um(self) -> tuple[float, float]:
        """(y, x) extent between the first and last pixel centres [µm]."""
        return ((self.rows - 1) * self.pixel_size_um, (self.cols - 1) * self.pixel_size_um)

    @classmethod
    def paper(cls, **kw) -> "ScanConfig":
        """The paper's text: 0.2 µm pixels, t_rc = t0 + (rC + c)/v + τr, 8 µs dwell, τ = 1.348 ms."""
        base = dict(frames=400, rows=20, cols=20, pixel_size_um=0.2, dwell_us=8.0,
                    line_retrace_ms=1.348, frame_retrace_ms=33.0)
        return cls(**{**base, **kw})

    @classmethod
    def paper_code(cls, **kw) -> "ScanConfig":
        """The public code: 0.15 µm pixels, line period (C−1)·dwell + 1.348 ms, frame period
        61.652 ms for 20×20 (here as line_retrace 1.340 ms and frame_retrace 31.652 ms)."""
        base = dict(frames=400, rows=20, cols=20, pixel_size_um=0.15, dwell_us=8.0,
                    line_retrace_ms=1.340, frame_retrace_ms=31.652)
        return cls(**{**base, **kw})


@dataclass(frozen=True)
class PSFConfig:
    """3D Gaussian PSF, jittered per movie.

    Args:
        sigma_xy_um, sigma_z_um: nominal lateral and axial SDs [µm].
        jitter_xy_um, jitter_z_um: SD of the per-movie normal jitter of each [µm]; a jittered
            value is clamped to at least a quarter of its nominal value.
        normalization: ``"3d"`` (paper eq. 1: I/√(8π³σxy⁴σz²)) or ``"2d"`` (public code:
            I/(2πσxy²), z attenuation unnormalised).
    """

    sigma_xy_um: float = 0.2
    sigma_z_um: float = 1.4
    jitter_xy_um: float = 0.05
    jitter_z_um: float = 0.2
    normalization: str = "3d"

    def __post_init__(self):
        fn = "PSFConfig"
        _checks.positive(fn, "sigma_xy_um", self.sigma_xy_um, "µm")
        _checks.positive(fn, "sigma_z_um", self.sigma_z_um, "µm")
        _checks.non_negative(fn, "jitter_xy_um", self.jitter_xy_um, "µm")
        _checks.non_negative(fn, "jitter_z_um", self.jitter_z_um, "µm")
        _checks.choice(fn, "normalization", self.normalization, ("3d", "2d"))

    def peak(self, brightness: float, sigma_xy_um, sigma_z_um):
        """Expected counts at the PSF centre for a particle of ``brightness`` (I_qd)."""
        if self.normalization == "3d":
            return brightness / (_SQRT_8PI3 * sigma_xy_um ** 2 * sigma_z_um)
        return brightness / (2.0 * math.pi * sigma_xy_um ** 2)

    @classmethod
    def paper(cls, **kw) -> "PSFConfig":
        """σxy = 0.2 µm, σz = 1.4 µm, jitter 0.05 / 0.2 µm, 3D normalisation (paper eq. 1)."""
        return cls(**{**dict(sigma_xy_um=0.2, sigma_z_um=1.4, jitter_xy_um=0.05, jitter_z_um=0.2,
                             normalization="3d"), **kw})

    @classmethod
    def paper_code(cls, **kw) -> "PSFConfig":
        """As :meth:`paper` with the public code's 2D normalisation."""
        return cls(**{**dict(sigma_xy_um=0.2, sigma_z_um=1.4, jitter_xy_um=0.05, jitter_z_um=0.2,
                             normalization="2d"), **kw})


# I_qd giving an in-focus peak of 49 counts at the nominal PSF (both normalisations)
_PEAK = 49.0
_BRIGHT_3D = _PEAK * _SQRT_8PI3 * 0.2 ** 2 * 1.4
_BRIGHT_2D = _PEAK * 2.0 * math.pi * 0.2 ** 2


@dataclass(frozen=True)
class NoiseConfig:
    """Fluorescence and detector model.

    Args:
        background: expected counts per pixel without particles (I_bg).
        brightness: particle intensity I_qd of eq. 1 (with the PSF's normalisation); the default
            gives an in-focus peak of ≈ 49 counts with the 3D normalisation.
        read_sigma: SD of the Gaussian noise added after Poisson sampling [counts]. The paper
            adds such noise without giving its SD; 2 counts is this package's default.
        shot: draw Poisson(I); ``False`` with ``read_sigma=0`` returns the expected intensity.
    """

    background: float = 100.0
    brightness: float = _BRIGHT_3D
    read_sigma: float = 2.0
    shot: bool = True

    def __post_init__(self):
        fn = "NoiseConfig"
        _checks.non_negative(fn, "background", self.background, "counts")
        _checks.non_negative(fn, "brightness", self.brightness)
        _checks.non_negative(fn, "read_sigma", self.read_sigma, "counts")
        if not isinstance(self.shot, bool):
            _checks.fail(fn, "shot", "a bool", repr(self.shot))

    @classmethod
    def paper(cls, **kw) -> "NoiseConfig":
        return cls(**{**dict(background=100.0, brightness=_BRIGHT_3D), **kw})

    @classmethod
    def paper_code(cls, **kw) -> "NoiseConfig":
        """Background 100, in-focus peak ≈ 49 counts with the 2D normalisation."""
        return cls(**{**dict(background=100.0, brightness=_BRIGHT_2D), **kw})

    @classmethod
    def expected(cls, **kw) -> "NoiseConfig":
        """No shot and no read noise: the movie is the expected intensity."""
        return cls(**{**dict(shot=False, read_sigma=0.0), **kw})
