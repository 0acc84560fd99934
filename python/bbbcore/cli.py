"""Command line: ``bbbcore <command>`` (also ``python -m bbbcore``).

Commands:
    info            build and device information
    simulate-2pm    simulate two-photon movies: TIFF + ground truth (JSON/NPZ) + PNG montage
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path


def _cmd_info(args) -> int:
    import platform

    import torch

    import bbbcore

    info = bbbcore.build_info()
    info.update(python=platform.python_version(), torch=torch.__version__,
                torch_cuda=torch.version.cuda, has_cuda=bbbcore.has_cuda(),
                torch_threads=torch.get_num_threads())
    if bbbcore.has_cuda():
        info["devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        width = max(len(k) for k in info)
        for k, v in info.items():
            print(f"{k:<{width}}  {v}")
    return 0


def _simulate_parser(sub):
    p = sub.add_parser("simulate-2pm", help="simulate two-photon movies of diffusing particles",
                       description="Simulate B two-photon movies (pixel-timed raster scan, 3D Gaussian "
                                   "PSF, Poisson + read noise) and write them as a TIFF stack (Q, T, Y, X), "
                                   "the ground truth beside it (.truth.json, .truth.npz) and a PNG montage.")
    p.add_argument("--out", required=True, type=Path, help="output TIFF path (e.g. movies.tif)")
    p.add_argument("--batch", type=int, default=8, help="number of movies (default 8)")
    p.add_argument("--diffusivity", type=float, nargs="+", default=[0.5], metavar="D",
                   help="D [µm²/s]: one value for all movies, or 'lo hi' to draw each movie's D "
                        "uniformly from [lo, hi] (default 0.5)")
    p.add_argument("--preset", choices=("paper", "paper_code"), default="paper",
                   help="scan/PSF/noise constants of the paper's text or its public code")
    p.add_argument("--frames", type=int, help="frames per movie (preset: 400)")
    p.add_argument("--rows", type=int, help="rows (preset: 20)")
    p.add_argument("--cols", type=int, help="columns (preset: 20)")
    p.add_argument("--pixel-size-um", type=float, help="pixel size [µm]")
    p.add_argument("--dwell-us", type=float, help="pixel dwell time [µs]")
    p.add_argument("--line-retrace-ms", type=float, help="line retrace [ms]")
    p.add_argument("--frame-retrace-ms", type=float, help="frame retrace [ms]")
    p.add_argument("--bidirectional", action="store_true", help="scan odd rows right to left")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--n-particles", type=int, help="particles per movie")
    g.add_argument("--density", type=float, help="particles per µm³ (default 0.05)")
    p.add_argument("--boundary", choices=("periodic", "reflecting", "free"), default="periodic")
    p.add_argument("--background", type=float, help="background counts per pixel")
    p.add_argument("--brightness", type=float, help="particle brightness I_qd")
    p.add_argument("--read-sigma", type=float, help="Gaussian read noise SD [counts]")
    p.add_argument("--no-shot", action="store_true", help="no Poisson shot noise")
    p.add_argument("--drift-um-s", type=float, nargs=3, metavar=("VZ", "VY", "VX"), help="drift [µm/s]")
    p.add_argument("--brightness-cv", type=float, default=0.0, help="per-particle brightness CV")
    p.add_argument("--bleach-rate", type=float, default=0.0, help="photobleaching rate [1/s]")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (cuda when available)")
    p.add_argument("--chunk", type=int, default=64, help="movies per kernel call (progress bar step)")
    p.add_argument("--trajectories", action="store_true",
                   help="also save each particle's position at every frame in the .truth.npz")
    p.add_argument("--no-montage", action="store_true", help="do not write the PNG montage")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    return p


def _cmd_simulate(args) -> int:
    import numpy as np
    import torch
    from tqdm.auto import tqdm

    import bbbcore
    from bbbcore import io
    from bbbcore.twophoton import NoiseConfig, PSFConfig, ScanConfig, simulate_movies

    out = args.out
    if out.suffix.lower() not in (".tif", ".tiff"):
        raise ValueError(f"simulate-2pm: --out must end in .tif or .tiff, got {str(out)!r}")
    stem = out.with_suffix("")
    targets = [out, Path(f"{stem}.truth.json"), Path(f"{stem}.truth.npz")]
    if not args.no_montage:
        targets.append(Path(f"{stem}.png"))
    existing = [str(t) for t in targets if t.exists()]
    if existing and not args.overwrite:
        raise FileExistsError(f"simulate-2pm: {', '.join(existing)} exist(s); pass --overwrite to replace")

    preset = args.preset
    over = {k: v for k, v in dict(frames=args.frames, rows=args.rows, cols=args.cols,
                                  pixel_size_um=args.pixel_size_um, dwell_us=args.dwell_us,
                                  line_retrace_ms=args.line_retrace_ms,
                                  frame_retrace_ms=args.frame_retrace_ms).items() if v is not None}
    scan = getattr(ScanConfig, preset)(bidirectional=args.bidirectional, **over)
    psf = getattr(PSFConfig, preset)()
    nover = {k: v for k, v in dict(background=args.background, brightness=args.brightness,
                                   read_sigma=args.read_sigma).items() if v is not None}
    if args.no_shot:
        nover["shot"] = False
    noise = getattr(NoiseConfig, preset)(**nover)

    device = ("cuda" if bbbcore.has_cuda() else "cpu") if args.device == "auto" else args.device
    B = args.batch
    if B < 1:
        raise ValueError(f"simulate-2pm: --batch must be an integer >= 1, got {B}")
    if args.chunk < 1:
        raise ValueError(f"simulate-2pm: --chunk must be an integer >= 1, got {args.chunk}")
    if len(args.diffusivity) == 1:
        D = np.full(B, args.diffusivity[0])
    elif len(args.diffusivity) == 2:
        lo, hi = args.diffusivity
        if not 0 <= lo <= hi:
            raise ValueError(f"simulate-2pm: --diffusivity lo hi must satisfy 0 <= lo <= hi, got {lo} {hi}")
        D = lo + (hi - lo) * np.random.default_rng(args.seed).random(B)
    else:
        raise ValueError(f"simulate-2pm: --diffusivity must be one value or 'lo hi', got {args.diffusivity}")

    movies, truths = [], []
    with tqdm(total=B, desc="simulate-2pm", unit="movie", disable=None) as bar:
        for start in range(0, B, args.chunk):
            n = min(args.chunk, B - start)
            m, t = simulate_movies(
                n, D[start:start + n], scan=scan, psf=psf, noise=noise,
                n_particles=args.n_particles, density_per_um3=args.density,
                boundary=args.boundary, drift_um_s=args.drift_um_s or 0.0,
                brightness_cv=args.brightness_cv, bleach_rate_per_s=args.bleach_rate,
                seed=args.seed, device=device, return_trajectories=args.trajectories,
                movie_offset=start)
            movies.append(m.cpu())
            truths.append(t)
            bar.update(n)
    movie = torch.cat(movies)

    def cat(key):
        parts = [t[key].cpu() for t in truths]
        if parts[0].dim() >= 2:  # (B, N, ...) padded per chunk
            n_max = max(p.shape[1] for p in parts)
            fill = float("inf") if key == "bleach_time_s" else 0.0
            parts = [torch.nn.functional.pad(p.movedim(1, -1), (0, n_max - p.shape[1]), value=fill).movedim(-1, 1)
                     for p in parts]
        return torch.cat(parts)

    config = {"scan": dataclasses.asdict(scan), "psf": dataclasses.asdict(psf),
              "noise": dataclasses.asdict(noise), "preset": preset, "boundary": args.boundary,
              "box_um": truths[0]["box_um"], "seed": args.seed, "device": device,
              "density_per_um3": args.density, "drift_um_s": args.drift_um_s,
              "brightness_cv": args.brightness_cv, "bleach_rate_per_s": args.bleach_rate,
              "bbbcore": bbbcore.build_info()["version"]}
    io.write_tiff(out, movie, axes="QTYX", overwrite=args.overwrite,
                  metadata={"pixel_size_um": scan.pixel_size_um, "frame_period_s": scan.frame_period_s})
    per_movie = {k: cat(k) for k in ("diffusivity_um2_s", "n_particles", "sigma_xy_um", "sigma_z_um")}
    io.write_json(targets[1], {"config": config, "movies": B,
                               "frame_period_s": scan.frame_period_s,
                               "pixel_size_um": scan.pixel_size_um, **per_movie},
                  overwrite=args.overwrite)
    arrays = {k: cat(k) for k in ("diffusivity_um2_s", "n_particles", "sigma_xy_um", "sigma_z_um",
                                  "brightness", "bleach_time_s", "positions0_um")}
    if args.trajectories:
        arrays["trajectories_um"] = cat("trajectories_um")
    io.write_npz(targets[2], overwrite=args.overwrite, **arrays)
    written = [out, targets[1], targets[2]]
    if not args.no_montage:
        io.save_montage(targets[3], movie[0], overwrite=args.overwrite, pixel_size_um=scan.pixel_size_um,
                        title=f"movie 0: D = {float(D[0]):.3g} µm²/s, "
                              f"{int(per_movie['n_particles'][0])} particles")
        written.append(targets[3])
    print(f"simulated {B} movies of {scan.frames}×{scan.rows}×{scan.cols} on {device}; wrote:")
    for w in written:
        print(f"  {w}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bbbcore", description="bbbcore: imaging and modelling of "
                                     "the brain microvasculature and the blood-brain barrier")
    sub = parser.add_subparsers(dest="command", required=True)
    pi = sub.add_parser("info", help="build and device information")
    pi.add_argument("--json", action="store_true", help="print JSON")
    pi.set_defaults(func=_cmd_info)
    _simulate_parser(sub).set_defaults(func=_cmd_simulate)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileExistsError, FileNotFoundError) as e:
        print(f"bbbcore: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
