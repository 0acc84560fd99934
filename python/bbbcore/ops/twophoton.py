"""``bbbcore::simulate_2pm``: fused random walk + pixel-timed PSF rendering + detector noise.

The op takes every per-movie and per-particle quantity explicitly (drawn by
:func:`bbbcore.twophoton.simulate_movies`), so it is a pure function of its inputs and the seed.
Native kernels: ``csrc/twophoton/simulate_{cpu.cpp,cuda.cu}`` over the shared maths in
``csrc/include/bbbcore/twophoton/movie.h``.
"""
from __future__ import annotations

import torch

from bbbcore import _checks
from bbbcore._native import _C, check_device, on_device, stream_ptr

BOUNDARIES = {"free": 0, "periodic": 1, "reflecting": 2}


def _inputs(pos0_um, n_particles, diffusivity_um2_s, drift_um_s, sigma_um, amplitude, bleach_s):
    """Check dtypes, shapes and devices of the raw op's tensors; return them contiguous."""
    fn = "simulate_2pm"
    check_device(fn, pos0_um)
    if pos0_um.dim() != 3:
        _checks.fail(fn, "pos0_um", "of shape (B, N, 3)", tuple(pos0_um.shape))
    B, N = pos0_um.shape[0], pos0_um.shape[1]
    dev = pos0_um.device
    spec = (("pos0_um", pos0_um, torch.float32, (B, N, 3)),
            ("n_particles", n_particles, torch.int32, (B,)),
            ("diffusivity_um2_s", diffusivity_um2_s, torch.float32, (B, 3)),
            ("drift_um_s", drift_um_s, torch.float32, (B, 3)),
            ("sigma_um", sigma_um, torch.float32, (B, 2)),
            ("amplitude", amplitude, torch.float32, (B, N)),
            ("bleach_s", bleach_s, torch.float64, (B, N)))
    return tuple(_checks.tensor(fn, name, t, dtype=dt, shape=shape, device=dev) for name, t, dt, shape in spec)


def _params(pos0, frames, rows, cols, pixel_size_um, dwell_s, line_retrace_s, frame_retrace_s,
            bidirectional, box_um, boundary, background, read_sigma, shot_noise, render_tol, seed,
            movie_offset):
    return _C.sim2pm_params(
        batch=pos0.shape[0], n_max=pos0.shape[1], frames=frames, rows=rows, cols=cols,
        dwell_s=dwell_s, line_retrace_s=line_retrace_s, frame_retrace_s=frame_retrace_s,
        bidirectional=bidirectional, pixel_size_um=pixel_size_um, box_um=list(box_um),
        boundary=boundary, background=background, read_sigma=read_sigma, shot_noise=shot_noise,
        render_tol=render_tol, seed=seed, movie_offset=movie_offset)


def _outputs(pos0, frames, rows, cols, return_trajectories):
    B, N = pos0.shape[0], pos0.shape[1]
    movies = torch.empty((B, frames, rows, cols), dtype=torch.float32, device=pos0.device)
    shape = (B, N, frames, 3) if return_trajectories else (0,)
    traj = torch.empty(shape, dtype=torch.float32, device=pos0.device)
    return movies, traj


def _launch(a: dict, cuda: bool):
    """Validate the op's arguments ``a`` (by name), allocate the outputs and run one launcher."""
    tensors = _inputs(a["pos0_um"], a["n_particles"], a["diffusivity_um2_s"], a["drift_um_s"],
                      a["sigma_um"], a["amplitude"], a["bleach_s"])
    pos0 = tensors[0]
    P = _params(pos0, a["frames"], a["rows"], a["cols"], a["pixel_size_um"], a["dwell_s"],
                a["line_retrace_s"], a["frame_retrace_s"], a["bidirectional"], a["box_um"],
                a["boundary"], a["background"], a["read_sigma"], a["shot_noise"], a["render_tol"],
                a["seed"], a["movie_offset"])
    movies, traj = _outputs(pos0, a["frames"], a["rows"], a["cols"], a["return_trajectories"])
    ptrs = [t.data_ptr() for t in tensors] + [movies.data_ptr(),
                                              traj.data_ptr() if a["return_trajectories"] else 0]
    if cuda:
        with on_device(pos0.device):
            _C.simulate_2pm_cuda(P, *ptrs, stream_ptr(pos0.device))
    else:
        _C.simulate_2pm_cpu(P, *ptrs)
    return movies, traj


@torch.library.custom_op("bbbcore::simulate_2pm", mutates_args=(), device_types="cpu")
def simulate_2pm(pos0_um: torch.Tensor, n_particles: torch.Tensor, diffusivity_um2_s: torch.Tensor,
                 drift_um_s: torch.Tensor, sigma_um: torch.Tensor, amplitude: torch.Tensor,
                 bleach_s: torch.Tensor, frames: int, rows: int, cols: int, pixel_size_um: float,
                 dwell_s: float, line_retrace_s: float, frame_retrace_s: float, bidirectional: bool,
                 box_um: list[float], boundary: int, background: float, read_sigma: float,
                 shot_noise: bool, render_tol: float, seed: int, movie_offset: int,
                 return_trajectories: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw op; inputs are validated by :func:`bbbcore.twophoton.simulate_movies`.

    Shapes: pos0_um float32 [B, N, 3]; n_particles int32 [B]; diffusivity_um2_s, drift_um_s
    float32 [B, 3]; sigma_um float32 [B, 2] (sigma_xy, sigma_z); amplitude float32 [B, N];
    bleach_s float64 [B, N]. Returns movies float32 [B, T, R, C] and trajectories float32
    [B, N, T, 3] (shape (0,) when not requested).
    """
    return _launch(locals(), cuda=False)


@simulate_2pm.register_kernel("cuda")
def _simulate_2pm_cuda(pos0_um, n_particles, diffusivity_um2_s, drift_um_s, sigma_um, amplitude,
                       bleach_s, frames, rows, cols, pixel_size_um, dwell_s, line_retrace_s,
                       frame_retrace_s, bidirectional, box_um, boundary, background, read_sigma,
                       shot_noise, render_tol, seed, movie_offset, return_trajectories):
    return _launch(locals(), cuda=True)


@simulate_2pm.register_fake
def _(pos0_um, n_particles, diffusivity_um2_s, drift_um_s, sigma_um, amplitude, bleach_s, frames,
      rows, cols, pixel_size_um, dwell_s, line_retrace_s, frame_retrace_s, bidirectional, box_um,
      boundary, background, read_sigma, shot_noise, render_tol, seed, movie_offset,
      return_trajectories):
    return _outputs(pos0_um, frames, rows, cols, return_trajectories)
