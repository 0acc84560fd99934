"""The analytic cases of SCIENCE.md through the public API: steady two-slab flux through a
membrane, erfc half-space with second-order convergence in space, penetration length √(D/k),
geometry builders."""
from __future__ import annotations

import math

import numpy as np
import pytest

from bbbcore import transport as T

BIG = 1e-6  # m²/s: reservoirs that are well mixed on the scale of the test


def test_steady_two_slab_flux_and_jump():
    """Plasma 1 | membrane P | brain slab L | sink 0: J = ΔC/(1/P + L/(αD)) (+ the reservoirs'
    half cells), the profile in the slab linear, the jump across the membrane J/P."""
    h, P, D, alpha = 1e-6, 2e-6, 4e-10, 0.2
    geom = T.slab_geometry([("blood", 2.0), ("brain", 20.0), ("sink", 2.0)], voxel_size_um=1.0,
                           cross_section=(1, 1))
    drug = T.Drug("x", D, tortuosity=1.0)
    sim = T.Simulation(geom, drug, {("blood", "brain"): T.Membrane(P)}, plasma=T.Plasma.constant(1.0),
                       held={"sink": 0.0}, diffusivity_m2_s={"blood": BIG, "sink": BIG},
                       brain_accessible_fraction=alpha, stepper="adi", dt_s=0.05)
    res = sim.run(t_end_s=200.0, record_every_s=50.0, record_fields=True)
    c = res.concentration(res.times_s[-1])[0, 0]
    brain = c[2:22].astype(np.float64)
    L = 20 * h
    resist = h / (2 * BIG) + 1 / P + L / (alpha * D) + h / (2 * BIG)
    J = 1.0 / resist
    J_field = alpha * D * (brain[:-1] - brain[1:]) / h                 # every interior face
    np.testing.assert_allclose(J_field, J, rtol=2e-3)
    face = brain[0] + (brain[0] - brain[1]) / 2                         # brain side of the membrane
    assert 1.0 - face == pytest.approx(J / P + J * h / (2 * BIG), rel=2e-3)


def _erfc_error(h_um: float) -> float:
    D = 1e-9
    L_um = 160.0          # far wall: its reflection stays below 1e-12 near the bath
    geom = T.slab_geometry([("bath", h_um), ("brain", L_um)], voxel_size_um=h_um, cross_section=(1, 1))
    sim = T.Simulation(geom, T.Drug("x", D, tortuosity=1.0), held={"bath": 1.0},
                       diffusivity_m2_s={"bath": BIG * 1e3}, brain_accessible_fraction=1.0)
    t_end = 0.3
    res = sim.run(t_end_s=t_end, record_every_s=t_end, record_fields=True)
    t = res.times_s[-1]
    c = res.concentration(t)[0, 0, 1:].astype(np.float64)
    x = (np.arange(c.size) + 0.5) * h_um * 1e-6
    exact = np.array([math.erfc(v / (2 * math.sqrt(D * t))) for v in x])
    near = x < 60e-6
    return float(np.sqrt(np.mean((c[near] - exact[near]) ** 2)))


def test_erfc_half_space_second_order():
    e1 = _erfc_error(2.0)
    e2 = _erfc_error(1.0)
    assert e2 < 5e-3
    assert e1 / e2 > 3.0          # second order: 4 in the limit


def test_penetration_length():
    """Steady state with first-order clearance k: C = C0 exp(−x/√(D/k)) from a held boundary."""
    D, k = 1e-9, 10.0
    lam = math.sqrt(D / k)                                   # 10 µm
    geom = T.slab_geometry([("bath", 1.0), ("brain", 100.0)], voxel_size_um=1.0, cross_section=(1, 1))
    sim = T.Simulation(geom, T.Drug("x", D, tortuosity=1.0), held={"bath": 1.0},
                       diffusivity_m2_s={"bath": BIG}, clearance_per_s={"brain": k},
                       brain_accessible_fraction=1.0, stepper="adi", dt_s=0.01)
    res = sim.run(t_end_s=5.0, record_every_s=5.0, record_fields=True)
    c = res.concentration(res.times_s[-1])[0, 0, 1:60].astype(np.float64)
    slope = np.polyfit(np.arange(10, 40) * 1e-6, np.log(c[10:40]), 1)[0]
    assert -1.0 / slope == pytest.approx(lam, rel=0.01)


def test_geometry_builders():
    g = T.krogh_geometry(3.0, 12.0, 5.0, voxel_size_um=1.0)
    area_blood = (g.labels[0] == 0).sum()
    assert abs(area_blood - math.pi * 9) < 8 and g.names == ("blood", "brain", "void")
    lat = T.lattice_geometry(20.0, 4.0, cells=(2, 2), length_um=3.0)
    assert lat.shape == (3, 40, 40) and abs((lat.labels[0] == 0).sum() / 4 - math.pi * 16) < 10
    m = np.zeros((4, 5, 6), bool)
    m[:, 2, :] = True
    v = T.from_vessel_mask(m, 0.5)
    assert v.voxel_size_um == 0.5 and (v.labels == 0).sum() == m.sum()
    with pytest.raises(ValueError, match=r"krogh_geometry: capillary_radius_um must be < tissue_radius_um"):
        T.krogh_geometry(5.0, 4.0)
    with pytest.raises(ValueError, match=r"from_vessel_mask: mask must be a \(Z, Y, X\) array"):
        T.from_vessel_mask(np.zeros((3, 3)), 1.0)


def test_kp_uu_closed_form_with_efflux_and_clearance():
    """Well-mixed slab (D/h ≫ P): Kp,uu = P/(P + P_efflux + CL/S), P_efflux = Vmax/Km (linear
    regime), CL/S = k·α·L (clearance per membrane area)."""
    P, vmax, km, k, alpha, L = 1e-6, 1e-2, 1e4, 0.5, 0.2, 10e-6
    geom = T.slab_geometry([("blood", 1.0), ("brain", 10.0)], voxel_size_um=1.0, cross_section=(1, 1))
    sim = T.Simulation(geom, T.Drug("x", 1e-8, tortuosity=1.0),
                       {("blood", "brain"): T.Membrane(P, efflux_vmax_mol_m2_s=vmax, efflux_km_mol_m3=km)},
                       plasma=T.Plasma.constant(1.0), clearance_per_s={"brain": k}, brain_accessible_fraction=alpha,
                       stepper="adi", dt_s=0.01)
    res = sim.run(t_end_s=20.0, record_every_s=5.0)
    expect = P / (P + vmax / km + k * alpha * L)
    assert res.kp_uu() == pytest.approx(expect, rel=5e-3)


def test_membrane_flux_accounts_for_the_brain_amount():
    """Without clearance, d(amount in brain)/dt equals the recorded net membrane flux."""
    geom = T.slab_geometry([("blood", 2.0), ("brain", 10.0)], voxel_size_um=1.0, cross_section=(2, 2))
    sim = T.Simulation(geom, T.Drug("x", 5e-10), {("blood", "brain"): T.Membrane(1e-6, 1e-7, 0.5)},
                       plasma=T.Plasma.constant(1.0))
    res = sim.run(t_end_s=20.0, record_every_s=0.5)
    amount = res.amount_mol["brain"]
    flux = res.membrane_flux_mol_s[("blood", "brain")]
    rate = np.gradient(amount, res.times_s)
    np.testing.assert_allclose(rate[2:-2], flux[2:-2], rtol=0.03, atol=0.01 * flux[0])
    assert res.auc("brain") > 0 and 0 < res.half_time_s("brain") < 20.0
