"""Drugs, membranes and plasma curves of the BBB transport model (SI units throughout)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from bbbcore import _checks

__all__ = ["Drug", "Membrane", "Plasma"]


@dataclass(frozen=True)
class Drug:
    """A drug: free diffusivity [m²/s], unbound fractions in plasma and brain, brain ECS
    tortuosity λ (brain diffusivity D/λ²)."""

    name: str
    diffusivity_m2_s: float
    fu_plasma: float = 1.0
    fu_brain: float = 1.0
    tortuosity: float = 1.6

    def __post_init__(self):
        fn = "Drug"
        _checks.positive(fn, "diffusivity_m2_s", self.diffusivity_m2_s, "m²/s")
        for arg in ("fu_plasma", "fu_brain"):
            v = getattr(self, arg)
            if not (0.0 < float(v) <= 1.0):
                _checks.fail(fn, arg, "in (0, 1]", v)
        if not float(self.tortuosity) >= 1.0:
            _checks.fail(fn, "tortuosity", "≥ 1", self.tortuosity)


@dataclass(frozen=True)
class Membrane:
    """A membrane face type: passive permeability [m/s] and Michaelis–Menten efflux towards the
    luminal (blood) side, J = Vmax·C_u/(Km + C_u) [mol m⁻² s⁻¹], Km [mol/m³]."""

    permeability_m_s: float
    efflux_vmax_mol_m2_s: float = 0.0
    efflux_km_mol_m3: float = 1.0

    def __post_init__(self):
        fn = "Membrane"
        if not (math.isfinite(self.permeability_m_s) and self.permeability_m_s >= 0):
            _checks.fail(fn, "permeability_m_s", "finite and ≥ 0 m/s", self.permeability_m_s)
        if not (math.isfinite(self.efflux_vmax_mol_m2_s) and self.efflux_vmax_mol_m2_s >= 0):
            _checks.fail(fn, "efflux_vmax_mol_m2_s", "finite and ≥ 0 mol m⁻² s⁻¹", self.efflux_vmax_mol_m2_s)
        _checks.positive(fn, "efflux_km_mol_m3", self.efflux_km_mol_m3, "mol/m³")


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
