"""Benchmark of ``bbbcore::transport_explicit`` (finite-volume BBB transport, explicit stepper).

Workload (explicit and Douglas ADI steps): a slab geometry (blood | brain) of N³ voxels (N = 64, 128,
256; ``--quick``: 32), a membrane with Michaelis–Menten efflux at the blood–brain faces, plasma held
constant. Reported per size and
device: median time per step, voxel-updates/s, and the fraction of the memory roofline at the
measured copy bandwidth (explicit), the cost of an ADI step relative to an explicit one (goal ≤ 5×),
counting DESIGN.md §6's floor of 8 bytes per voxel-update (read and write
the float32 state); the kernel actually streams more (labels, 3 face conductances, 3 membrane ids:
~27 bytes per voxel and step with perfect caching), printed as the "bytes-moved" roofline too. Peer
in the same run: a NumPy float64 7-point face-flux stencil (``reference.transport.explicit_step_ref``)
and, when installed, py-pde's numba backend on the plain diffusion equation of the same grid.

``python -m benchmarks.run transport`` (``--quick`` for a smoke run). Nothing here runs in the tests.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from benchmarks.common import memory_bandwidth, metadata, print_table, time_call, write_json


def _case(n: int, device):
    from bbbcore import transport as T

    geom = T.slab_geometry([("blood", n // 4), ("brain", n - n // 4)], voxel_size_um=1.0, cross_section=(n, n))
    mem = T.Membrane(1e-6, efflux_vmax_mol_m2_s=1e-7, efflux_km_mol_m3=0.5)
    sim = T.Simulation(geom, T.Drug("bench", 5e-10), {("blood", "brain"): mem},
                       plasma=T.Plasma.constant(1.0), device=device)
    return sim


def bbb_rate(n: int, device, steps: int) -> dict:
    sim = _case(n, device)
    dev = torch.device(device)
    lab = torch.as_tensor(sim.geom.labels, dtype=torch.uint8, device=dev)
    c = torch.rand(sim.geom.shape, device=dev)
    G = torch.as_tensor(sim.G, dtype=torch.float32, device=dev)
    mem = torch.as_tensor(sim.mem, dtype=torch.uint8, device=dev)
    fv = torch.ones(steps, device=dev)
    kw = sim.op_args()
    rows = []
    for stepper in ("explicit", "adi"):
        op = getattr(torch.ops.bbbcore, f"transport_{stepper}")
        t = time_call(lambda: op(c, lab, G, mem, fv, dt_s=sim.dt_s, steps=steps, **kw),
                      device=device, warmup=1, repeats=5, budget_s=3.0)
        per_step = t.median_s / steps
        rows.append({"lib": "bbbcore", "stepper": stepper, "device": str(device), "n": n,
                     "threads": torch.get_num_threads(), "s_per_step": per_step,
                     "voxel_updates_per_s": n ** 3 / per_step, "iqr_s": t.iqr_s / steps})
    rows[1]["adi_over_explicit"] = rows[1]["s_per_step"] / rows[0]["s_per_step"]
    return rows


def numpy_rate(n: int) -> dict:
    from bbbcore.reference.transport import explicit_step_ref

    sim = _case(n, "cpu")
    kw = sim.op_args()
    c = np.random.default_rng(0).random(sim.geom.shape)
    t = time_call(lambda: explicit_step_ref(c, sim.geom.labels, sim.G, sim.mem, dt_s=sim.dt_s, fixed_value=1.0,
                                            **kw), warmup=1, repeats=3, budget_s=3.0)
    return {"lib": "numpy (float64 reference)", "device": "cpu", "n": n, "threads": 1,
            "s_per_step": t.median_s, "voxel_updates_per_s": n ** 3 / t.median_s, "iqr_s": t.iqr_s}


def pypde_rate(n: int, steps: int) -> dict:
    try:
        import pde  # noqa: F401
    except ImportError:
        return {"lib": "py-pde", "device": "cpu", "n": n, "status": "not installed"}
    grid = pde.CartesianGrid([(0, n)] * 3, [n] * 3)
    state = pde.ScalarField.random_uniform(grid)
    eq = pde.DiffusionPDE(diffusivity=0.1)
    dt = 0.1
    solver = "euler" if hasattr(pde, "EulerSolver") else "explicit"   # py-pde ≥ 0.38 renamed it
    eq.solve(state, t_range=dt * 2, dt=dt, solver=solver, backend="numba", tracker=None)   # compile
    t0 = time.perf_counter()
    eq.solve(state, t_range=dt * steps, dt=dt, solver=solver, backend="numba", tracker=None)
    per = (time.perf_counter() - t0) / steps
    return {"lib": "py-pde (numba)", "device": "cpu", "n": n, "threads": 1, "s_per_step": per,
            "voxel_updates_per_s": n ** 3 / per}


def parse(argv):
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_transport", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--device", choices=("cpu", "cuda", "all"), default="all")
    p.add_argument("--out")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    import bbbcore

    a = parse(argv)
    sizes = [32] if a.quick else [64, 128, 256]
    devices = ["cpu"] + (["cuda"] if a.device != "cpu" and bbbcore.has_cuda() else [])
    if a.device == "cuda":
        devices = ["cuda"] if bbbcore.has_cuda() else []
    bw = {d: memory_bandwidth(d) for d in devices}
    rows = []
    for n in sizes:
        steps = 5 if a.quick else 20
        for d in devices:
            for r in bbb_rate(n, d, steps if d == "cpu" else 200):
                bps = bw[d]["bytes_per_s"] if "bytes_per_s" in bw[d] else bw[d].get("torch_bytes_per_s")
                if r["stepper"] == "explicit":
                    r["roofline_8B"] = r["voxel_updates_per_s"] * 8 / bps if bps else None
                    r["roofline_27B"] = r["voxel_updates_per_s"] * 27 / bps if bps else None
                rows.append(r)
        if "cpu" in devices:
            rows.append(numpy_rate(n))
            rows.append(pypde_rate(n, steps))
    for r in rows:
        best = max((q["voxel_updates_per_s"] for q in rows if q.get("lib") != "bbbcore" and q["n"] == r["n"]
                    and "voxel_updates_per_s" in q), default=None)
        if r.get("lib") == "bbbcore" and best:
            r["x_best_peer"] = r["voxel_updates_per_s"] / best
    print_table(rows, [("lib", "lib"), ("stepper", "stepper"), ("device", "device"), ("n", "N³"),
                       ("threads", "threads"),
                       ("s_per_step", "s/step"), ("voxel_updates_per_s", "voxel-updates/s"),
                       ("roofline_8B", "of roof (8 B)"), ("roofline_27B", "of roof (27 B)"),
                       ("x_best_peer", "x best peer"), ("adi_over_explicit", "ADI/explicit"),
                       ("status", "status")],
                title="transport_explicit: slab blood|brain with MM efflux, float32")
    payload = {"meta": metadata("cpu"), "bandwidth": bw, "rows": rows, "quick": a.quick}
    path = write_json("transport", payload, a.out)
    best = {f"{r['stepper']}_{r['device']}_{r['n']}": r.get("voxel_updates_per_s") for r in rows
            if r.get("lib") == "bbbcore"}
    return {"json_path": str(path), "summary": {"voxel_updates_per_s": best}}


if __name__ == "__main__":
    main()
