"""Train the shipped tUbe net "foundation" model on mixed-modality phantoms, evaluate it on held-out
phantoms, and show fine-tuning to a modality it never saw with ~0.3 % of a volume labelled.

This is the recipe behind ``python/bbbcore/weights/tubenet_foundation.{pt,json}``:

    python benchmarks/vessels_foundation.py train --out benchmarks/out/foundation   # ~1 h, 2 CPU cores
    python benchmarks/vessels_foundation.py evaluate --model benchmarks/out/foundation/best.pt
    python benchmarks/vessels_foundation.py finetune --model benchmarks/out/foundation/best.pt

``train`` pre-trains on two-photon, CT and light-sheet phantoms (random voxel sizes per modality,
:func:`bbbcore.vessels.phantoms.random_modality_phantoms`); HREM is held out, as the paper held out
its fine-tuning modalities. ``evaluate`` segments fresh phantoms of every modality (seeds never used
in training) with the threshold chosen on separate validation phantoms and prints DICE, clDice,
AUROC, AP and HD95. ``finetune`` labels one box of a large HREM phantom (~0.3 % of its voxels),
fine-tunes, and compares DICE before and after on the rest of the volume.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from bbbcore import vessels as V
from bbbcore.vessels import metrics, phantoms
from bbbcore.vessels.data import VolumePair

TRAIN_MODALITIES = ("twophoton", "ct", "lightsheet")
SEEDS = {"train": 1000, "val": 2000, "test": 3000, "finetune": 4000}


def _pairs(n, shape, seed, modalities):
    out = []
    for i, (img, mask, mod) in enumerate(phantoms.random_modality_phantoms(n, shape, seed, modalities)):
        out.append(VolumePair(img, mask, name=f"{mod}-{seed}-{i}"))
    return out


def cmd_train(args) -> int:
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    train = _pairs(args.n_train, tuple(args.shape), SEEDS["train"], TRAIN_MODALITIES)
    val = _pairs(args.n_val, tuple(args.shape), SEEDS["val"], TRAIN_MODALITIES)
    print(f"{len(train)} training and {len(val)} validation phantoms in {time.perf_counter() - t0:.0f} s",
          flush=True)
    torch.manual_seed(args.seed)
    model = V.TubeNet.compact(width=args.width)
    meta = {"name": "foundation", "data": {
        "kind": "bbbcore.vessels.phantoms.random_modality_phantoms (vary_scale=True)",
        "modalities": list(TRAIN_MODALITIES), "held_out_modality": "hrem", "shape": list(args.shape),
        "n_train": args.n_train, "train_seed": SEEDS["train"], "n_val": args.n_val, "val_seed": SEEDS["val"]},
        "recipe": "benchmarks/vessels_foundation.py train " + " ".join(sys.argv[2:]),
        "threads": args.threads, "device": "cpu"}
    res = V.train(model, train, val=val, out=args.out, steps=args.steps, batch_size=args.batch_size,
                  patch=tuple(args.patch), lr=args.lr, val_every=args.val_every, val_patches=args.val_patches,
                  patience=args.patience, seed=args.seed, resume=args.resume, overwrite=args.overwrite,
                  metadata=meta)
    print(f"best step {res.best_step}, validation loss {res.best_val_loss:.4f}, "
          f"{res.model.metadata['seconds'] / 60:.1f} min")
    return 0


def _segment_eval(model, image, mask, threshold, patch, tta=False):
    prob = V.segment(model, image, patch=patch, overlap=0.25, batch_size=2, progress=False, tta=tta)
    if tta:
        prob = prob[0]
    return prob, metrics.evaluate(prob, mask, threshold=threshold)


def choose_threshold(model, patch, n=3, shape=(64, 128, 128), modalities=TRAIN_MODALITIES):
    probs, truths = [], []
    for img, mask, _ in phantoms.random_modality_phantoms(n, shape, SEEDS["val"] + 7, modalities):
        probs.append(V.segment(model, img, patch=patch, progress=False).ravel())
        truths.append(mask.ravel())
    return metrics.choose_threshold(np.concatenate(probs), np.concatenate(truths))


def cmd_evaluate(args) -> int:
    torch.set_num_threads(args.threads)
    model = V.load_model(args.model)
    patch = tuple(args.patch)
    thr = choose_threshold(model, patch)
    print(f"threshold {thr:.3f} (chosen on validation phantoms)")
    rows = []
    for mod in phantoms.MODALITIES:
        for k, (img, mask, m) in enumerate(phantoms.random_modality_phantoms(args.n, tuple(args.shape),
                                                                             SEEDS["test"], (mod,))):
            _, r = _segment_eval(model, img, mask, thr, patch)
            rows.append({"modality": m, "seen_in_training": m in TRAIN_MODALITIES, **r})
            print(f"{m:>10} #{k}: DICE {r['dice']:.3f} clDice {r['cldice']:.3f} AUROC {r['auroc']:.4f} "
                  f"AP {r['ap']:.3f} HD95 {r['hausdorff95']:.2f}", flush=True)
    summary = {}
    for mod in phantoms.MODALITIES:
        rs = [r for r in rows if r["modality"] == mod]
        summary[mod] = {k: float(np.mean([r[k] for r in rs])) for k in ("dice", "cldice", "auroc", "ap",
                                                                          "hausdorff95")}
    seen = [r["dice"] for r in rows if r["seen_in_training"]]
    summary["seen_modalities_mean_dice"] = float(np.mean(seen))
    summary["threshold"] = thr
    print(json.dumps(summary, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": summary, "rows": rows}, indent=1, default=float))
    return 0


def cmd_finetune(args) -> int:
    """Fine-tune to HREM phantoms (never seen) with one labelled box of ~0.3 % of the volume."""
    torch.set_num_threads(args.threads)
    base = V.load_model(args.model)
    shape = tuple(args.shape)
    img, mask = phantoms.vessel_phantom(shape, seed=SEEDS["finetune"], modality="hrem")
    n_label = int(round(args.fraction * math.prod(shape)))
    side = [min(s, int(round(n_label ** (1 / 3)))) for s in shape]
    box = tuple(slice((s - b) // 2, (s - b) // 2 + b) for s, b in zip(shape, side))
    labelled = math.prod(side) / math.prod(shape)
    patch = tuple(min(p, b) for p, b in zip(args.patch, side))
    patch = tuple(max(8, (p // 8) * 8) for p in patch)
    rest = np.ones(shape, bool)
    rest[box] = False
    thr_base = 0.5
    prob0 = V.segment(base, img, patch=tuple(args.patch), progress=False)
    before = metrics.evaluate(prob0, mask, threshold=thr_base, valid=rest)
    print(f"HREM phantom {shape}; labelled box {side} = {labelled:.2%} of the volume")
    print(f"before fine-tuning: DICE {before['dice']:.3f} precision {before['precision']:.3f} "
          f"recall {before['recall']:.3f}", flush=True)
    pair = VolumePair(img, mask, region=box, name="hrem-labelled-box")
    model = V.load_model(args.model)
    res = V.finetune(model, pair, val=None, steps=args.steps, batch_size=args.batch_size, patch=patch,
                     lr=args.lr, val_every=args.val_every, freeze_levels=args.freeze_levels,
                     val_patches=8, progress=True, out=args.out, overwrite=True)
    prob1 = V.segment(res.model, img, patch=tuple(args.patch), progress=False)
    after = metrics.evaluate(prob1, mask, threshold=thr_base, valid=rest)
    print(f"after fine-tuning ({res.best_step} steps kept): DICE {after['dice']:.3f} precision "
          f"{after['precision']:.3f} recall {after['recall']:.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"labelled_fraction": labelled, "box": [[s.start, s.stop] for s in box],
                                               "before": before, "after": after}, indent=1, default=float))
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("train")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--steps", type=int, default=2500)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--patch", type=int, nargs=3, default=[48, 48, 48])
    p.add_argument("--shape", type=int, nargs=3, default=[64, 128, 128])
    p.add_argument("--n-train", type=int, default=24)
    p.add_argument("--n-val", type=int, default=6)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--val-every", type=int, default=100)
    p.add_argument("--val-patches", type=int, default=24)
    p.add_argument("--patience", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("evaluate")
    p.add_argument("--model", required=True)
    p.add_argument("--n", type=int, default=2, help="test phantoms per modality")
    p.add_argument("--shape", type=int, nargs=3, default=[64, 128, 128])
    p.add_argument("--patch", type=int, nargs=3, default=[48, 48, 48])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json")
    p.set_defaults(func=cmd_evaluate)
    p = sub.add_parser("finetune")
    p.add_argument("--model", required=True)
    p.add_argument("--shape", type=int, nargs=3, default=[96, 256, 256])
    p.add_argument("--fraction", type=float, default=0.003)
    p.add_argument("--patch", type=int, nargs=3, default=[48, 48, 48])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--val-every", type=int, default=25)
    p.add_argument("--freeze-levels", type=int, default=None)
    p.add_argument("--out", type=Path)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json")
    p.set_defaults(func=cmd_finetune)
    args = ap.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
