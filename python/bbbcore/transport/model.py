"""Drugs, membranes and plasma curves of the BBB transport model (SI units throughout)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

from bbbcore import _checks

__all__ = ["Drug", "Membrane", "Plasma"]


@dataclass(frozen=True)
class Drug:
    """A drug: free diffusivity [m²/s], unbound fractions in plasma and brain, brain ECS
    tortuosity λ (brain diffusivity D/λ²).

    Optional metadata (the drug library fills it, see :mod:`bbbcore.transport.drugs`): molar mass
    [g/mol], logP, the drug's BBB membrane (passive permeability, carrier influx, efflux; used by
    :class:`~bbbcore.transport.Simulation` when no ``membranes`` are given), the literature Kp,uu
    with its species, and the source of every number (``sources``: field name → citation)."""

    name: str
    diffusivity_m2_s: float
    fu_plasma: float = 1.0
    fu_brain: float = 1.0
    tortuosity: float = 1.6
    mw_g_mol: float | None = None
    logp: float | None = None
    bbb: "Membrane | None" = None
    kp_uu_reference: float | None = None
    kp_uu_species: str | None = None
    sources: Mapping[str, str] = field(default_factory=dict)
    notes: str = ""

    def __post_init__(self):
        fn = "Drug"
        _checks.positive(fn, "diffusivity_m2_s", self.diffusivity_m2_s, "m²/s")
        for arg in ("fu_plasma", "fu_brain"):
            v = getattr(self, arg)
            if not (0.0 < float(v) <= 1.0):
                _checks.fail(fn, arg, "in (0, 1]", v)
        if not float(self.tortuosity) >= 1.0:
            _checks.fail(fn, "tortuosity", "≥ 1", self.tortuosity)
        if self.mw_g_mol is not None:
            _checks.positive(fn, "mw_g_mol", self.mw_g_mol, "g/mol")
        if self.bbb is not None and not isinstance(self.bbb, Membrane):
            _checks.fail(fn, "bbb", "a bbbcore.transport.Membrane or None", type(self.bbb).__name__)
        if self.kp_uu_reference is not None:
            _checks.positive(fn, "kp_uu_reference", self.kp_uu_reference, "")


@dataclass(frozen=True)
class Membrane:
    """A membrane face type between a luminal (blood-side) and an abluminal compartment.

    Fluxes per unit face area [mol m⁻² s⁻¹], all driven by unbound concentrations C_u:

    * passive: ``permeability_m_s``·(C_u,lum − C_u,ab), in series with the diffusion of both half
      cells;
    * efflux (P-gp-like) from the abluminal to the luminal side:
      ``efflux_vmax_mol_m2_s``·C_u,ab/(``efflux_km_mol_m3`` + C_u,ab);
    * carrier influx (LAT1-like) from the luminal to the abluminal side, competitively inhibited by
      an endogenous substrate at ``competitor_mol_m3`` with inhibition constant
      ``competitor_ki_mol_m3``: ``influx_vmax_mol_m2_s``·C_u,lum/(Km_app + C_u,lum),
      Km_app = ``influx_km_mol_m3``·(1 + S/Ki) (:attr:`influx_km_apparent_mol_m3`).

    In the linear regime (C ≪ Km) the carriers act as permeabilities Vmax/Km_app (influx) and
    Vmax/Km (efflux): Kp,uu = (P + P_in)/(P + P_eff + CL/S) (:meth:`kp_uu_linear`).
    """

    permeability_m_s: float
    efflux_vmax_mol_m2_s: float = 0.0
    efflux_km_mol_m3: float = 1.0
    influx_vmax_mol_m2_s: float = 0.0
    influx_km_mol_m3: float = 1.0
    competitor_mol_m3: float = 0.0
    competitor_ki_mol_m3: float = 1.0

    def __post_init__(self):
        fn = "Membrane"
        for arg, unit in (("permeability_m_s", "m/s"), ("efflux_vmax_mol_m2_s", "mol m⁻² s⁻¹"),
                          ("influx_vmax_mol_m2_s", "mol m⁻² s⁻¹"), ("competitor_mol_m3", "mol/m³")):
            v = getattr(self, arg)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                _checks.fail(fn, arg, f"finite and ≥ 0 {unit}", v)
        for arg in ("efflux_km_mol_m3", "influx_km_mol_m3", "competitor_ki_mol_m3"):
            _checks.positive(fn, arg, getattr(self, arg), "mol/m³")

    @property
    def influx_km_apparent_mol_m3(self) -> float:
        """Km of the carrier influx in the presence of the competitor, Km·(1 + S/Ki)."""
        return self.influx_km_mol_m3 * (1.0 + self.competitor_mol_m3 / self.competitor_ki_mol_m3)

    @property
    def influx_permeability_m_s(self) -> float:
        """Linear-regime carrier influx permeability Vmax/Km_app [m/s]."""
        return self.influx_vmax_mol_m2_s / self.influx_km_apparent_mol_m3

    @property
    def efflux_permeability_m_s(self) -> float:
        """Linear-regime efflux permeability Vmax/Km [m/s]."""
        return self.efflux_vmax_mol_m2_s / self.efflux_km_mol_m3

    def kp_uu_linear(self, clearance_m_s: float = 0.0) -> float:
        """Steady-state Kp,uu of a brain region behind this membrane in the linear regime,
        (P + P_in)/(P + P_eff + CL/S); ``clearance_m_s`` = brain clearance per barrier area
        (k·V_ECS/S) [m/s]."""
        num = self.permeability_m_s + self.influx_permeability_m_s
        den = self.permeability_m_s + self.efflux_permeability_m_s + float(clearance_m_s)
        if not den > 0:
            _checks.fail("Membrane.kp_uu_linear", "the membrane", "some passive or efflux permeability or clearance", den)
        return num / den


@dataclass(frozen=True)
class Plasma:
    """Total plasma concentration over time [mol/m³] applied in the blood compartment."""

    kind: str
    value: Callable[[np.ndarray], np.ndarray]

    def __call__(self, t_s):
        return self.value(np.asarray(t_s, np.float64))

    @staticmethod
    def constant(c_mol_m3: float) -> "Plasma":
        c = _checks.non_negative("Plasma.constant", "c_mol_m3", c_mol_m3, "mol/m³")
        return Plasma("constant", lambda t: np.full(np.shape(t), c))

    @staticmethod
    def bolus(a_mol_m3: float, alpha_per_s: float, b_mol_m3: float = 0.0, beta_per_s: float = 0.0) -> "Plasma":
        """Bi-exponential decay A·e^(−αt) + B·e^(−βt)."""
        fn = "Plasma.bolus"
        a = _checks.non_negative(fn, "a_mol_m3", a_mol_m3, "mol/m³")
        al = _checks.non_negative(fn, "alpha_per_s", alpha_per_s, "1/s")
        b = _checks.non_negative(fn, "b_mol_m3", b_mol_m3, "mol/m³")
        be = _checks.non_negative(fn, "beta_per_s", beta_per_s, "1/s")
        return Plasma("bolus", lambda t: a * np.exp(-al * t) + b * np.exp(-be * t))

    @staticmethod
    def infusion(rate_mol_m3_s: float, duration_s: float, elimination_per_s: float = 0.0,
                 start_s: float = 0.0) -> "Plasma":
        """Constant-rate infusion into a one-compartment body from ``start_s`` for ``duration_s``:
        dC/dt = R − k·C, so C = (R/k)(1 − e^(−k(t − t0))) during the infusion and
        C(t_end)·e^(−k(t − t_end)) after it (k = 0: a ramp R·(t − t0), then constant).
        ``rate_mol_m3_s`` R is the dosing rate over the volume of distribution [mol m⁻³ s⁻¹]."""
        fn = "Plasma.infusion"
        r = _checks.non_negative(fn, "rate_mol_m3_s", rate_mol_m3_s, "mol m⁻³ s⁻¹")
        T = _checks.non_negative(fn, "duration_s", duration_s, "s")
        k = _checks.non_negative(fn, "elimination_per_s", elimination_per_s, "1/s")
        t0 = _checks.non_negative(fn, "start_s", start_s, "s")

        def rise(tau):
            tau = np.clip(tau, 0.0, None)
            return r * tau if k == 0 else (r / k) * -np.expm1(-k * tau)

        def value(t):
            on = np.clip(t - t0, 0.0, T)
            c_on = rise(on)
            after = np.clip(t - t0 - T, 0.0, None)
            return c_on * np.exp(-k * after)

        return Plasma("infusion", value)

    @staticmethod
    def table(times_s: Sequence[float], c_mol_m3: Sequence[float]) -> "Plasma":
        """Linear interpolation of a measured curve (held constant outside it)."""
        fn = "Plasma.table"
        t = np.asarray(times_s, np.float64)
        c = np.asarray(c_mol_m3, np.float64)
        if t.ndim != 1 or t.shape != c.shape or t.size < 1 or np.any(np.diff(t) <= 0):
            _checks.fail(fn, "times_s", "increasing times matching c_mol_m3", f"{t.shape} vs {c.shape}")
        if np.any(c < 0) or not np.all(np.isfinite(c)):
            _checks.fail(fn, "c_mol_m3", "finite and ≥ 0", "negative or non-finite values")
        return Plasma("table", lambda tt: np.interp(tt, t, c))
