"""Ready-made transport studies: one drug in a standard geometry, and the drug panel.

These back the command line (``bbbcore transport``, ``bbbcore transport-panel``) and are usable from
Python::

    from bbbcore.transport import study
    sim, res = study.simulate_drug("morphine", geometry="krogh", hours=2.0)
    study.write_run(sim, res, "results/", overwrite=True)
    rows = study.panel(out_dir="results/")

Defaults (each a parameter): a Krogh cylinder of a 3 µm capillary in a 20 µm tissue radius (half the
~40 µm capillary spacing, SCIENCE.md) and 10 µm long at h = 1 µm; plasma held at 1 µM total; the
drug's brain clearance from the library; ADI with θ = 1 and dt = min(0.5 s, t_end/1000) (an
accuracy choice: halve ``dt_s`` to check a result).
"""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np

from bbbcore import _checks, io
from bbbcore.transport import drugs as drug_library
from bbbcore.transport.geometry import krogh_geometry, lattice_geometry, slab_geometry
from bbbcore.transport.model import Drug, Plasma
from bbbcore.transport.simulate import Simulation

__all__ = ["GEOMETRIES", "make_geometry", "make_plasma", "simulate_drug", "run_paths", "write_run", "panel"]

GEOMETRIES = ("krogh", "slab", "lattice")
PLASMAS = ("constant", "bolus", "infusion")
UM = 1e-3   # 1 µM in mol/m³


def make_geometry(kind: str = "krogh", voxel_size_um: float = 1.0, *, capillary_radius_um: float = 3.0,
                  tissue_radius_um: float = 20.0, length_um: float = 10.0, spacing_um: float = 40.0,
                  brain_um: float = 40.0):
    """A standard geometry: ``krogh`` (one capillary in a tissue cylinder), ``slab`` (blood 4 µm |
    brain ``brain_um``, the seed's picture) or ``lattice`` (one unit cell of a square capillary
    lattice at ``spacing_um``)."""
    fn = "make_geometry"
    kind = _checks.choice(fn, "kind", kind, GEOMETRIES)
    h = _checks.positive(fn, "voxel_size_um", voxel_size_um, "µm")
    if kind == "krogh":
        return krogh_geometry(capillary_radius_um, tissue_radius_um, length_um, voxel_size_um=h)
    if kind == "slab":
        blood = max(h, round(4.0 / h) * h)
        return slab_geometry([("blood", blood), ("brain", brain_um)], voxel_size_um=h, cross_section=(4, 4))
    return lattice_geometry(spacing_um, capillary_radius_um, (1, 1), length_um, voxel_size_um=h)


def make_plasma(kind: str = "constant", level_um: float = 1.0, *, half_life_min: float = 60.0,
                hours: float = 2.0) -> Plasma:
    """Plasma curve at ``level_um`` µM total: ``constant``; ``bolus`` (that level at t = 0, decaying
    with ``half_life_min``); ``infusion`` (over the whole run, reaching the level at steady state
    with that elimination half-life)."""
    fn = "make_plasma"
    kind = _checks.choice(fn, "kind", kind, PLASMAS)
    c = _checks.non_negative(fn, "level_um", level_um, "µM") * UM
    k = math.log(2) / (_checks.positive(fn, "half_life_min", half_life_min, "min") * 60.0)
    if kind == "constant":
        return Plasma.constant(c)
    if kind == "bolus":
        return Plasma.bolus(c, k)
    return Plasma.infusion(c * k, duration_s=hours * 3600.0, elimination_per_s=k)


def simulate_drug(drug, *, geometry="krogh", hours: float = 2.0, voxel_size_um: float = 1.0,
                  plasma: str | Plasma = "constant", plasma_um: float = 1.0, half_life_min: float = 60.0,
                  stepper: str = "adi", dt_s: float | None = None, theta: float = 1.0, device="cpu",
                  records: int = 120, library=None, progress: bool = False, dtype="float32"):
    """Run one drug (a :class:`Drug` or a library name) in a standard geometry (a name of
    :data:`GEOMETRIES` or a :class:`~bbbcore.transport.Geometry`). The drug's own BBB membrane
    (``drug.bbb``) sits between blood and brain, its library clearance acts in the brain.

    Returns:
        (Simulation, Result) with the fields recorded (``records`` snapshots).
    """
    fn = "simulate_drug"
    d = drug if isinstance(drug, Drug) else drug_library.get(drug, library=library)
    if d.bbb is None:
        _checks.fail(fn, "drug", "a drug with its BBB membrane (drug.bbb), e.g. from the drug library", d.name)
    t_end = _checks.positive(fn, "hours", hours, "h") * 3600.0
    geom = make_geometry(geometry, voxel_size_um) if isinstance(geometry, str) else geometry
    pl = plasma if isinstance(plasma, Plasma) else make_plasma(plasma, plasma_um, half_life_min=half_life_min,
                                                                hours=hours)
    k = drug_library.clearance_per_s(d)
    if stepper == "adi" and dt_s is None:
        dt_s = min(0.5, t_end / 1000.0)
    sim = Simulation(geom, d, plasma=pl, clearance_per_s={"brain": k} if k > 0 else None, stepper=stepper,
                     dt_s=dt_s, theta=theta, device=device, dtype=dtype)
    res = sim.run(t_end, record_every_s=t_end / max(1, int(records)), progress=progress, record_fields=True)
    return sim, res


