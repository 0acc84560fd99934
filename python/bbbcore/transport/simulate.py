"""Simulation of drug transport across the BBB on a finite-volume grid (explicit or ADI stepper).

The model (see ``csrc/include/bbbcore/transport/fv.h``): per-voxel compartments; the state C is
the concentration in each voxel's accessible volume (plasma in blood, extracellular space in brain:
fraction α); every face conducts G = 1/(h/(2α_L D_L) + 1/P + h/(2α_R D_R)) [m/s] (no 1/P term
inside a compartment or between compartments without a membrane; no half-cell term on the side
of a plasma-driven or held compartment, which is well mixed up to its faces), driven by unbound
concentrations fu·C; membrane faces may pump (Michaelis–Menten) from the brain side to the blood
side; first-order clearance per compartment; the blood compartment follows a plasma curve
(``plasma=``) or, with ``plasma=None``, evolves as a closed compartment from its initial
concentration. Brain diffusivity is the drug's free D/λ² (ECS tortuosity). Amounts are α·h³·C summed
in float64. The fields are float32 by default (``dtype="float64"`` for exact bookkeeping: every
float32 update rounds, so a closed system's total drifts by up to ~2⁻²⁴ per step; in float64 it
holds to ~1e-15 per step).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
import torch

from bbbcore import _checks
from bbbcore.transport.flow import NetworkFlow, network_flow
from bbbcore.transport.geometry import Geometry
from bbbcore.transport.model import Drug, Membrane, Plasma

__all__ = ["Simulation", "Result"]


@dataclass
class Result:
    """Time courses of a run: per compartment mean total and unbound concentration [mol/m³] and
    amount [mol], at ``times_s``; field snapshots when recorded."""

    times_s: np.ndarray
    names: tuple[str, ...]
    mean_total_mol_m3: dict
    mean_unbound_mol_m3: dict
    amount_mol: dict
    snapshots: dict = field(default_factory=dict)       # time [s] → (Z, Y, X) array (the run's dtype)
    dt_s: float = 0.0
    membrane_flux_mol_s: dict = field(default_factory=dict)  # (luminal, abluminal) → net rate into abluminal
    inflow_mol_m3: np.ndarray | None = None    # blood channel: inflow concentration at each record
    outflow_mol_m3: np.ndarray | None = None   # blood channel: flow-weighted mean concentration at the outlets

    def extraction(self) -> np.ndarray:
        """Blood channel: extraction fraction E = 1 − C_out/C_in at each record (Renkin–Crone:
        E = 1 − exp(−PS/F) for a perfect tissue sink)."""
        if self.inflow_mol_m3 is None:
            _checks.fail("Result.extraction", "the run", "a blood channel (blood_flow_m_s=...)", "plasma-driven blood")
        with np.errstate(divide="ignore", invalid="ignore"):
            return 1.0 - self.outflow_mol_m3 / self.inflow_mol_m3

    def auc(self, name: str, unbound: bool = True) -> float:
        """Area under the mean (unbound) concentration curve [mol m⁻³ s] (trapezoid over the records)."""
        y = self.mean_unbound(name) if unbound else self.mean_total(name)
        return float(np.trapezoid(y, self.times_s)) if hasattr(np, "trapezoid") else float(np.trapz(y, self.times_s))

    def half_time_s(self, name: str = "brain") -> float:
        """Time for the mean unbound concentration to reach half its last recorded value [s]
        (the brain penetration half-time when the run reaches the steady state)."""
        y = self.mean_unbound(name)
        target = 0.5 * y[-1]
        above = np.flatnonzero(y >= target)
        if y[-1] <= 0 or above.size == 0:
            return float("nan")
        i = int(above[0])
        if i == 0:
            return float(self.times_s[0])
        t0, t1, y0, y1 = self.times_s[i - 1], self.times_s[i], y[i - 1], y[i]
        return float(t0 + (target - y0) * (t1 - t0) / (y1 - y0))

    def mean_unbound(self, name: str) -> np.ndarray:
        return self.mean_unbound_mol_m3[self._check(name)]

    def mean_total(self, name: str) -> np.ndarray:
        return self.mean_total_mol_m3[self._check(name)]

    def total_amount_mol(self) -> np.ndarray:
        return np.sum([self.amount_mol[n] for n in self.names], axis=0)

    def kp_uu(self, brain: str = "brain", blood: str = "blood") -> float:
        """Unbound brain / unbound plasma concentration at the last recorded time (the steady
        state when the run is long enough)."""
        ub = self.mean_unbound(blood)[-1]
        if not ub > 0:
            _checks.fail("Result.kp_uu", "the blood compartment", "at a positive unbound concentration", ub)
        return float(self.mean_unbound(brain)[-1] / ub)

    def concentration(self, t_s: float) -> np.ndarray:
        """The recorded field (Z, Y, X) nearest to ``t_s`` (run with ``record_fields=True``)."""
        if not self.snapshots:
            _checks.fail("Result.concentration", "the run", "recorded with record_fields=True", "no fields")
        ts = np.array(sorted(self.snapshots))
        return self.snapshots[float(ts[np.argmin(np.abs(ts - t_s))])]

    def _check(self, name: str) -> str:
        if name not in self.names:
            _checks.fail("Result", "compartment", f"one of {list(self.names)}", repr(name))
        return name


class Simulation:
    """Drug transport in a geometry.

    Args:
        geom: compartment labels (:func:`bbbcore.transport.slab_geometry`, ...).
        drug: the drug (free diffusivity, fu in plasma and brain, tortuosity); non-specific brain
            binding is the equilibrium ``fu_brain`` (fluxes see the unbound part only).
        membranes: ``{(luminal, abluminal): Membrane}``, e.g. ``{("blood", "brain"): mem}``; the
            efflux pumps from the second compartment into the first, carrier influx from the first
            into the second. None: the drug's own ``drug.bbb`` between ``blood`` and ``brain``
            (drugs from :mod:`bbbcore.transport.drugs`), or no membrane.
        plasma: plasma concentration curve held in ``blood``; None: ``blood`` is a closed
            compartment starting at ``initial["blood"]``.
        brain_accessible_fraction: α of the brain compartment (ECS ≈ 0.2).
        clearance_per_s: first-order loss per compartment name [1/s]: brain clearance (bulk
            flow, glymphatic), endothelial metabolism (in an "endothelium" compartment of the
            geometry), elimination from a closed blood compartment.
        blood_flow_m_s: speed of a blood channel (None: the blood follows the plasma curve
            everywhere). With it the blood enters through the first plane along ``flow_axis`` at
            the ``plasma`` concentration, flows (first-order upwind; explicit stepper: dt ≤
            1/(... + u/h); ADI: implicit in the sweeps) and leaves through the last plane, and
            exchanges with the tissue through its membranes (Renkin–Crone:
            :meth:`Result.extraction`). Vessels running straight through the volume along the axis
            (Krogh cylinder, capillary lattice, slab layers) carry plug flow at this speed; any
            other lumen (a segmented network, :func:`~bbbcore.transport.from_vessel_mask`) gets
            the steady flow of :func:`~bbbcore.transport.network_flow` with this mean inlet
            speed (kept in :attr:`flow`).
        blood_flow: a precomputed :class:`~bbbcore.transport.NetworkFlow` for the blood channel
            instead of ``blood_flow_m_s`` (e.g. one solved once and reused across drugs).
        pores: ``(mask, permeability_m_s)``: membrane faces touching a cell of the boolean mask
            (shape ``geom.shape``) get this permeability added to their own (local leaks,
            paracellular pores).
        initial: initial total concentration per compartment [mol/m³] (default 0).
        held: compartments held at a constant concentration [mol/m³] (reservoirs: a CSF sink, a
            bath).
        diffusivity_m2_s: per-compartment diffusivity overriding the drug's (0: no transport;
            compartments named "void" have 0).
        accessible_fraction: per-compartment α overriding the defaults (brain: the
            ``brain_accessible_fraction``, others 1).
        stepper: ``"explicit"`` (forward Euler) or ``"adi"`` (Douglas: an explicit predictor, then
            tridiagonal line solves along z, y, x with diffusion, the carriers linearised at the
            step's start, the channel's flow and the clearance implicit: unconditionally stable in
            the linear(ised) regime, so dt is chosen for accuracy).
        theta: ADI weight in [0.5, 1]: 0.5 (default) is second order in time; 1 damps the
            fastest modes, for long steps over sharp fronts (e.g. a plasma step at t = 0).
        dt_s: time step [s]; None: explicit: 0.9 of the stability limit (an error quotes the
            formula when a given dt exceeds it); ADI: 20× the explicit limit (hour-long runs: pass
            a larger step, e.g. 0.1–1 s, and check convergence by halving it).
        device: ``"cpu"`` or ``"cuda"``.
        dtype: ``"float32"`` (default: half the memory and bandwidth) or ``"float64"`` for the
            state, the conductances and the arithmetic of the steps (mass conserved to rounding
            over long runs, e.g. to check a closed system to 1e-10).
        blood / brain: the names of the blood and brain compartments.

    Example:
        >>> from bbbcore import transport as T
        >>> geom = T.slab_geometry([("blood", 4.0), ("brain", 16.0)], voxel_size_um=2.0, cross_section=(2, 2))
        >>> sim = T.Simulation(geom, T.Drug("x", 5e-10), {("blood", "brain"): T.Membrane(1e-5)},
        ...                    plasma=T.Plasma.constant(1.0))
        >>> res = sim.run(t_end_s=2.0, record_every_s=1.0)
        >>> 0.0 < float(res.mean_unbound("brain")[-1]) < 1.0
        True
    """

    def __init__(self, geom: Geometry, drug: Drug, membranes: Mapping | None = None, *,
                 plasma: Plasma | None = None, brain_accessible_fraction: float = 0.2,
                 clearance_per_s: Mapping[str, float] | None = None, initial: Mapping[str, float] | None = None,
                 held: Mapping[str, float] | None = None, diffusivity_m2_s: Mapping[str, float] | None = None,
                 accessible_fraction: Mapping[str, float] | None = None,
                 stepper: str = "explicit", dt_s: float | None = None, device="cpu",
                 blood: str = "blood", brain: str = "brain", pores=None, blood_flow_m_s: float | None = None,
                 flow_axis: int = 0, theta: float = 0.5, dtype="float32", blood_flow=None):
        fn = "Simulation"
        if not isinstance(geom, Geometry):
            _checks.fail(fn, "geom", "a bbbcore.transport.Geometry", type(geom).__name__)
        if not isinstance(drug, Drug):
            _checks.fail(fn, "drug", "a bbbcore.transport.Drug", type(drug).__name__)
        self.stepper = _checks.choice(fn, "stepper", stepper, ("explicit", "adi"))
        self.theta = float(theta)
        if not 0.5 <= self.theta <= 1.0:
            _checks.fail(fn, "theta", "in [0.5, 1]", theta)
        self.geom, self.drug, self.plasma = geom, drug, plasma
        self.device = _checks.as_device(fn, device)
        dtypes = {"float32": torch.float32, "float64": torch.float64, torch.float32: torch.float32,
                  torch.float64: torch.float64}
        if not isinstance(dtype, (str, torch.dtype)) or dtype not in dtypes:
            _checks.fail(fn, "dtype", "'float32' or 'float64'", repr(dtype))
        self.dtype = dtypes[dtype]
        self.blood, self.brain = blood, brain
        names = geom.names
        alpha = float(brain_accessible_fraction)
        if not 0.0 < alpha <= 1.0:
            _checks.fail(fn, "brain_accessible_fraction", "in (0, 1]", brain_accessible_fraction)
        if plasma is not None and blood not in names:
            _checks.fail(fn, "plasma", f"a geometry with a {blood!r} compartment", list(names))
        L = len(names)
        self.alpha = np.array([alpha if n == brain else 1.0 for n in names])
        self.D = np.array([0.0 if n == "void" else
                           drug.diffusivity_m2_s / drug.tortuosity ** 2 if n == brain else drug.diffusivity_m2_s
                           for n in names])
        for name, dv in (diffusivity_m2_s or {}).items():
            self.D[geom.index(name)] = _checks.non_negative(fn, f"diffusivity_m2_s[{name!r}]", dv, "m²/s")
        for name, av in (accessible_fraction or {}).items():
            v = float(av)
            if not 0.0 < v <= 1.0:
                _checks.fail(fn, f"accessible_fraction[{name!r}]", "in (0, 1]", av)
            self.alpha[geom.index(name)] = v
        self.fu = np.array([drug.fu_brain if n == brain else drug.fu_plasma for n in names])
        self.k = np.zeros(L)
        for name, kv in (clearance_per_s or {}).items():
            self.k[geom.index(name)] = _checks.non_negative(fn, f"clearance_per_s[{name!r}]", kv, "1/s")
        # blood channel: plug flow along flow_axis (straight vessels) or a network flow field, the
        # plasma curve as the inflow concentration
        self.flow_u, self.flow_axis, self.flow = 0.0, 0, None
        if blood_flow_m_s is not None and blood_flow is not None:
            _checks.fail(fn, "blood_flow", "None when blood_flow_m_s is given (one or the other)", "both given")
        if blood_flow is not None:
            if not isinstance(blood_flow, NetworkFlow):
                _checks.fail(fn, "blood_flow", "a bbbcore.transport.NetworkFlow", type(blood_flow).__name__)
            if blood_flow.pressure.shape != geom.shape or not math.isclose(blood_flow.voxel_size_m, geom.h_m):
                _checks.fail(fn, "blood_flow", f"a flow on this grid {geom.shape} at h = {geom.h_m:g} m",
                             f"{blood_flow.pressure.shape} at h = {blood_flow.voxel_size_m:g} m")
            self.flow, self.flow_axis = blood_flow, blood_flow.flow_axis
            self.flow_u = float(blood_flow.inlet_speed_m_s[blood_flow.inlet_speed_m_s > 0].mean())
        elif blood_flow_m_s is not None:
            self.flow_u = _checks.positive(fn, "blood_flow_m_s", blood_flow_m_s, "m/s")
            self.flow_axis = _checks.choice(fn, "flow_axis", flow_axis, (0, 1, 2))
            lines = geom.labels == geom.index(blood)
            if not np.all(lines.all(axis=self.flow_axis) | ~lines.any(axis=self.flow_axis)):
                self.flow = network_flow(geom, self.flow_u, flow_axis=self.flow_axis, blood=blood)
        if self.flow_u > 0 and plasma is None:
            _checks.fail(fn, "plasma", "the inflow concentration curve of the blood channel", None)
        if self.flow is not None and self.flow.stagnant_voxels:
            warnings.warn(f"{fn}: {self.flow.stagnant_voxels} blood voxels lie in pieces of the lumen that do "
                          f"not join the first plane along axis {self.flow_axis} to the last: no flow there "
                          f"(they exchange with the tissue only)", stacklevel=2)
        # fixed: 1 = on the plasma curve, 2 = held at its initial value (a reservoir)
        self.fixed = np.array([1 if (plasma is not None and n == blood and self.flow_u == 0) else 0 for n in names],
                              np.int64)
        self.initial = np.zeros(L)
        self.initial_given = set(initial or {})
        for name, cv in (initial or {}).items():
            self.initial[geom.index(name)] = _checks.non_negative(fn, f"initial[{name!r}]", cv, "mol/m³")
        for name, hv in (held or {}).items():
            i = geom.index(name)
            if self.fixed[i] == 1:
                _checks.fail(fn, f"held[{name!r}]", "a compartment other than the plasma-driven blood", name)
            self.fixed[i] = 2
            self.initial[i] = _checks.non_negative(fn, f"held[{name!r}]", hv, "mol/m³")
        if membranes is None and drug.bbb is not None and blood in names and brain in names:
            membranes = {(blood, brain): drug.bbb}   # the drug's own BBB parameters (drug library)
        self.pore_mask, self.pore_p = None, 0.0
        if pores is not None:
            if not (isinstance(pores, tuple) and len(pores) == 2):
                _checks.fail(fn, "pores", "a tuple (mask of shape geom.shape, permeability_m_s)", type(pores).__name__)
            pm = np.asarray(pores[0])
            if pm.shape != geom.shape:
                _checks.fail(fn, "pores[0]", f"a mask of shape {geom.shape}", pm.shape)
            self.pore_mask = pm.astype(bool)
            self.pore_p = _checks.non_negative(fn, "pores[1]", pores[1], "m/s")
        # membranes: ids 1.. (0 = none)
        self.mem_list: list[tuple[int, int, Membrane]] = []
        for key, m in (membranes or {}).items():
            if not (isinstance(key, tuple) and len(key) == 2):
                _checks.fail(fn, "membranes", "keys (luminal, abluminal) compartment names", key)
            if not isinstance(m, Membrane):
                _checks.fail(fn, f"membranes[{key}]", "a bbbcore.transport.Membrane", type(m).__name__)
            a, b = geom.index(key[0]), geom.index(key[1])
            if a == b:
                _checks.fail(fn, "membranes", "pairs of two different compartments", key)
            self.mem_list.append((a, b, m))
        if len(self.mem_list) > 7:
            _checks.fail(fn, "membranes", "at most 7 membrane types", len(self.mem_list))
        self.G, self.mem = self._faces()
        self.dt_explicit_max_s = self._dt_limit(diffusion=True)
        self.dt_reaction_max_s = self._dt_limit(diffusion=False)
        if self.stepper == "explicit":
            self.dt_max_s = self.dt_explicit_max_s
            formula = "1/max_i[(Σ_f G_f·fu_i + Σ_m Vmax·fu_i/Km)/(α_i·h) + k_i]"
            what = "explicit stability"
            default = 0.9 * self.dt_max_s
        else:   # ADI: every term implicit in its sweep (carriers linearised): no stability limit
            self.dt_max_s = math.inf
            formula, what = "", ""
            default = 20.0 * self.dt_explicit_max_s   # accuracy: pass a larger dt_s for long runs
        if dt_s is None:
            self.dt_s = default
        else:
            dt = _checks.positive(fn, "dt_s", dt_s, "s")
            if dt > self.dt_max_s:
                raise ValueError(f"{fn}: dt_s must satisfy dt ≤ {formula} = {self.dt_max_s:.3e} s ({what}), "
                                 f"got {dt:.3e} s")
            self.dt_s = dt

    # ------------------------------------------------------------------ faces
    def _faces(self):
        lab = self.geom.labels.astype(np.int64)
        h = self.geom.h_m
        aD = self.alpha * self.D
        pair = {}
        for mid, (a, b, m) in enumerate(self.mem_list, start=1):
            pair[(a, b)] = pair[(b, a)] = (mid, m)
        G = np.zeros((3, *lab.shape))
        mem = np.zeros((3, *lab.shape), np.uint8)
        for ax in range(3):
            lo = [slice(None)] * 3
            hi = [slice(None)] * 3
            lo[ax] = slice(0, -1)
            hi[ax] = slice(1, None)
            lL, lR = lab[tuple(lo)], lab[tuple(hi)]
            with np.errstate(divide="ignore"):
                # half-cell resistances: inf where a side cannot conduct (D = 0); 0 on the side of a
                # plasma-driven or held compartment (well mixed: its value holds up to the face)
                half = np.where(self.fixed > 0, 0.0, h / (2 * aD))
                res = half[lL] + half[lR]
            mids = np.zeros(lL.shape, np.uint8)
            pore = None
            if self.pore_mask is not None and self.pore_p > 0:
                pore = self.pore_mask[tuple(lo)] | self.pore_mask[tuple(hi)]
            for (a, b), (mid, m) in pair.items():
                sel = (lL == a) & (lR == b)
                if sel.any():
                    p_face = np.full(lL.shape, float(m.permeability_m_s))
                    if pore is not None:
                        p_face = np.where(pore, p_face + self.pore_p, p_face)
                    with np.errstate(divide="ignore"):
                        res = np.where(sel, res + np.where(p_face > 0, 1.0 / np.maximum(p_face, 1e-300), np.inf), res)
                    mids[sel] = mid
            # res = 0: two well-mixed cells face to face without a membrane (no flux to track)
            ok = np.isfinite(res) & (res > 0)
            G[ax][tuple(lo)] = np.where(ok, 1.0 / np.where(ok, res, 1.0), 0.0)
            mem[ax][tuple(lo)] = mids
        return G, mem

    def membrane_area_m2(self, luminal: str | None = None, abluminal: str | None = None) -> float:
        """Exchange area [m²] of a membrane type (default: blood → brain) on this grid: the number of
        its faces times h² (a staircase surface: S of the Renkin–Crone PS/F on this grid)."""
        key = (luminal or self.blood, abluminal or self.brain)
        a, b = self.geom.index(key[0]), self.geom.index(key[1])
        for mid, (la, lb, _) in enumerate(self.mem_list, start=1):
            if (la, lb) == (a, b):
                return float((self.mem == mid).sum()) * self.geom.h_m ** 2
        _checks.fail("Simulation.membrane_area_m2", "luminal/abluminal", "a membrane of this simulation", key)

    def _dt_limit(self, diffusion: bool = True) -> float:
        lab = self.geom.labels.astype(np.int64)
        h = self.geom.h_m
        gsum = np.zeros(lab.shape)
        pump = np.zeros(lab.shape)
        # linear-regime carrier rates Vmax/Km (the largest dC/dC of a Michaelis–Menten flux)
        vmax = np.array([0.0] + [m.efflux_permeability_m_s + m.influx_permeability_m_s for _, _, m in self.mem_list])
        km = np.ones_like(vmax)
        for ax in range(3):
            lo = [slice(None)] * 3
            hi = [slice(None)] * 3
            lo[ax] = slice(0, -1)
            hi[ax] = slice(1, None)
            g = self.G[ax][tuple(lo)]
            gsum[tuple(lo)] += g
            gsum[tuple(hi)] += g
            r = vmax[self.mem[ax][tuple(lo)]] / km[self.mem[ax][tuple(lo)]]
            pump[tuple(lo)] += r
            pump[tuple(hi)] += r
        rate = ((gsum if diffusion else 0.0) + pump) * self.fu[lab] / (self.alpha[lab] * h) + self.k[lab]
        if self.flow is not None:   # upwind advection: what the flow carries out of each cell
            rate = rate + self.flow.outflow_rate_per_s()
        elif self.flow_u > 0:
            rate = rate + np.where(lab == self.geom.index(self.blood), self.flow_u / h, 0.0)
        rate = np.where(self.fixed[lab] > 0, 0.0, rate)
        rmax = float(rate.max()) if rate.size else 0.0
        return math.inf if rmax <= 0 else 1.0 / rmax

    def op_args(self) -> dict:
        """The per-label and per-membrane arguments of ``torch.ops.bbbcore.transport_explicit`` /
        ``transport_adi`` (membrane id 0 = none)."""
        return dict(fu=self.fu.tolist(), inv_alpha_h=(1.0 / (self.alpha * self.geom.h_m)).tolist(),
                    k_clear=self.k.tolist(), fixed=self.fixed.astype(int).tolist(),
                    eff_vmax=[0.0] + [m.efflux_vmax_mol_m2_s for _, _, m in self.mem_list],
                    eff_km=[1.0] + [m.efflux_km_mol_m3 for _, _, m in self.mem_list],
                    lum_label=[-1] + [a for a, _, _ in self.mem_list],
                    inf_vmax=[0.0] + [m.influx_vmax_mol_m2_s for _, _, m in self.mem_list],
                    inf_km=[1.0] + [m.influx_km_apparent_mol_m3 for _, _, m in self.mem_list],
                    adv_label=self.geom.index(self.blood) if self.flow_u > 0 and self.flow is None else -1,
                    adv_axis=self.flow_axis,
                    adv_u_over_h=self.flow_u / self.geom.h_m)

    # ------------------------------------------------------------------ run
    def run(self, t_end_s: float, record_every_s: float | None = None, *, progress: bool = False,
            record_fields: bool = False) -> Result:
        """Integrate to ``t_end_s`` [s], recording every ``record_every_s`` (default: 100 records).
        The last record is at the last whole step ≤ t_end_s."""
        import bbbcore.ops  # noqa: F401  (registers the op)
        from tqdm.auto import tqdm

        fn = "Simulation.run"
        t_end = _checks.positive(fn, "t_end_s", t_end_s, "s")
        rec = t_end / 100 if record_every_s is None else _checks.positive(fn, "record_every_s", record_every_s, "s")
        if not math.isfinite(self.dt_s):
            self.dt_s = rec
        dt = self.dt_s
        per_rec = max(1, int(round(rec / dt)))
        n_total = int(math.floor(t_end / dt + 1e-9))
        dev = self.device
        lab_np = self.geom.labels
        c0 = self.initial[lab_np.astype(np.int64)]
        if self.plasma is not None:
            c0 = np.where(self.fixed[lab_np.astype(np.int64)] == 1, float(self.plasma(0.0)), c0)
        outlet = None
        if self.flow_u > 0:
            bi = self.geom.index(self.blood)
            if self.blood not in self.initial_given:   # the channel starts filled at the inflow value
                c0 = np.where(lab_np == bi, float(self.plasma(0.0)), c0)
            if self.flow is None:   # plug flow: every blood cell of the last plane, equally
                last = [slice(None)] * 3
                last[self.flow_axis] = -1
                weight = np.zeros(lab_np.shape)
                weight[tuple(last)] = lab_np[tuple(last)] == bi
            else:                   # network: the outlets, weighted by their flow
                weight = self.flow.outlet_speed_m_s
            outlet = torch.as_tensor(weight / weight.sum(), dtype=torch.float64, device=self.device)
            inflow, outflow = [], []
        flow_kw = {}
        if self.flow is not None:
            flow_kw = {k: torch.as_tensor(v, dtype=self.dtype, device=dev)
                       for k, v in zip(("flow_v", "flow_in", "flow_out"), self.flow.rates_per_s())}
        c = torch.as_tensor(c0, dtype=self.dtype, device=dev)
        label = torch.as_tensor(lab_np, dtype=torch.uint8, device=dev)
        G = torch.as_tensor(self.G, dtype=self.dtype, device=dev)
        mem = torch.as_tensor(self.mem, dtype=torch.uint8, device=dev)
        h = self.geom.h_m
        args = self.op_args()
        masks = {n: torch.as_tensor(lab_np == i, device=dev) for i, n in enumerate(self.geom.names)}
        counts = {n: int(masks[n].sum()) for n in self.geom.names}
        times, mt, mu, am, snaps = [], {n: [] for n in masks}, {n: [] for n in masks}, {n: [] for n in masks}, {}
        fu_t = torch.as_tensor(self.fu, dtype=torch.float64, device=dev)
        lab_l = label.long()
        flux = {(self.geom.names[a], self.geom.names[b]): [] for a, b, _ in self.mem_list}

        def membrane_fluxes():
            """Net rate [mol/s] across each membrane type into its abluminal compartment."""
            u = fu_t[lab_l] * c.double()
            area = h * h
            for mid, (a_l, b_l, m) in enumerate(self.mem_list, start=1):
                tot = 0.0
                for ax in range(3):
                    lo = [slice(None)] * 3
                    hi = [slice(None)] * 3
                    lo[ax] = slice(0, -1)
                    hi[ax] = slice(1, None)
                    lo, hi = tuple(lo), tuple(hi)
                    sel = mem[ax][lo] == mid
                    if not bool(sel.any()):
                        continue
                    g = G[ax][lo].double()
                    ul, uh = u[lo], u[hi]
                    lo_is_lum = lab_l[lo] == a_l
                    # passive, oriented luminal → abluminal
                    passive = torch.where(lo_is_lum, g * (ul - uh), g * (uh - ul))
                    u_ab = torch.where(lo_is_lum, uh, ul)
                    u_lum = torch.where(lo_is_lum, ul, uh)
                    pump = m.efflux_vmax_mol_m2_s * u_ab / (m.efflux_km_mol_m3 + u_ab)
                    kin = m.influx_km_apparent_mol_m3
                    carry = m.influx_vmax_mol_m2_s * u_lum / (kin + u_lum)
                    tot += float(((passive + carry - pump) * sel).sum()) * area
                flux[(self.geom.names[a_l], self.geom.names[b_l])].append(tot)

        def record(step):
            t = step * dt
            times.append(t)
            cd = c.double()
            for i, n in enumerate(self.geom.names):
                s = float(cd[masks[n]].sum()) if counts[n] else 0.0
                mean = s / counts[n] if counts[n] else float("nan")
                mt[n].append(mean)
                mu[n].append(self.fu[i] * mean)
                am[n].append(self.alpha[i] * h ** 3 * s)
            if record_fields:
                snaps[float(t)] = c.cpu().numpy().copy()
            membrane_fluxes()
            if outlet is not None:
                inflow.append(float(self.plasma(t)))
                outflow.append(float((cd * outlet).sum()))

        record(0)
        step = 0
        bar = tqdm(total=n_total, desc=f"transport {self.drug.name}", unit="step", disable=not progress)
        while step < n_total:
            n = min(per_rec, n_total - step)
            tv = (step + 1 + np.arange(n)) * dt
            pv = self.plasma(tv) if self.plasma is not None else np.zeros(n)
            fixed_values = torch.as_tensor(pv, dtype=self.dtype, device=dev)
            if self.stepper == "adi":
                c = torch.ops.bbbcore.transport_adi(c, label, G, mem, fixed_values, dt_s=dt, steps=n,
                                                    theta=self.theta, **args, **flow_kw)
            else:
                c = torch.ops.bbbcore.transport_explicit(c, label, G, mem, fixed_values, dt_s=dt, steps=n, **args,
                                                         **flow_kw)
            step += n
            record(step)
            bar.update(n)
        bar.close()
        return Result(np.asarray(times), self.geom.names, {k: np.asarray(v) for k, v in mt.items()},
                      {k: np.asarray(v) for k, v in mu.items()}, {k: np.asarray(v) for k, v in am.items()},
                      snaps, dt, {k: np.asarray(v) for k, v in flux.items()},
                      None if outlet is None else np.asarray(inflow), None if outlet is None else np.asarray(outflow))
