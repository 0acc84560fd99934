"""Command line: ``bbbcore <command>`` (also ``python -m bbbcore``).

Commands:
    info                build and device information
    simulate-2pm        simulate two-photon movies: TIFF + ground truth (JSON/NPZ) + PNG montage
    train-dle           train the deep-learning diffusion estimator on movies simulated on the fly
    estimate-diffusion  D ± σ of a movie (TIFF/NPY) with a DLE, optional per-crop map (PNG)
    eval-diffusion      the paper's Table 1 protocol on a fresh simulated test set (JSON + PNG)
    augment             augmented copies of a volume (and its mask): TIFF + PNG preview
    transport           one drug crossing the BBB: time courses, Kp,uu, figures
    transport-panel     every library drug: Kp,uu predicted vs literature
    vessels             3D vessel segmentation (tUbe net): phantom, train, finetune, segment,
                        evaluate, analyze
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
from pathlib import Path

import numpy as np


def _refuse_existing(command: str, paths, overwrite: bool) -> None:
    """Raise before any work when an output file exists and --overwrite was not given."""
    existing = [str(p) for p in paths if p is not None and p.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{command}: {', '.join(existing)} exist(s); pass --overwrite to replace")


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
    _refuse_existing("simulate-2pm", targets, args.overwrite)

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
            fill = {"bleach_time_s": float("inf"), "trajectories_um": float("nan")}.get(key, 0.0)
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


def _train_parser(sub):
    p = sub.add_parser("train-dle", help="train a DLE on movies simulated on the fly",
                       description="Train the deep-learning estimator of Kirkegaard et al. (autoencoder "
                                   "pre-training, then the Gaussian-likelihood predictor) on movies "
                                   "simulated fresh for every step; save it with a JSON record.")
    p.add_argument("--out", required=True, type=Path, help="weights file to write (.pt; a .json beside it)")
    p.add_argument("--task", choices=("low", "high"), default="low",
                   help="D ~ U(0, 1.5) (low) or U(0, 50) µm²/s (high)")
    p.add_argument("--preset", choices=("paper", "small"), default="small",
                   help="network size: the paper's (~56 M params, GPU) or small (~0.5 M, CPU)")
    p.add_argument("--scan", choices=("paper", "paper_code"), default="paper", help="simulator constants")
    p.add_argument("--steps", type=int, default=25_000, help="predictor steps (paper 25,000)")
    p.add_argument("--batch-size", type=int, default=50, help="movies per step (paper 50)")
    p.add_argument("--pretrain-steps", type=int,
                   help="autoencoder steps (default: 5,000 as the paper; 0 with --init-from)")
    p.add_argument("--pretrain-batch-size", type=int, default=512, help="frames per AE step (paper 512)")
    p.add_argument("--frames", type=int, default=400, help="frames per training movie (paper 400)")
    p.add_argument("--lr", type=float, default=0.01, help="predictor learning rate (paper 0.01)")
    p.add_argument("--warmup-steps", type=int,
                   help="linear warm-up steps of either phase (default min(500, steps // 10))")
    p.add_argument("--freeze-encoder", action=argparse.BooleanOptionalAction, default=None,
                   help="keep the encoder fixed while the predictor trains (default: on after "
                        "pre-training, off otherwise, e.g. with --init-from)")
    p.add_argument("--val-size", type=int, default=200, help="fixed validation movies")
    p.add_argument("--val-every", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="cpu, cuda or auto")
    p.add_argument("--amp", choices=("bf16", "fp16"), help="mixed precision (CUDA only)")
    p.add_argument("--checkpoint", type=Path, help="training checkpoint (written periodically)")
    p.add_argument("--checkpoint-every", type=int, default=1_000, help="steps between checkpoints")
    p.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("--init-from", metavar="MODEL",
                   help="fine-tune this model ('low', 'high' or a .pt path) instead of random weights; "
                        "its network replaces --preset")
    return p


def _cmd_train(args) -> int:
    import bbbcore
    from bbbcore.diffusion import DLEConfig, save_dle, train_dle
    from bbbcore.twophoton import NoiseConfig, PSFConfig, ScanConfig

    if args.out.suffix != ".pt":
        raise ValueError(f"train-dle: --out must end in .pt, got {str(args.out)!r}")
    _refuse_existing("train-dle", (args.out, args.out.with_suffix(".json")), args.overwrite)
    device = ("cuda" if bbbcore.has_cuda() else "cpu") if args.device == "auto" else args.device
    config = None if args.init_from else DLEConfig.for_task(args.task, args.preset)
    model, history = train_dle(
        config, task=args.task, steps=args.steps, batch_size=args.batch_size,
        pretrain_steps=args.pretrain_steps, pretrain_batch_size=args.pretrain_batch_size,
        frames=args.frames, lr=args.lr, warmup_steps=args.warmup_steps,
        freeze_encoder=args.freeze_encoder, scan=getattr(ScanConfig, args.scan)(),
        psf=getattr(PSFConfig, args.scan)(), noise=getattr(NoiseConfig, args.scan)(),
        seed=args.seed, device=device, amp=args.amp, val_size=args.val_size,
        val_every=args.val_every, checkpoint_path=args.checkpoint, checkpoint_every=args.checkpoint_every,
        resume=args.resume,
        overwrite=args.overwrite, init_from=args.init_from)
    if history.get("rank", 0) != 0:
        return 0
    meta = dict(model.metadata)
    meta["command"] = "bbbcore " + shlex.join(args.argv)
    meta["preset"] = meta.get("init_from", {}).get("metadata", {}).get("preset", "custom") \
        if args.init_from else args.preset
    save_dle(args.out, model, model.config, meta, overwrite=args.overwrite)
    last = {k: history[k][-1] for k in ("val_l1_um2_s", "val_nll", "val_coverage_1sigma") if history.get(k)}
    print(f"trained {args.task}-D {meta['preset']} DLE for {args.steps} steps on {device}: "
          + ", ".join(f"{k} {v:.4g}" for k, v in last.items()))
    print(f"  {args.out}\n  {args.out.with_suffix('.json')}")
    return 0


def _estimate_parser(sub):
    p = sub.add_parser("estimate-diffusion", help="D ± σ of a two-photon movie with a DLE",
                       description="Estimate the diffusion coefficient of the particles in a (T, Y, X) "
                                   "movie (TIFF or .npy) with the deep-learning estimator: crops of the "
                                   "model's frame size, combined by inverse variance.")
    p.add_argument("movie", type=Path, help="movie file: .tif/.tiff or .npy, shape (T, Y, X)")
    p.add_argument("--model", default="low", help="'low', 'high' (shipped weights) or a .pt path")
    p.add_argument("--pixel-size-um", type=float, required=True, help="pixel size [µm]")
    p.add_argument("--dwell-us", type=float, required=True, help="pixel dwell time [µs]")
    p.add_argument("--line-retrace-ms", type=float, required=True, help="line retrace [ms]")
    p.add_argument("--frame-retrace-ms", type=float, default=0.0, help="frame retrace [ms]")
    p.add_argument("--bidirectional", action="store_true")
    p.add_argument("--stride", type=int, help="crop stride [px] (default: half the crop)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--strict-scan", action="store_true",
                   help="refuse (instead of warn) when the scan timing differs from the model's")
    p.add_argument("--map", type=Path, help="write the per-crop map as PNG")
    p.add_argument("--json", type=Path, help="write the result as JSON")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    return p


def _cmd_estimate(args) -> int:
    from bbbcore import io
    from bbbcore.diffusion import estimate_diffusion, plot_crop_map
    from bbbcore.twophoton import ScanConfig

    if not args.movie.exists():
        raise FileNotFoundError(f"estimate-diffusion: movie {args.movie} does not exist")
    movie = np.load(args.movie) if args.movie.suffix == ".npy" else io.read_tiff(args.movie)
    if movie.ndim != 3:
        raise ValueError(f"estimate-diffusion: movie must be (T, Y, X), got shape {movie.shape} "
                         "(for a QTYX stack from simulate-2pm, save one movie)")
    scan = ScanConfig(frames=movie.shape[0], rows=movie.shape[1], cols=movie.shape[2],
                      pixel_size_um=args.pixel_size_um, dwell_us=args.dwell_us,
                      line_retrace_ms=args.line_retrace_ms, frame_retrace_ms=args.frame_retrace_ms,
                      bidirectional=args.bidirectional)
    _refuse_existing("estimate-diffusion", (args.map, args.json), args.overwrite)
    res = estimate_diffusion(movie, scan, model=args.model, stride=args.stride,
                             return_map=args.map is not None or args.json is not None,
                             device=args.device, on_scan_mismatch="raise" if args.strict_scan else "warn")
    print(f"D = {res.d_um2_s:.4g} ± {res.sigma_um2_s:.2g} µm²/s "
          f"({res.n_crops} crops; ± {res.sigma_conservative_um2_s:.2g} allowing for their overlap)")
    if args.map is not None:
        plot_crop_map(res, args.map, overwrite=args.overwrite, title=str(args.movie.name))
        print(f"  {args.map}")
    if args.json is not None:
        io.write_json(args.json, {"movie": str(args.movie), "d_um2_s": res.d_um2_s,
                                  "sigma_um2_s": res.sigma_um2_s,
                                  "sigma_conservative_um2_s": res.sigma_conservative_um2_s,
                                  "n_crops": res.n_crops, "crop": res.crop, "stride": res.stride,
                                  "crop_map": res.crop_map, "origins": res.origins,
                                  "model": args.model}, overwrite=args.overwrite)
        print(f"  {args.json}")
    return 0


def _eval_parser(sub):
    p = sub.add_parser("eval-diffusion", help="Table 1 protocol: mean guess, trackpy, CVE and DLE",
                       description="Evaluate diffusion estimators on a fresh simulated test set as in "
                                   "the paper's Table 1 (L1, L2, NLL on all movies and the best 50%% by "
                                   "each method's own error; bias, slope, coverage) and plot L1 against "
                                   "the number of visible transitions (Fig. 3A).")
    p.add_argument("--out", required=True, type=Path, help="folder for the JSON and PNG")
    p.add_argument("--task", choices=("low", "high"), default="low")
    p.add_argument("--movies", type=int, default=2000, help="test movies (paper table: >= 2,000)")
    p.add_argument("--methods", default="mean,trackpy,cve,dle",
                   help="comma-separated subset of mean, trackpy, cve, dle")
    p.add_argument("--model", default=None, help="DLE: 'low', 'high' or a .pt path (default: the task)")
    p.add_argument("--preset", choices=("paper", "paper_code"), default="paper",
                   help="scan, PSF and noise constants of the simulated test set")
    p.add_argument("--frames", type=int, default=400)
    p.add_argument("--tune-movies", type=int, default=16, help="trackpy calibration movies")
    p.add_argument("--tune-max-candidates", type=int, help="random search over the trackpy grid")
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("--device", default="cpu")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    return p


def _cmd_eval(args) -> int:
    from bbbcore.diffusion.evaluate import run_evaluation
    from bbbcore.twophoton import NoiseConfig, PSFConfig, ScanConfig

    if not args.out.is_dir():
        raise FileNotFoundError(f"eval-diffusion: --out folder {args.out} does not exist")
    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    run_evaluation(args.task, args.movies, methods, args.model or args.task,
                   tune_movies=args.tune_movies, tune_max_candidates=args.tune_max_candidates,
                   seed=args.seed, device=args.device, out_dir=args.out, overwrite=args.overwrite,
                   scan=getattr(ScanConfig, args.preset)(frames=args.frames),
                   psf=getattr(PSFConfig, args.preset)(), noise=getattr(NoiseConfig, args.preset)())
    return 0


def _augment_parser(sub):
    p = sub.add_parser("augment", help="augmented copies of a 3D volume (heavy augs, tUbe net)",
                       description="Write N augmented copies of a (Z, Y, X) or (C, Z, Y, X) volume "
                                   "(TIFF or .npy) as one TIFF (axes QCZYX), with the mask's copies and "
                                   "a PNG preview of central slices.")
    p.add_argument("volume", type=Path, help="volume file: .tif/.tiff or .npy")
    p.add_argument("--out", type=Path, required=True, help="output TIFF (N, C, Z, Y, X) float32")
    p.add_argument("--preset", choices=("heavy-augs", "tubenet"), default="heavy-augs")
    p.add_argument("--shape", type=int, nargs=3, metavar=("Z", "Y", "X"),
                   help="output shape (default: the input's)")
    p.add_argument("--n", type=int, default=8, help="number of copies")
    p.add_argument("--mask", type=Path, help="label volume of the same spatial shape (TIFF/.npy)")
    p.add_argument("--spacing", type=float, nargs=3, metavar=("DZ", "DY", "DX"),
                   help="voxel spacing for anisotropic stacks (any unit)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    return p


def _cmd_augment(args) -> int:
    import torch

    from bbbcore import augment as A
    from bbbcore import io
    from bbbcore._checks import as_device
    from bbbcore.augment.plot import save_preview

    def load(path, what):
        if not path.exists():
            raise FileNotFoundError(f"augment: {what} {path} does not exist")
        return np.load(path) if path.suffix == ".npy" else io.read_tiff(path)

    vol = load(args.volume, "volume")
    if vol.ndim not in (3, 4):
        raise ValueError(f"augment: volume must be (Z, Y, X) or (C, Z, Y, X), got shape {vol.shape}")
    if args.n < 1:
        raise ValueError(f"augment: --n must be ≥ 1, got {args.n}")
    x = vol if vol.ndim == 4 else vol[None]
    if x.dtype not in (np.float32, np.uint8, np.uint16):
        x = x.astype(np.float32)
    mask = None
    if args.mask is not None:
        mask = load(args.mask, "mask")
        mask = mask if mask.ndim == 4 else mask[None]
        if mask.shape[1:] != x.shape[1:]:
            raise ValueError(f"augment: mask must have the volume's spatial shape {x.shape[1:]}, "
                             f"got {mask.shape[1:]}")
    shape = tuple(args.shape) if args.shape else tuple(x.shape[1:])
    out_mask = args.out.with_name(args.out.stem + ".mask" + args.out.suffix) if mask is not None else None
    preview = args.out.with_suffix(".png")
    _refuse_existing("augment", (args.out, out_mask, preview), args.overwrite)
    make = A.presets.heavy_augs if args.preset == "heavy-augs" else A.presets.tubenet
    aug = make(shape, seed=args.seed, spacing=args.spacing)
    dev = as_device("augment", args.device)
    xb = torch.from_numpy(np.ascontiguousarray(x))[None].expand(args.n, -1, -1, -1, -1).contiguous().to(dev)
    if mask is None:
        y, m = aug.batch(xb), None
    else:
        mt = torch.from_numpy(np.ascontiguousarray(mask.astype(np.int32) if mask.dtype not in
                                                   (np.uint8, np.int32, np.int64, np.float32) else mask))
        y, m = aug.batch(xb, mt[None].expand(args.n, -1, -1, -1, -1).contiguous().to(dev))
    md = {"preset": args.preset, "seed": args.seed, "source": str(args.volume)}
    io.write_tiff(args.out, y, axes="QCZYX", overwrite=args.overwrite, metadata=md)
    print(f"{args.n} copies {tuple(y.shape[1:])} → {args.out}")
    if m is not None:
        io.write_tiff(out_mask, m, axes="QCZYX", overwrite=args.overwrite, metadata=md)
        print(f"  masks → {out_mask}")
    save_preview(preview, x.astype(np.float32), y, overwrite=args.overwrite,
                 title=f"{args.volume.name}: {args.preset}, seed {args.seed}")
    print(f"  preview → {preview}")
    return 0


def _transport_common(p):
    p.add_argument("--geometry", choices=("krogh", "slab", "lattice"), default="krogh",
                   help="Krogh cylinder (3 µm capillary, 20 µm tissue radius), layered slab, or a "
                        "40 µm capillary lattice cell")
    p.add_argument("--voxel-size-um", type=float, default=1.0)
    p.add_argument("--hours", type=float, default=2.0, help="simulated time [h]")
    p.add_argument("--plasma", choices=("constant", "bolus", "infusion"), default="constant",
                   help="plasma curve (total concentration)")
    p.add_argument("--plasma-um", type=float, default=1.0, help="plasma level [µM] (bolus: at t = 0)")
    p.add_argument("--half-life-min", type=float, default=60.0, help="plasma elimination half-life "
                   "(bolus, infusion) [min]")
    p.add_argument("--stepper", choices=("adi", "explicit"), default="adi")
    p.add_argument("--dt-s", type=float, help="time step [s] (default ADI: min(0.5 s, t_end/1000); "
                   "explicit: 0.9 of the stability limit)")
    p.add_argument("--theta", type=float, default=1.0, help="ADI weight in [0.5, 1]")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                   help="precision of the fields and steps (float64: mass conserved to rounding)")
    p.add_argument("--drug-file", type=Path, help="TOML drug library to use instead of the packaged one")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", type=Path, required=True, help="output folder (created if missing)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")


def _transport_parser(sub):
    p = sub.add_parser("transport", help="simulate one drug crossing the BBB",
                       description="Finite-volume BBB transport of one drug from the drug library in a "
                                   "standard geometry; writes the time courses (CSV), a JSON summary "
                                   "(Kp,uu, AUC, half-time, parameters and sources) and figures.")
    p.add_argument("--drug", required=True, help="drug name (bbbcore transport-panel lists them)")
    _transport_common(p)
    return p


def _transport_kwargs(args):
    if not args.out.exists():
        args.out.mkdir(parents=True)
    return dict(geometry=args.geometry, hours=args.hours, voxel_size_um=args.voxel_size_um, plasma=args.plasma,
                plasma_um=args.plasma_um, half_life_min=args.half_life_min, stepper=args.stepper,
                dt_s=args.dt_s, theta=args.theta, device=args.device, dtype=args.dtype, library=args.drug_file,
                progress=True)


def _cmd_transport(args) -> int:
    from bbbcore.transport import study

    from bbbcore.transport import drugs

    drug = drugs.get(args.drug, library=args.drug_file)   # an unknown drug fails before any folder is made
    kw = _transport_kwargs(args)
    study.run_paths(args.out, drug.name, overwrite=args.overwrite)   # refuse before the work, not after
    sim, res = study.simulate_drug(drug, **kw)
    s = study.write_run(sim, res, args.out, overwrite=args.overwrite)
    ref = s["kp_uu_reference"]
    print(f"{s['drug']}: Kp,uu {s['kp_uu_end']:.3g} after {args.hours:g} h "
          f"(linear steady state {s['kp_uu_linear_steady_state']:.3g}"
          + (f", literature {ref:g} in {s['kp_uu_species']}" if ref is not None else "") + ")")
    for k in ("csv", "json", "timecourse", "slice", "mip"):
        print(f"  {s['files'][k]}")
    return 0


def _panel_parser(sub):
    p = sub.add_parser("transport-panel", help="every library drug: Kp,uu predicted vs literature",
                       description="Run every drug of the library with the same settings; writes a "
                                   "table of Kp,uu (end of run, linear steady state, literature), the "
                                   "time courses of all drugs in one figure, and L-DOPA vs dopamine.")
    p.add_argument("--drugs", help="comma-separated subset (default: the whole library)")
    _transport_common(p)
    return p


def _cmd_panel(args) -> int:
    from bbbcore.transport import study

    kw = _transport_kwargs(args)
    names = [n.strip() for n in args.drugs.split(",")] if args.drugs else None
    study.panel(names, out_dir=args.out, overwrite=args.overwrite, **kw)
    print((args.out / "panel.md").read_text())
    for f in ("panel.csv", "panel_timecourses.png", "ldopa_vs_dopamine.png"):
        if (args.out / f).exists():
            print(f"  {args.out / f}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bbbcore", description="bbbcore: imaging and modelling of "
                                     "the brain microvasculature and the blood-brain barrier")
    sub = parser.add_subparsers(dest="command", required=True)
    pi = sub.add_parser("info", help="build and device information")
    pi.add_argument("--json", action="store_true", help="print JSON")
    pi.set_defaults(func=_cmd_info)
    _simulate_parser(sub).set_defaults(func=_cmd_simulate)
    _train_parser(sub).set_defaults(func=_cmd_train)
    _estimate_parser(sub).set_defaults(func=_cmd_estimate)
    _eval_parser(sub).set_defaults(func=_cmd_eval)
    _augment_parser(sub).set_defaults(func=_cmd_augment)
    _transport_parser(sub).set_defaults(func=_cmd_transport)
    _panel_parser(sub).set_defaults(func=_cmd_panel)
    from bbbcore.vessels.cli import add_parser as _vessels_parser

    _vessels_parser(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.argv = argv
    try:
        return args.func(args)
    except (ValueError, FileExistsError, FileNotFoundError) as e:
        print(f"bbbcore: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
