"""``bbbcore vessels <command>``: phantom, train, finetune, segment, evaluate, analyze.

Every command checks its outputs before any work and refuses to replace existing files without
``--overwrite``; inputs are TIFF, ``.npy`` or Zarr (read lazily).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def _refuse(command: str, paths, overwrite: bool) -> None:
    from bbbcore.cli import _refuse_existing

    _refuse_existing(f"bbbcore vessels {command}", [None if p is None else Path(p) for p in paths], overwrite)


def _triple(text: str) -> tuple:
    parts = [p for p in text.replace("x", ",").split(",") if p]
    vals = [float(p) for p in parts]
    if len(vals) == 1:
        vals = vals * 3
    if len(vals) != 3:
        raise argparse.ArgumentTypeError(f"expected one value or three (Z,Y,X), got {text!r}")
    return tuple(vals)


def _itriple(text: str) -> tuple:
    vals = _triple(text)
    if any(v != int(v) or v < 1 for v in vals):
        raise argparse.ArgumentTypeError(f"expected positive integers (Z,Y,X), got {text!r}")
    return tuple(int(v) for v in vals)


def _region(text: str):
    """"z0:z1,y0:y1,x0:x1" → a tuple of slices."""
    try:
        parts = [p.split(":") for p in text.split(",")]
        if len(parts) != 3 or any(len(p) != 2 for p in parts):
            raise ValueError
        return tuple(slice(int(a) if a else None, int(b) if b else None) for a, b in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected z0:z1,y0:y1,x0:x1, got {text!r}") from None


def _write_volume(path: Path, data, *, overwrite: bool) -> Path:
    """Write a volume by suffix: .tif/.tiff (tifffile), .npy, .zarr."""
    suffix = path.suffix.lower()
    if suffix in (".tif", ".tiff"):
        from bbbcore.io import write_tiff
        return write_tiff(path, data, axes="ZYX", overwrite=overwrite)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass --overwrite to replace it")
    if suffix == ".npy":
        np.save(path, data)
        return path
    if suffix == ".zarr":
        import shutil

        import zarr
        if path.exists():
            shutil.rmtree(path)
        z = zarr.open_array(str(path), mode="w", shape=data.shape, dtype=data.dtype,
                            chunks=tuple(min(64, s) for s in data.shape))
        z[...] = data
        return path
    raise ValueError(f"bbbcore vessels: output {str(path)!r} must end in .tif, .tiff, .npy or .zarr")


def _sibling(path: Path, tag: str, suffix: str | None = None) -> Path:
    """``a/b.tif`` + "mask" → ``a/b.mask.tif``."""
    suffix = path.suffix if suffix is None else suffix
    return path.with_name(path.name[: -len(path.suffix)] + f".{tag}{suffix}" if path.suffix else
                          path.name + f".{tag}{suffix}")


def _mip_png(path: Path, image, mask=None, *, title: str = "", overwrite: bool = False) -> Path:
    from matplotlib.figure import Figure

    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass --overwrite to replace it")
    panels = [("image (max. projection)", np.asarray(image).max(axis=0), "gray")]
    if mask is not None:
        panels.append(("mask (max. projection)", np.asarray(mask).max(axis=0), "magma"))
    fig = Figure(figsize=(4.2 * len(panels), 4.2))
    for ax, (name, img, cmap) in zip(np.atleast_1d(fig.subplots(1, len(panels))), panels):
        ax.imshow(img, cmap=cmap)
        ax.set_title(name, fontsize=9)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


# ---------------------------------------------------------------------------------- phantom
def _cmd_phantom(args) -> int:
    from bbbcore.vessels import phantoms

    out = Path(args.out)
    mask_path, png = _sibling(out, "mask"), _sibling(out, "preview", ".png")
    _refuse("phantom", [out, mask_path, png], args.overwrite)
    image, mask = phantoms.vessel_phantom(tuple(args.shape), seed=args.seed, modality=args.modality,
                                          voxel_size_um=args.voxel_size_um, density=args.density)
    _write_volume(out, image, overwrite=args.overwrite)
    _write_volume(mask_path, mask, overwrite=args.overwrite)
    _mip_png(png, image, mask, title=f"{args.modality} phantom, seed {args.seed}", overwrite=args.overwrite)
    print(f"{args.modality} phantom {tuple(args.shape)}: vessel fraction {float(mask.mean()):.3%}")
    for p in (out, mask_path, png):
        print(f"  {p}")
    return 0


# ---------------------------------------------------------------------------------- train / finetune
def _pairs(args):
    from bbbcore.vessels.data import VolumePair

    if len(args.image) != len(args.label):
        raise ValueError(f"bbbcore vessels {args.command_v}: --image and --label must be given as many "
                         f"times each, got {len(args.image)} and {len(args.label)}")
    region = getattr(args, "region", None)
    return [VolumePair(i, lab, region=region, spacing_um=args.voxel_size_um)
            for i, lab in zip(args.image, args.label)]


def _val_pairs(args):
    from bbbcore.vessels.data import VolumePair

    if not args.val_image:
        return None
    if len(args.val_image) != len(args.val_label or []):
        raise ValueError(f"bbbcore vessels {args.command_v}: --val-image and --val-label must be given "
                         f"as many times each")
    return [VolumePair(i, lab) for i, lab in zip(args.val_image, args.val_label)]


def _train_common(p):
    p.add_argument("--image", action="append", required=True, type=Path,
                   help="training volume (.tif, .npy, .zarr); repeat for several datasets")
    p.add_argument("--label", action="append", required=True, type=Path,
                   help="its binary label volume, in the same order as --image")
    p.add_argument("--val-image", action="append", type=Path, help="held-out validation volume(s)")
    p.add_argument("--val-label", action="append", type=Path, help="their labels")
    p.add_argument("--out", required=True, type=Path, help="output folder (best.pt, last.pt, history)")
    p.add_argument("--steps", type=int, help="optimiser steps at most")
    p.add_argument("--batch-size", type=int, default=6, help="patches per step (default 6, the paper's)")
    p.add_argument("--patch", type=_itriple, default=(64, 64, 64), help="patch Z,Y,X (default 64)")
    p.add_argument("--lr", type=float, help="Adam learning rate")
    p.add_argument("--val-every", type=int, help="validate every N steps")
    p.add_argument("--patience", type=int, default=10, help="validations without improvement before stopping")
    p.add_argument("--voxel-size-um", type=_triple, default=None, help="voxel size Z,Y,X [µm] (recorded)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--overwrite", action="store_true", help="start again, replacing the run in --out")
    p.add_argument("--no-augment", action="store_true", help="no tUbe net augmentation")


def _report(res) -> None:
    h = res.history
    dice = h["val_dice"][h["val_step"].index(res.best_step)] if res.best_step in h["val_step"] else float("nan")
    print(f"best step {res.best_step}: validation loss {res.best_val_loss:.4f}, DICE {dice:.3f}"
          + (" (stopped early)" if res.stopped_early else ""))
    s = res.sampler_stats
    if sum(s.get("fallbacks") or [0]):
        print(f"  patch sampler fallbacks per dataset (no patch with enough vessel found): {s['fallbacks']}")
    if res.out is not None:
        for f in ("best.pt", "last.pt", "history.json", "training.png"):
            print(f"  {res.out / f}")


def _cmd_train(args) -> int:
    from bbbcore import vessels as V

    if args.preset == "paper":
        model = V.TubeNet.paper()
    else:
        model = V.TubeNet.compact() if args.depth is None and args.width is None else V.TubeNet(
            depth=args.depth or 4, width=args.width or 16, attention=args.attention)
    kw = {k: v for k, v in dict(steps=args.steps, lr=args.lr, val_every=args.val_every).items() if v is not None}
    res = V.train(model, _pairs(args), val=_val_pairs(args), out=args.out, batch_size=args.batch_size,
                  patch=args.patch, patience=args.patience, device=args.device, seed=args.seed,
                  resume=args.resume, overwrite=args.overwrite, augment=not args.no_augment, **kw)
    _report(res)
    return 0


def _cmd_finetune(args) -> int:
    from bbbcore import vessels as V

    model = V.load_pretrained(args.model) if args.model in ("foundation",) else V.load_model(args.model)
    kw = {k: v for k, v in dict(steps=args.steps, lr=args.lr, val_every=args.val_every).items() if v is not None}
    freeze = None
    if args.freeze_levels:
        freeze = [int(v) for v in args.freeze_levels.split(",")] if "," in args.freeze_levels \
            else int(args.freeze_levels)
    res = V.finetune(model, _pairs(args), val=_val_pairs(args), out=args.out, freeze_levels=freeze,
                     batch_size=args.batch_size, patch=args.patch, patience=args.patience, device=args.device,
                     seed=args.seed, resume=args.resume, overwrite=args.overwrite, augment=not args.no_augment,
                     **kw)
    _report(res)
    return 0


# ---------------------------------------------------------------------------------- segment
def _load_any_model(name: str, device: str):
    from bbbcore import vessels as V

    return V.load_pretrained(name, device=device) if name == "foundation" else V.load_model(name, device=device)


def _cmd_segment(args) -> int:
    from bbbcore import vessels as V
    from bbbcore.vessels.volumes import open_volume

    out = Path(args.out)
    png = _sibling(out, "preview", ".png")
    _refuse("segment", [out, png], args.overwrite)
    src = open_volume(args.input, name="input")           # a missing input fails before the model loads
    model = _load_any_model(args.model, args.device)
    g = V.segment(model, src, out=out, patch=args.patch, overlap=args.overlap, batch_size=args.batch_size,
                  device=args.device, threshold=args.threshold, tta=args.tta, overwrite=args.overwrite)
    key = "mask" if args.threshold is not None else "prob"
    res = g[key]
    z0 = max(0, res.shape[0] // 2 - 8)
    slab = np.asarray(res[z0:z0 + 16])
    img = np.asarray(src[z0:z0 + 16])
    _mip_png(png, img, slab, title=f"{Path(args.input).name}: planes {z0}–{z0 + slab.shape[0] - 1}",
             overwrite=args.overwrite)
    print(f"segmented {tuple(res.shape)} → {out} ({key}{', uncertainty' if args.tta else ''})")
    print(f"  {png}")
    return 0


# ---------------------------------------------------------------------------------- evaluate
def _cmd_evaluate(args) -> int:
    from bbbcore.vessels import metrics
    from bbbcore.vessels.volumes import open_volume

    outs = [args.out, args.plot]
    _refuse("evaluate", outs, args.overwrite)
    prob = np.asarray(open_volume(args.prediction, name="prediction", array=args.array)[...])
    truth = np.asarray(open_volume(args.truth, name="truth")[...])
    threshold = args.threshold
    if args.val_prediction is not None:
        if threshold is not None:
            raise ValueError("bbbcore vessels evaluate: give --threshold or --val-prediction, not both")
        vp = np.asarray(open_volume(args.val_prediction, name="val-prediction", array=args.array)[...])
        vt = np.asarray(open_volume(args.val_truth, name="val-truth")[...])
        threshold = metrics.choose_threshold(vp, vt)
        print(f"threshold {threshold:.4g} chosen on the validation volume (maximum DICE)")
    res = metrics.evaluate(prob, truth, threshold=threshold, voxel_size_um=args.voxel_size_um or 1.0)
    if args.val_prediction is not None:
        res["threshold_source"] = "chosen on validation data"
    for k, v in res.items():
        print(f"{k:>24}  {v:.4g}" if isinstance(v, float) else f"{k:>24}  {v}")
    if args.out is not None:
        args.out.write_text(json.dumps(res, indent=2, default=float))
        print(f"  {args.out}")
    if args.plot is not None:
        metrics.plot_curves(prob, truth, args.plot, overwrite=args.overwrite)
        print(f"  {args.plot}")
    return 0


# ---------------------------------------------------------------------------------- analyze
def _cmd_analyze(args) -> int:
    from bbbcore.vessels import analysis
    from bbbcore.vessels.volumes import open_volume

    out = Path(args.out)
    files = [out / "vessel_stats.json", out / "segments.csv", out / "vessel_stats.png"]
    _refuse("analyze", files, args.overwrite)
    vol = open_volume(args.mask, name="mask", array=args.array)
    mask = np.asarray(vol[...])
    if args.threshold is not None:
        mask = mask > args.threshold
    stats = analysis.vessel_stats(mask, voxel_size_um=args.voxel_size_um or 1.0)
    out.mkdir(parents=True, exist_ok=True)
    files[0].write_text(json.dumps(stats.to_dict(), indent=2, default=float))
    stats.segments.to_csv(files[1], index=False)
    analysis.plot_vessel_stats(stats, files[2], overwrite=args.overwrite)
    d = stats.to_dict()
    print(f"vessel volume fraction {d['volume_fraction']:.3%}, total length {d['total_length_um']:.1f} µm, "
          f"{d['n_segments']} segments, {d['n_branch_points']} branch points, "
          f"mean radius {d['mean_radius_um']:.2f} µm")
    for f in files:
        print(f"  {f}")
    return 0


def add_parser(sub) -> argparse.ArgumentParser:
    """Register ``bbbcore vessels …`` on the main parser's subparsers."""
    p = sub.add_parser("vessels", help="3D vessel segmentation (tUbe net): train, segment, evaluate, analyze",
                       description="tUbe net 3D vessel segmentation: phantoms, training, fine-tuning, "
                                   "out-of-core segmentation, metrics and vessel analysis.")
    vs = p.add_subparsers(dest="command_v", required=True)

    q = vs.add_parser("phantom", help="a synthetic vessel volume and its ground-truth mask",
                      description="Random branching vessel network rendered in a modality style; writes "
                                  "the image, the mask (<out>.mask.<ext>) and a PNG preview.")
    q.add_argument("--out", required=True, type=Path, help="image file (.tif, .npy or .zarr)")
    q.add_argument("--shape", type=int, nargs=3, default=[64, 128, 128], metavar=("Z", "Y", "X"))
    q.add_argument("--modality", default="twophoton", help="twophoton, ct, hrem or lightsheet")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--voxel-size-um", type=_triple, default=1.0, help="Z,Y,X [µm] (default 1)")
    q.add_argument("--density", type=float, default=1.0, help="relative vessel density (default 1)")
    q.add_argument("--overwrite", action="store_true")
    q.set_defaults(func=_cmd_phantom)

    q = vs.add_parser("train", help="train a tUbe net on labelled volumes",
                      description="Train from scratch on labelled volumes (patches read from disk).")
    _train_common(q)
    q.add_argument("--preset", choices=("compact", "paper"), default="compact",
                   help="network size: compact (shipped model's) or paper (6 levels, 32…1024 filters)")
    q.add_argument("--depth", type=int, help="levels (overrides the preset)")
    q.add_argument("--width", type=int, help="filters of the first level (overrides the preset)")
    q.add_argument("--attention", action="store_true", help="attention gates on the skips (paper §2.2)")
    q.set_defaults(func=_cmd_train)

    q = vs.add_parser("finetune", help="fine-tune a pre-trained model on a small labelled volume",
                      description="Fine-tune (default: the shipped foundation model) on a labelled "
                                  "sub-volume; --region restricts training to the labelled box.")
    _train_common(q)
    q.add_argument("--model", default="foundation", help="'foundation' or a model file (.pt)")
    q.add_argument("--freeze-levels", help="encoder levels to freeze: N (levels 0…N-1) or a list 0,1")
    q.add_argument("--region", type=_region, help="labelled box z0:z1,y0:y1,x0:x1 of the volume")
    q.set_defaults(func=_cmd_finetune)

    q = vs.add_parser("segment", help="segment a volume (out-of-core sliding window) into Zarr",
                      description="Sliding-window inference with Gaussian blending over a volume of any "
                                  "size; writes a Zarr group (prob or mask, uncertainty with --tta).")
    q.add_argument("input", type=Path, help="volume (.tif, .npy or .zarr)")
    q.add_argument("--out", required=True, type=Path, help="output Zarr folder")
    q.add_argument("--model", default="foundation", help="'foundation' or a model file (.pt)")
    q.add_argument("--patch", type=_itriple, default=(64, 64, 64))
    q.add_argument("--overlap", type=float, default=0.25)
    q.add_argument("--batch-size", type=int, default=4)
    q.add_argument("--threshold", type=float, help="write a uint8 mask (prob > threshold) instead of prob")
    q.add_argument("--tta", action="store_true", help="test-time flips: mean and voxel-wise uncertainty")
    q.add_argument("--device", default="cpu")
    q.add_argument("--overwrite", action="store_true")
    q.set_defaults(func=_cmd_segment)

    q = vs.add_parser("evaluate", help="AUROC, AP, DICE, clDice, centreline sensitivity, HD95",
                      description="Metrics of a prediction against a ground truth. The threshold is "
                                  "given (--threshold) or chosen on a validation pair (--val-prediction, "
                                  "--val-truth), never on the evaluated data (default 0.5).")
    q.add_argument("prediction", type=Path, help="probability or mask volume (.tif, .npy, .zarr)")
    q.add_argument("truth", type=Path, help="ground-truth mask")
    q.add_argument("--array", default=None, help="array inside a Zarr group (default prob / the only one)")
    q.add_argument("--threshold", type=float)
    q.add_argument("--val-prediction", type=Path)
    q.add_argument("--val-truth", type=Path)
    q.add_argument("--voxel-size-um", type=_triple)
    q.add_argument("--out", type=Path, help="JSON file for the metrics")
    q.add_argument("--plot", type=Path, help="PNG of the ROC and PR curves")
    q.add_argument("--overwrite", action="store_true")
    q.set_defaults(func=_cmd_evaluate)

    q = vs.add_parser("analyze", help="skeleton, radii, length, branch points, segment graph",
                      description="Vessel statistics of a binary mask: JSON, segments CSV and a figure.")
    q.add_argument("mask", type=Path, help="binary mask (or probability with --threshold)")
    q.add_argument("--out", required=True, type=Path, help="output folder")
    q.add_argument("--array", default=None, help="array inside a Zarr group")
    q.add_argument("--threshold", type=float, help="binarise a probability volume")
    q.add_argument("--voxel-size-um", type=_triple)
    q.add_argument("--overwrite", action="store_true")
    q.set_defaults(func=_cmd_analyze)
    return p
