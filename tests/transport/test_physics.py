"""Carrier influx with competition, Michaelis–Menten decay (Lambert W), the Krogh cylinder,
infusion, pores and drug-default membranes, through the public API against closed forms."""
import numpy as np
import pytest

from bbbcore import transport as T

special = pytest.importorskip("scipy.special")


def _mixed_slab(brain_um=1.0):
    """Blood (1 cell) | membrane | brain (one cell thick by default: exactly well mixed)."""
    return T.slab_geometry([("blood", 1.0), ("brain", brain_um)], voxel_size_um=1.0, cross_section=(1, 1))


def test_carrier_influx_with_competition_gives_the_linear_kp_uu():
    """Kp,uu = (P + Vin/Km_app)/(P + Veff/Km + CL/S), Km_app = Km(1 + S/Ki), in the linear regime;
    the simulation, the closed form and Membrane.kp_uu_linear agree."""
    P, vin, km_in, S, Ki, veff, km_eff, k, alpha, L = 1e-6, 1.2e-1, 1e4, 2.0, 1.0, 1e-2, 1e4, 0.5, 0.2, 10e-6
    mem = T.Membrane(P, efflux_vmax_mol_m2_s=veff, efflux_km_mol_m3=km_eff, influx_vmax_mol_m2_s=vin,
                     influx_km_mol_m3=km_in, competitor_mol_m3=S, competitor_ki_mol_m3=Ki)
    geom = _mixed_slab(10.0)
    sim = T.Simulation(geom, T.Drug("x", 1e-8, tortuosity=1.0), {("blood", "brain"): mem},
                       plasma=T.Plasma.constant(1.0), clearance_per_s={"brain": k}, brain_accessible_fraction=alpha,
                       stepper="adi", dt_s=0.01)
    res = sim.run(t_end_s=30.0, record_every_s=5.0)
    km_app = km_in * (1 + S / Ki)
    expect = (P + vin / km_app) / (P + veff / km_eff + k * alpha * L)
    assert mem.influx_km_apparent_mol_m3 == pytest.approx(km_app)
    assert mem.kp_uu_linear(clearance_m_s=k * alpha * L) == pytest.approx(expect)
    assert expect > 1.5                                  # net influx: above unity
    assert res.kp_uu() == pytest.approx(expect, rel=5e-3)
    # without the competitor the carrier is three times as active
    free = T.Membrane(P, efflux_vmax_mol_m2_s=veff, efflux_km_mol_m3=km_eff, influx_vmax_mol_m2_s=vin,
                      influx_km_mol_m3=km_in)
    assert free.influx_permeability_m_s == pytest.approx(3 * mem.influx_permeability_m_s)


def test_saturated_influx_steady_state():
    """Plasma far above Km: the carrier delivers Vmax·Cp/(Km + Cp) whatever the brain holds, so the
    steady brain concentration solves P(Cp − Cb) + Vmax·Cp/(Km + Cp) = k·α·L·Cb exactly."""
    P, vin, km, k, alpha = 1e-7, 2e-6, 0.05, 1.0, 0.2
    L = 1e-6
    cp = 2.0
    sim = T.Simulation(_mixed_slab(), T.Drug("x", 1e-9, tortuosity=1.0),
                       {("blood", "brain"): T.Membrane(P, influx_vmax_mol_m2_s=vin, influx_km_mol_m3=km)},
                       plasma=T.Plasma.constant(cp), clearance_per_s={"brain": k}, brain_accessible_fraction=alpha,
                       stepper="explicit")
    res = sim.run(t_end_s=20.0, record_every_s=5.0)
    cb = (P * cp + vin * cp / (km + cp)) / (P + k * alpha * L)
    assert res.mean_unbound("brain")[-1] == pytest.approx(cb, rel=1e-4)
    # the recorded membrane flux is the clearance at steady state
    assert res.membrane_flux_mol_s[("blood", "brain")][-1] == pytest.approx(k * alpha * L * cb * 1e-12, rel=1e-3)