def _summary(sim: Simulation, res) -> dict:
    d = sim.drug
    mem = d.bbb
    S = sim.membrane_area_m2()
    v_brain = float((sim.geom.labels == sim.geom.index("brain")).sum()) * sim.geom.h_m ** 3 * sim.alpha[
        sim.geom.index("brain")]
    k_brain = float(sim.k[sim.geom.index("brain")])
    # clearance acts on the total ECS concentration, the membrane fluxes on its unbound part
    lin = mem.kp_uu_linear(clearance_m_s=k_brain * v_brain / (S * d.fu_brain)) if S > 0 else float("nan")
    # linear-regime time constant of the brain ECS behind the barrier: V_ECS / (S fu_b (P + P_eff) + k V_ECS)
    rate = S * d.fu_brain * (mem.permeability_m_s + mem.efflux_permeability_m_s) + k_brain * v_brain
    tau = v_brain / rate if rate > 0 else float("inf")
    return {
        "drug": d.name,
        "geometry": {"shape": list(sim.geom.shape), "voxel_size_um": sim.geom.voxel_size_um,
                     "names": list(sim.geom.names), "membrane_area_m2": S},
        "stepper": sim.stepper, "theta": sim.theta, "dt_s": sim.dt_s,
        "dtype": str(sim.dtype).removeprefix("torch."), "t_end_s": float(res.times_s[-1]),
        "fu_plasma": d.fu_plasma, "fu_brain": d.fu_brain, "diffusivity_m2_s": d.diffusivity_m2_s,
        "permeability_m_s": mem.permeability_m_s, "influx_permeability_m_s": mem.influx_permeability_m_s,
        "efflux_permeability_m_s": mem.efflux_permeability_m_s, "brain_clearance_per_s": k_brain,
        "kp_uu_end": res.kp_uu(), "kp_uu_linear_steady_state": lin,
        "kp_uu_reference": d.kp_uu_reference, "kp_uu_species": d.kp_uu_species,
        "auc_brain_unbound_mol_s_m3": res.auc("brain"), "half_time_s": res.half_time_s("brain"),
        "equilibration_time_s": tau,
        "sources": dict(d.sources),
    }


def run_paths(out_dir, stem: str, *, overwrite: bool = False) -> dict:
    """The files :func:`write_run` writes for ``stem`` in ``out_dir``, checked before any work:
    the folder must exist, and existing files are an error unless ``overwrite``."""
    fn = "write_run"
    out = Path(out_dir)
    if not out.is_dir():
        raise FileNotFoundError(f"{fn}: output folder {out} does not exist")
    stem = stem.lower().replace(" ", "_")
    paths = {k: out / f"{stem}{suffix}" for k, suffix in (("csv", ".csv"), ("json", ".json"),
                                                          ("timecourse", "_timecourse.png"),
                                                          ("slice", "_slice.png"), ("mip", "_mip.png"))}
    for p in paths.values():
        io._target(fn, p, overwrite)
    return paths


def write_run(sim: Simulation, res, out_dir, *, stem: str | None = None, overwrite: bool = False) -> dict:
    """Write a run: ``<stem>.csv`` (time courses: mean total and unbound concentration and amount
    per compartment, net membrane flux), ``<stem>.json`` (summary: Kp,uu at the end and the linear
    steady state, AUC, half-time, parameters and their sources), ``<stem>_timecourse.png``,
    ``<stem>_slice.png`` and ``<stem>_mip.png``. Refuses to overwrite unless asked.

    Returns:
        the summary dict, with the written paths under ``"files"``.
    """
    from bbbcore.transport.plot import plot_mip, plot_slice_and_profile, plot_time_courses

    paths = run_paths(out_dir, stem or sim.drug.name, overwrite=overwrite)
    summary = _summary(sim, res)
    names = list(res.names)
    with open(paths["csv"], "w", newline="") as f:
        w = csv.writer(f)
        flux_keys = list(res.membrane_flux_mol_s)
        w.writerow(["time_s"] + [f"{n}_total_mol_m3" for n in names] + [f"{n}_unbound_mol_m3" for n in names]
                   + [f"{n}_amount_mol" for n in names] + [f"flux_{a}_to_{b}_mol_s" for a, b in flux_keys])
        for i, t in enumerate(res.times_s):
            w.writerow([f"{t:.6g}"] + [f"{res.mean_total(n)[i]:.6e}" for n in names]
                       + [f"{res.mean_unbound(n)[i]:.6e}" for n in names]
                       + [f"{res.amount_mol[n][i]:.6e}" for n in names]
                       + [f"{res.membrane_flux_mol_s[k][i]:.6e}" for k in flux_keys])
    title = f"{sim.drug.name}: Kp,uu {summary['kp_uu_end']:.3g} at {res.times_s[-1] / 60:.0f} min"
    plot_time_courses({sim.drug.name: res}, paths["timecourse"], overwrite=overwrite, title=title)
    plot_slice_and_profile(res, sim.geom, paths["slice"], overwrite=overwrite, title=title)
    plot_mip(res, sim.geom, paths["mip"], overwrite=overwrite, title=sim.drug.name,
             unbound_fu=sim.drug.fu_brain)
    summary["files"] = {k: str(p) for k, p in paths.items()}
    with open(paths["json"], "w") as f:
        json.dump(summary, f, indent=2, default=float)
    return summary


