"""Benchmark of ``bbbcore.vessels.segment`` (out-of-core sliding-window inference) beside MONAI.

Workload: the shipped compact tUbe net (``TubeNet.compact()``; random weights of the same shape
when the shipped file is missing) on a float32 volume of N³ voxels (N = 256 and 512 on a GPU; 256 on
the CPU, 512 with ``--full``; ``--quick``: 96), 64³ windows, overlap 0.25, Gaussian blending,
batch 4. Each case runs in its own process (fresh peak-memory counters):

- **bbbcore**: ``segment(model, "in.zarr", out="out.zarr")`` — Zarr in, Zarr out, block by block;
- **MONAI**: ``sliding_window_inference`` with the same network, windows, overlap, blending and
  batch, on the whole volume held in memory (input tensor on the host, accumulation on the
  device: MONAI's ``sw_device=device, device=device`` default for an input on the host is to
  accumulate where the input is, so on a GPU we pass ``device`` explicitly, its fastest setting).

Reported: voxels/s (median of ``repeats`` runs after a warm-up on a small volume), peak host RSS
(``ru_maxrss``) and on CUDA the peak device memory (``torch.cuda.max_memory_allocated``), and the
ratio to MONAI. The CPU processes get a fixed thread count (all cores). A quality row segments
held-out phantoms of each modality with the shipped model (threshold chosen on validation phantoms)
and reports their DICE (goal ≥ 0.9).

``python -m benchmarks.run vessels`` (``--quick`` for a smoke run). Nothing here runs in the tests.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import metadata, print_child_result, print_table, run_child_process, write_json

PATCH = (64, 64, 64)
OVERLAP = 0.25
BATCH = 4


def _model(device):
    import torch

    from bbbcore import vessels as V

    try:
        m = V.load_pretrained("foundation", device=device)
        src = "shipped foundation"
    except FileNotFoundError:
        torch.manual_seed(0)
        m = V.TubeNet.compact().to(device).eval()
        src = "random weights (shipped file missing)"
    return m, src


def _volume(n: int, path: Path) -> None:
    """A smooth random volume written as Zarr in 64³ chunks (content does not change the cost)."""
    import zarr

    rng = np.random.default_rng(0)
    z = zarr.open_array(str(path), mode="w", shape=(n, n, n), chunks=(64, 64, 64), dtype="f4")
    for z0 in range(0, n, 64):
        z[z0:z0 + 64] = rng.random((min(64, n - z0), n, n), dtype=np.float32)


def child(spec: dict) -> dict:
    import torch

    from bbbcore import vessels as V

    dev = torch.device(spec["device"])
    model, src = _model(dev)
    n, lib = spec["n"], spec["lib"]
    work = Path(spec["work"])
    inp = work / f"in{n}.zarr"
    times = []

    if lib == "bbbcore":
        def run(source, out):
            if out.exists():
                shutil.rmtree(out)
            V.segment(model, source, out=out, patch=PATCH, overlap=OVERLAP, batch_size=BATCH, device=dev,
                      progress=False, normalize=None)
        small = np.random.default_rng(1).random((96, 96, 96), dtype=np.float32)
        V.segment(model, small, patch=PATCH, overlap=OVERLAP, batch_size=BATCH, device=dev, progress=False,
                  normalize=None)                                               # warm-up
        if dev.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        for r in range(spec["repeats"]):
            t0 = time.perf_counter()
            run(str(inp), work / f"out{n}-{r}.zarr")
            if dev.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
    else:
        import zarr
        from monai.inferers import sliding_window_inference

        def predictor(x):
            return torch.sigmoid(model(x))

        with torch.inference_mode():
            small = torch.rand(1, 1, 96, 96, 96)
            sliding_window_inference(small, PATCH, BATCH, predictor, overlap=OVERLAP, mode="gaussian",
                                     sw_device=dev, device=dev)                   # warm-up
            if dev.type == "cuda":
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            for _ in range(spec["repeats"]):
                t0 = time.perf_counter()
                x = torch.from_numpy(np.asarray(zarr.open_array(str(inp), mode="r")[...]))[None, None]
                y = sliding_window_inference(x, PATCH, BATCH, predictor, overlap=OVERLAP, mode="gaussian",
                                             sw_device=dev, device=dev)
                y = y.cpu().numpy()                                       # the result on the host
                if dev.type == "cuda":
                    torch.cuda.synchronize()
                times.append(time.perf_counter() - t0)
                del x, y
    med = float(np.median(times))
    res = {"lib": lib, "device": spec["device"], "n": n, "times_s": times, "s": med,
           "voxels_per_s": n ** 3 / med, "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
           "threads": torch.get_num_threads(), "model": src}
    if dev.type == "cuda":
        res["peak_device_gib"] = torch.cuda.max_memory_allocated() / 2**30
    return res


def quality(n_per_modality: int) -> list[dict]:
    """DICE of the shipped model on held-out phantoms (threshold chosen on validation phantoms)."""
    from benchmarks.vessels_foundation import TRAIN_MODALITIES, choose_threshold, SEEDS
    from bbbcore import vessels as V
    from bbbcore.vessels import metrics, phantoms

    try:
        model = V.load_pretrained("foundation")
    except FileNotFoundError:
        return []
    patch = (48, 48, 48)
    thr = choose_threshold(model, patch)
    rows = []
    for mod in phantoms.MODALITIES:
        ds = []
        for img, mask, _ in phantoms.random_modality_phantoms(n_per_modality, (64, 128, 128), SEEDS["test"], (mod,)):
            prob = V.segment(model, img, patch=patch, progress=False)
            ds.append(metrics.evaluate(prob, mask, threshold=thr))
        rows.append({"modality": mod, "seen_in_training": mod in TRAIN_MODALITIES, "threshold": thr,
                     **{k: float(np.mean([d[k] for d in ds])) for k in ("dice", "cldice", "auroc", "ap")}})
    return rows


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--full", action="store_true", help="512³ on the CPU too")
    p.add_argument("--device", choices=("cpu", "cuda", "all"), default="all")
    p.add_argument("--out")
    p.add_argument("--child")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    import json

    import bbbcore

    a = parse(argv)
    if a.child:
        print_child_result(child(json.loads(a.child)))
        return {}
    import torch

    devices = ["cpu"] + (["cuda"] if a.device != "cpu" and torch.cuda.is_available() else [])
    if a.device == "cuda":
        devices = ["cuda"] if torch.cuda.is_available() else []
    threads = os.cpu_count() or 1
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "THP_MEM_ALLOC_ENABLE": "1"}
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_vessels_") as work:
        for d in devices:
            sizes = [96] if a.quick else ([256, 512] if d == "cuda" or a.full else [256])
            for n in sizes:
                if not (Path(work) / f"in{n}.zarr").exists():
                    _volume(n, Path(work) / f"in{n}.zarr")
                reps = 1 if (a.quick or (d == "cpu" and n >= 512)) else (2 if d == "cpu" else 5)
                for lib in ("bbbcore", "monai"):
                    spec = {"lib": lib, "device": d, "n": n, "work": work, "repeats": reps}
                    try:
                        r = run_child_process("benchmarks.bench_vessels", spec, env, f"{lib}/{d}/{n}")
                    except RuntimeError as e:
                        r = {"lib": lib, "device": d, "n": n, "status": f"failed: {str(e)[-200:]}"}
                    rows.append(r)
                    print(f"  {lib:8s} {d:4s} {n}³: {r.get('voxels_per_s', float('nan')):.3g} voxels/s, "
                          f"peak RSS {r.get('peak_rss_gib', float('nan')):.2f} GiB", flush=True)
    for r in rows:
        peer = [q for q in rows if q["lib"] == "monai" and q["device"] == r["device"] and q["n"] == r["n"]]
        if r["lib"] == "bbbcore" and peer and "voxels_per_s" in peer[0] and "voxels_per_s" in r:
            r["x_monai"] = r["voxels_per_s"] / peer[0]["voxels_per_s"]
    print_table(rows, [("lib", "lib"), ("device", "device"), ("n", "N³"), ("threads", "threads"),
                       ("s", "s/volume"), ("voxels_per_s", "voxels/s"), ("peak_rss_gib", "peak RSS GiB"),
                       ("peak_device_gib", "peak GPU GiB"), ("x_monai", "x MONAI"), ("status", "status")],
                title="vessels.segment vs MONAI sliding_window_inference (compact tUbe net, 64³, overlap 0.25)")
    q = quality(1 if a.quick else 2)
    if q:
        print_table(q, [("modality", "modality"), ("seen_in_training", "seen"), ("threshold", "threshold"),
                        ("dice", "DICE"), ("cldice", "clDice"), ("auroc", "AUROC"), ("ap", "AP")],
                    title="shipped foundation model on held-out phantoms (goal DICE ≥ 0.9)")
    payload = {"meta": metadata("cpu"), "rows": rows, "quality": q, "quick": a.quick,
               "build_info": bbbcore.build_info()}
    path = write_json("vessels", payload, a.out)
    return {"json_path": str(path), "summary": {f"{r['lib']}_{r['device']}_{r['n']}": r.get("voxels_per_s")
                                                for r in rows}}


if __name__ == "__main__":
    main(sys.argv[1:])