def _mm_decay(c0, vmax, km, alpha, L, t):
    """C(t) of dC/dt = −a·C/(Km + C), a = Vmax/(α L): Km·W((C0/Km)·exp((C0 − a t)/Km))."""
    a = vmax / (alpha * L)
    arg = (c0 / km) * np.exp((c0 - a * t) / km)
    return km * np.real(special.lambertw(arg))


@pytest.mark.parametrize("c0,km", [(1.0, 1.0), (0.01, 1.0), (100.0, 1.0)])
def test_michaelis_menten_efflux_decay_lambert_w(c0, km):
    """A well-mixed brain cell emptied by efflux into a zero plasma (P = 0): the Lambert-W
    solution, and its first-order (C0 ≪ Km) and zero-order (C0 ≫ Km) limits."""
    vmax, alpha, L = 1e-6, 0.2, 1e-6          # a = 5 mol m⁻³ s⁻¹
    a = vmax / (alpha * L)
    t_end = 0.8 * (c0 + km * np.log(2)) / a     # most of the way down
    sim = T.Simulation(_mixed_slab(), T.Drug("x", 1e-9, tortuosity=1.0),
                       {("blood", "brain"): T.Membrane(0.0, efflux_vmax_mol_m2_s=vmax, efflux_km_mol_m3=km)},
                       plasma=T.Plasma.constant(0.0), initial={"brain": c0}, brain_accessible_fraction=alpha,
                       dt_s=t_end / 4000)
    res = sim.run(t_end_s=t_end, record_every_s=t_end / 8)
    got = res.mean_unbound("brain")
    expect = _mm_decay(c0, vmax, km, alpha, L, res.times_s)
    np.testing.assert_allclose(got, expect, rtol=2e-3, atol=1e-4 * c0)
    if c0 < 0.1 * km:       # first order: exp(−a t/Km)
        np.testing.assert_allclose(got, c0 * np.exp(-a * res.times_s / km), rtol=2e-2)
    if c0 > 10 * km:        # zero order early: C0 − a t
        early = res.times_s < 0.5 * c0 / a
        np.testing.assert_allclose(got[early], c0 - a * res.times_s[early], rtol=2e-2)


def _krogh_error(h_um):
    """Max relative error of the radial steady-state profile in a Krogh cylinder (wall held at
    C0 through a very permeable membrane, first-order clearance k, no flux at R) against
    C0·[K1(R/λ) I0(r/λ) + I1(R/λ) K0(r/λ)] / [K1(R/λ) I0(rc/λ) + I1(R/λ) K0(rc/λ)], λ = √(D/k)."""
    rc, R, D, k = 3.0, 20.0, 5e-10, 2.0
    geom = T.krogh_geometry(rc, R, h_um, voxel_size_um=h_um)
    sim = T.Simulation(geom, T.Drug("x", D, tortuosity=1.0), {("blood", "brain"): T.Membrane(1.0)},
                       plasma=T.Plasma.constant(1.0), clearance_per_s={"brain": k}, brain_accessible_fraction=1.0,
                       stepper="adi", dt_s=0.005)
    res = sim.run(t_end_s=6.0, record_every_s=3.0, record_fields=True)
    field = res.concentration(6.0)[0]
    n = field.shape[0]
    c = (np.arange(n) + 0.5) * h_um - n * h_um / 2
    r = np.hypot(c[:, None], c[None, :])
    lam = np.sqrt(D / k) * 1e6      # µm
    s = special

    def exact(rr):
        num = s.k1(R / lam) * s.i0(rr / lam) + s.i1(R / lam) * s.k0(rr / lam)
        den = s.k1(R / lam) * s.i0(rc / lam) + s.i1(R / lam) * s.k0(rc / lam)
        return num / den

    sel = (r > rc + 2.0) & (r < R - 2.0)
    return float(np.max(np.abs(field[sel] - exact(r[sel])) / exact(r[sel])))