def panel(names=None, *, out_dir=None, overwrite: bool = False, library=None, progress: bool = False,
          **kwargs) -> list[dict]:
    """Every drug of the library (or ``names``) through :func:`simulate_drug` with the same settings
    (``kwargs``). With ``out_dir``: ``panel.csv`` / ``panel.md`` (Kp,uu at the end of the run, the
    linear steady state and the literature value, side by side), ``panel_timecourses.png`` (all
    drugs) and ``ldopa_vs_dopamine.png`` (the seed's roadmap pair), refusing to overwrite unless
    asked.

    Returns:
        one summary dict per drug (see :func:`write_run`).
    """
    from tqdm.auto import tqdm

    from bbbcore.transport.plot import plot_pair, plot_time_courses

    fn = "panel"
    names = list(names) if names is not None else drug_library.names(library)
    out = None
    files = {}
    if out_dir is not None:
        out = Path(out_dir)
        if not out.is_dir():
            raise FileNotFoundError(f"{fn}: output folder {out} does not exist")
        files = {k: out / v for k, v in (("csv", "panel.csv"), ("md", "panel.md"),
                                         ("timecourses", "panel_timecourses.png"),
                                         ("pair", "ldopa_vs_dopamine.png"))}
        for p in files.values():
            io._target(fn, p, overwrite)
    rows, results, geoms = [], {}, {}
    for name in tqdm(names, desc="transport panel", disable=not progress):
        sim, res = simulate_drug(name, library=library, **kwargs)
        s = _summary(sim, res)
        s["kp_uu_derived"] = drug_library.kp_uu_derived(sim.drug, library=library)
        rows.append(s)
        results[sim.drug.name] = res
        geoms[sim.drug.name] = sim.geom
    if out is None:
        return rows
    cols = ["drug", "kp_uu_end", "kp_uu_linear_steady_state", "kp_uu_reference", "kp_uu_species", "kp_uu_derived",
            "half_time_s", "equilibration_time_s", "permeability_m_s", "influx_permeability_m_s", "efflux_permeability_m_s", "fu_plasma",
            "fu_brain"]
    with open(files["csv"], "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for r in rows:
            w.writerow([r[c] for c in cols])

    def fmt(v):
        if v is None:
            return "–"
        if isinstance(v, bool):
            return "yes" if v else "no"
        if isinstance(v, float):
            return "–" if not np.isfinite(v) else f"{v:.3g}"
        return str(v)

    t_end = rows[0]["t_end_s"] / 60 if rows else 0.0
    lines = [f"# Drug panel: Kp,uu predicted vs literature ({t_end:.0f} min runs)", "",
             "| drug | Kp,uu at the end | Kp,uu steady (linear) | literature | species | derived from it |"
             " equilibration τ [min] |", "|---|--:|--:|--:|---|---|--:|"]
    for r in rows:
        cells = [fmt(r[c]) for c in ("drug", "kp_uu_end", "kp_uu_linear_steady_state", "kp_uu_reference",
                                     "kp_uu_species", "kp_uu_derived")]
        lines.append("| " + " | ".join(cells + [fmt(r["equilibration_time_s"] / 60)]) + " |")
    lines += ["", "\"derived from it\": the drug's carrier parameters were set from that literature Kp,uu, so its "
              "row is a consistency check, not an independent prediction. τ = V_ECS/(S·fu_b·(P + P_eff) + k·V_ECS), "
              "the linear-regime time constant of the brain behind the barrier: a run much shorter than τ "
              "(impermeant drugs such as dopamine) ends far below its steady state, and without a brain sink "
              "that steady state is Kp,uu = 1 by construction (the library gives no brain clearance)."]
    files["md"].write_text("\n".join(lines) + "\n")
    plot_time_courses(results, files["timecourses"], overwrite=overwrite, title="drug panel: brain ECS")
    pair = {n: results[n] for n in results if n.lower().replace("-", "") in ("ldopa", "levodopa", "dopamine")}
    if len(pair) == 2:
        plot_pair(pair, {n: geoms[n] for n in pair}, files["pair"], overwrite=overwrite,
                  title="L-DOPA (LAT1 carrier) vs dopamine (impermeant)")
    return rows