def test_krogh_cylinder_bessel_profile_converges():
    e1, e05 = _krogh_error(1.0), _krogh_error(0.5)
    assert e05 < 0.01
    assert e05 < 0.75 * e1


def test_infusion_plasma_curve():
    p = T.Plasma.infusion(rate_mol_m3_s=0.2, duration_s=10.0, elimination_per_s=0.1, start_s=5.0)
    t = np.array([0.0, 5.0, 10.0, 15.0, 25.0])
    css = 0.2 / 0.1
    c15 = css * (1 - np.exp(-1.0))
    np.testing.assert_allclose(p(t), [0.0, 0.0, css * (1 - np.exp(-0.5)), c15, c15 * np.exp(-1.0)])
    ramp = T.Plasma.infusion(0.5, 4.0)
    np.testing.assert_allclose(ramp(np.array([1.0, 4.0, 9.0])), [0.5, 2.0, 2.0])
    with pytest.raises(ValueError, match="duration_s"):
        T.Plasma.infusion(1.0, -1.0)


def test_pores_raise_the_local_permeability():
    """Pores on every membrane face act as P + P_pore; on none they change nothing."""
    geom = _mixed_slab(10.0)
    drug = T.Drug("x", 1e-8, tortuosity=1.0)
    kw = dict(plasma=T.Plasma.constant(1.0), clearance_per_s={"brain": 0.5}, stepper="adi", dt_s=0.01)
    everywhere = np.ones(geom.shape, bool)
    a = T.Simulation(geom, drug, {("blood", "brain"): T.Membrane(1e-6)}, pores=(everywhere, 2e-6), **kw)
    b = T.Simulation(geom, drug, {("blood", "brain"): T.Membrane(3e-6)}, **kw)
    np.testing.assert_allclose(a.G, b.G, rtol=1e-12)
    c = T.Simulation(geom, drug, {("blood", "brain"): T.Membrane(1e-6)}, pores=(~everywhere, 2e-6), **kw)
    d = T.Simulation(geom, drug, {("blood", "brain"): T.Membrane(1e-6)}, **kw)
    np.testing.assert_allclose(c.G, d.G, rtol=1e-12)
    with pytest.raises(ValueError, match="pores"):
        T.Simulation(geom, drug, {("blood", "brain"): T.Membrane(1e-6)}, pores=(np.ones((2, 2, 2), bool), 1e-6),
                     **kw)


def test_drug_bbb_membrane_is_the_default():
    mem = T.Membrane(2e-6, efflux_vmax_mol_m2_s=1e-3, efflux_km_mol_m3=100.0)
    geom = _mixed_slab(4.0)
    drug = T.Drug("x", 1e-9, bbb=mem)
    a = T.Simulation(geom, drug, plasma=T.Plasma.constant(1.0))
    b = T.Simulation(geom, T.Drug("x", 1e-9), {("blood", "brain"): mem}, plasma=T.Plasma.constant(1.0))
    np.testing.assert_array_equal(a.G, b.G)
    assert a.op_args() == b.op_args()
    with pytest.raises(ValueError, match="bbb"):
        T.Drug("x", 1e-9, bbb="P-gp")


def test_membrane_bad_input():
    with pytest.raises(ValueError, match="influx_vmax_mol_m2_s"):
        T.Membrane(1e-6, influx_vmax_mol_m2_s=-1.0)
    with pytest.raises(ValueError, match="competitor_ki_mol_m3"):
        T.Membrane(1e-6, competitor_ki_mol_m3=0.0)
    with pytest.raises(ValueError, match="permeability_m_s"):
        T.Membrane(float("nan"))


@pytest.mark.parametrize("stepper", ["explicit", "adi"])
def test_renkin_crone_extraction_of_the_blood_channel(stepper):
    """Plug flow through a Krogh capillary into tissue held at 0: at steady state the extraction
    is E = 1 − exp(−PS/F), S the model's exchange area (its membrane faces), F = u·A_lumen, and
    P the face conductance (the membrane in series with the blood half cell)."""
    P, u, D, h = 1e-6, 3e-4, 5e-10, 1e-6
    geom = T.krogh_geometry(3.0, 8.0, 100.0, voxel_size_um=1.0)
    sim = T.Simulation(geom, T.Drug("x", D, tortuosity=1.0), {("blood", "brain"): T.Membrane(P)},
                       plasma=T.Plasma.constant(1.0), held={"brain": 0.0}, blood_flow_m_s=u, flow_axis=0,
                       stepper=stepper)
    res = sim.run(t_end_s=2.0, record_every_s=0.5)
    g = 1.0 / (h / (2 * D) + 1.0 / P)
    S = sim.membrane_area_m2()
    F = u * float((geom.labels[0] == 0).sum()) * h * h
    expect = 1.0 - np.exp(-g * S / F)
    assert 0.1 < expect < 0.5
    assert res.extraction()[-1] == pytest.approx(expect, rel=1e-2)
    # the flux into the tissue is what the blood lost: F·(C_in − C_out)
    assert res.membrane_flux_mol_s[("blood", "brain")][-1] == pytest.approx(F * expect * 1.0, rel=1e-2)


def test_blood_channel_bad_input():
    geom = T.slab_geometry([("blood", 2.0), ("brain", 4.0)], voxel_size_um=1.0, cross_section=(2, 2))
    drug = T.Drug("x", 1e-9)
    # the layers are along X: no lumen path from the first to the last plane along X
    with pytest.raises(ValueError, match="lumen that joins the first plane along axis 2 to the last"):
        T.Simulation(geom, drug, plasma=T.Plasma.constant(1.0), blood_flow_m_s=1e-3, flow_axis=2)
    with pytest.raises(ValueError, match="plasma"):
        T.Simulation(geom, drug, plasma=None, blood_flow_m_s=1e-3, flow_axis=0)
    with pytest.raises(ValueError, match="blood_flow_m_s"):
        T.Simulation(geom, drug, plasma=T.Plasma.constant(1.0), blood_flow_m_s=-1.0)
    with pytest.raises(ValueError, match="extraction"):
        T.Simulation(geom, drug, plasma=T.Plasma.constant(1.0)).run(1e-3).extraction()


def test_adi_stable_far_beyond_the_carrier_and_clearance_limits():
    """The carriers (linearised), clearance and flow are implicit in the ADI sweeps: at 200× the
    explicit limit of those terms alone the run stays bounded and reaches the linear Kp,uu."""
    P, vin, veff, km, k, alpha, L = 1e-6, 4e-2, 2e-2, 1e4, 5.0, 0.2, 4e-6
    mem = T.Membrane(P, efflux_vmax_mol_m2_s=veff, efflux_km_mol_m3=km, influx_vmax_mol_m2_s=vin,
                     influx_km_mol_m3=km)
    geom = _mixed_slab(4.0)
    kw = dict(plasma=T.Plasma.constant(1.0), clearance_per_s={"brain": k}, brain_accessible_fraction=alpha)
    ex = T.Simulation(geom, T.Drug("x", 1e-8, tortuosity=1.0), {("blood", "brain"): mem}, **kw)
    dt = 200 * ex.dt_reaction_max_s
    for theta in (0.5, 1.0):
        sim = T.Simulation(geom, T.Drug("x", 1e-8, tortuosity=1.0), {("blood", "brain"): mem}, stepper="adi",
                           dt_s=dt, theta=theta, **kw)
        res = sim.run(t_end_s=400 * dt, record_every_s=40 * dt, record_fields=True)
        for f in res.snapshots.values():
            assert np.all(np.isfinite(f)) and f.max() < 10.0
        expect = (P + vin / km) / (P + veff / km + k * alpha * L)
        assert res.kp_uu() == pytest.approx(expect, rel=2e-2)
    with pytest.raises(ValueError, match="theta"):
        T.Simulation(geom, T.Drug("x", 1e-8), stepper="adi", theta=0.3, **kw)
