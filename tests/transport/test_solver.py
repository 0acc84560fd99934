"""bbbcore.transport, explicit and ADI steppers: the ops against the NumPy float64 reference, conservation,
analytic cases, bad input, CPU/CUDA agreement."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bbbcore import transport as T
from bbbcore.reference.transport import explicit_step_ref

from tests.conftest import HAS_CUDA


def _random_case(seed=0, shape=(5, 6, 7)):
    rng = np.random.default_rng(seed)
    label = (rng.random(shape) < 0.4).astype(np.uint8)          # 0 blood-like, 1 brain-like
    c = rng.random(shape).astype(np.float32)
    G = (rng.random((3, *shape)) * 1e-3).astype(np.float32)
    for a in range(3):                                            # far faces conduct nothing
        idx = [slice(None)] * 4
        idx[0] = a
        idx[a + 1] = -1
        G[tuple(idx)] = 0.0
    mem = np.zeros((3, *shape), np.uint8)
    for a in range(3):
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[a] = slice(0, -1)
        hi[a] = slice(1, None)
        diff = label[tuple(lo)] != label[tuple(hi)]
        m = mem[a]
        m[tuple(lo)] = np.where(diff, 1, 0)
    kw = dict(fu=[0.8, 0.5], inv_alpha_h=[1e6, 5e6], k_clear=[0.0, 0.3], fixed=[0, 0], eff_vmax=[0.0, 2e-4],
              eff_km=[1.0, 0.5], lum_label=[-1, 0], inf_vmax=[0.0, 1.5e-4], inf_km=[1.0, 0.7],
              adv_label=0, adv_axis=2, adv_u_over_h=50.0)
    return c, label, G, mem, kw


def test_op_matches_reference(device):
    c, label, G, mem, kw = _random_case()
    dt, steps = 1e-4, 5
    ref = c.astype(np.float64)
    for _ in range(steps):
        ref = explicit_step_ref(ref, label, G, mem, dt_s=dt, fixed_value=0.7, **kw)   # 0.7: the inflow
    t = lambda a: torch.from_numpy(a).to(device)
    out = torch.ops.bbbcore.transport_explicit(t(c), t(label), t(G), t(mem), torch.full((steps,), 0.7, device=device),
                                               dt_s=dt, steps=steps, **kw)
    np.testing.assert_allclose(out.cpu().numpy(), ref, rtol=1e-5, atol=1e-6)


def test_opcheck(device):
    c, label, G, mem, kw = _random_case(1, (3, 4, 5))
    t = lambda a: torch.from_numpy(a).to(device)
    torch.library.opcheck(torch.ops.bbbcore.transport_explicit.default,
                          (t(c), t(label), t(G), t(mem), torch.zeros(3, device=device)),
                          dict(dt_s=1e-4, steps=3, **kw))


@pytest.mark.parametrize("stepper", ["explicit", "adi"])
def test_float64_op_matches_reference_to_rounding(device, stepper):
    """float64 state: the kernels do the reference's arithmetic in double (to ~1e-15, not 1e-6)."""
    from bbbcore.reference.transport import adi_step_ref

    c, label, G, mem, kw = _random_case(7)
    c, G = c.astype(np.float64) * (1 + 1e-3 * np.arange(c.size).reshape(c.shape) / c.size), G.astype(np.float64)
    dt, steps = (1e-4, 6) if stepper == "explicit" else (1e-3, 4)
    step_ref = explicit_step_ref if stepper == "explicit" else adi_step_ref
    ref = c.copy()
    for _ in range(steps):
        ref = step_ref(ref, label, G, mem, dt_s=dt, fixed_value=0.7, **kw)
    t = lambda a: torch.from_numpy(a).to(device)
    op = getattr(torch.ops.bbbcore, f"transport_{stepper}")
    out = op(t(c), t(label), t(G), t(mem), torch.full((steps,), 0.7, dtype=torch.float64, device=device),
             dt_s=dt, steps=steps, **kw)
    assert out.dtype == torch.float64
    np.testing.assert_allclose(out.cpu().numpy(), ref, rtol=1e-12, atol=1e-14)
    # a float32 run of the same case is off by float32 rounding, far more than that
    out32 = op(t(c.astype(np.float32)), t(label), t(G.astype(np.float32)), t(mem),
               torch.full((steps,), 0.7, device=device), dt_s=dt, steps=steps, **kw)
    assert np.abs(out32.cpu().numpy() - ref).max() > 1e-9


def _random_flow(shape, seed=0, rate=30.0):
    """A random signed face-rate field (not divergence-free: the scheme is conservative anyway)
    with boundary inflow and outflow rates on some cells."""
    rng = np.random.default_rng(seed)
    v = rng.normal(0.0, rate, (3, *shape))
    for a in range(3):
        idx = [slice(None)] * 4
        idx[0] = a
        idx[a + 1] = -1
        v[tuple(idx)] = 0.0                                        # no face beyond the far boundary
    fin = np.where(rng.random(shape) < 0.2, rng.random(shape) * rate, 0.0)
    fout = np.where(rng.random(shape) < 0.2, rng.random(shape) * rate, 0.0)
    return v, fin, fout


@pytest.mark.parametrize("stepper", ["explicit", "adi"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_flow_field_op_matches_reference(device, stepper, dtype):
    """The general flow field (upwind face fluxes + boundary inflow/outflow) in both steppers."""
    from bbbcore.reference.transport import adi_step_ref

    c, label, G, mem, kw = _random_case(8)
    kw["adv_label"] = -1
    v, fin, fout = _random_flow(c.shape, 9)
    dt, steps = (2e-4, 5) if stepper == "explicit" else (2e-3, 4)
    step_ref = explicit_step_ref if stepper == "explicit" else adi_step_ref
    ref = c.astype(np.float64)
    for _ in range(steps):
        ref = step_ref(ref, label, G, mem, dt_s=dt, fixed_value=0.7, flow_v=v, flow_in=fin, flow_out=fout, **kw)
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(device)
    f = lambda a: t(a.astype(dtype))
    op = getattr(torch.ops.bbbcore, f"transport_{stepper}")
    out = op(f(c), t(label), f(G), t(mem), torch.full((steps,), 0.7, dtype=f(c).dtype, device=device),
             dt_s=dt, steps=steps, flow_v=f(v), flow_in=f(fin), flow_out=f(fout), **kw)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(out.cpu().numpy(), ref, **tol)
    # the flow changes the answer (the test would not pass without it)
    one = dict(dt_s=dt, fixed_value=0.7, **kw)
    c64 = c.astype(np.float64)
    assert np.abs(step_ref(c64, label, G, mem, **one)
                  - step_ref(c64, label, G, mem, flow_v=v, flow_in=fin, flow_out=fout, **one)).max() > 1e-3


def test_flow_field_op_bad_input(device):
    c, label, G, mem, kw = _random_case(1, (3, 4, 5))
    v, fin, fout = _random_flow(c.shape)
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a, np.float32)).to(device)
    args = (t(c), torch.from_numpy(label).to(device), t(G), torch.from_numpy(mem).to(device),
            torch.zeros(2, device=device))
    with pytest.raises(ValueError, match=r"transport_explicit: flow_v, flow_in, flow_out must be all three"):
        torch.ops.bbbcore.transport_explicit(*args, dt_s=1e-4, steps=2, flow_v=t(v), **{**kw, "adv_label": -1})
    with pytest.raises(ValueError, match=r"transport_explicit: adv_label must be -1 with a general flow field"):
        torch.ops.bbbcore.transport_explicit(*args, dt_s=1e-4, steps=2, flow_v=t(v), flow_in=t(fin),
                                             flow_out=t(fout), **kw)
    with pytest.raises(ValueError, match=r"transport_explicit: flow_in must be of shape \(3, 4, 5\)"):
        torch.ops.bbbcore.transport_explicit(*args, dt_s=1e-4, steps=2, flow_v=t(v), flow_in=t(fin[:2]),
                                             flow_out=t(fout), **{**kw, "adv_label": -1})


@pytest.mark.parametrize("flow", [False, True])
@pytest.mark.parametrize("stepper", ["explicit", "adi"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_uniform_runs_give_the_generic_update_bit_for_bit(device, stepper, dtype, flow, monkeypatch):
    """The CPU updates runs of cells inside one compartment (stencil loops, ADI rows) and runs of
    fixed cells (fills, identity rows) by vectorised loops; with the runs turned off
    (BBBCORE_TRANSPORT_RUNS=0: every cell takes the generic update and adi_row) the bits are the
    same. The case has compartments, a membrane with efflux, a clearance, a plasma-fixed layer, a
    held reservoir, odd sizes (a partial group of x lines) and optionally a flow field in one row
    (so the runs beside it see a non-null flow field)."""
    rng = np.random.default_rng(11)
    shape = (9, 10, 37)
    label = np.zeros(shape, np.uint8)
    label[:, :, 12:] = 1
    label[:, :, :5] = 2                                                  # fixed (plasma)
    label[:, :, 32:] = 3                                                 # held reservoir
    c = rng.random(shape).astype(dtype)
    g = np.array([2e-3, 7e-4, 0.0, 1e-3])
    G = np.zeros((3, *shape))
    mem = np.zeros((3, *shape), np.uint8)
    for a in range(3):
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[a] = slice(0, -1)
        hi[a] = slice(1, None)
        same = label[tuple(lo)] == label[tuple(hi)]
        G[a][tuple(lo)] = np.where(same, g[label[tuple(lo)]], 4e-4)
        mem[a][tuple(lo)] = np.where((label[tuple(lo)] == 0) & (label[tuple(hi)] == 1), 1, 0)
    G = G.astype(dtype)
    kw = dict(fu=[0.8, 0.5, 1.0, 1.0], inv_alpha_h=[1e6, 5e6, 1e6, 1e6], k_clear=[0.0, 0.3, 0.0, 0.0],
              fixed=[0, 0, 1, 2], eff_vmax=[0.0, 3e-4], eff_km=[1.0, 0.5], lum_label=[-1, 0], inf_vmax=[0.0, 0.0],
              inf_km=[1.0, 1.0], adv_label=-1, adv_axis=2, adv_u_over_h=0.0)
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(device)
    op = getattr(torch.ops.bbbcore, f"transport_{stepper}")
    fv = torch.full((6,), 0.9, dtype=t(c).dtype, device=device)
    dt = 1e-4 if stepper == "explicit" else 1e-3
    if flow:
        v, fin, fout = np.zeros((3, *shape), dtype), np.zeros(shape, dtype), np.zeros(shape, dtype)
        v[2][:, 1, 12:31], fin[:, 1, 12], fout[:, 1, 31] = 40.0, 40.0, 40.0
        kw.update(flow_v=t(v), flow_in=t(fin), flow_out=t(fout))
    fast = op(t(c), t(label), t(G), t(mem), fv, dt_s=dt, steps=6, **kw)
    monkeypatch.setenv("BBBCORE_TRANSPORT_RUNS", "0")
    generic = op(t(c), t(label), t(G), t(mem), fv, dt_s=dt, steps=6, **kw)
    assert torch.equal(fast, generic)
    assert not torch.equal(fast, t(c))
    held = torch.from_numpy(label == 3).to(device)
    assert torch.equal(fast[held], t(c)[held]) and bool((fast[t(label) == 2] == 0.9).all())


def test_op_dtype_mismatch_is_named(device):
    c, label, G, mem, kw = _random_case(1, (3, 4, 5))
    t = lambda a: torch.from_numpy(a).to(device)
    with pytest.raises(ValueError, match=r"transport_explicit: G must be of dtype torch.float64, got torch.float32"):
        torch.ops.bbbcore.transport_explicit(t(c.astype(np.float64)), t(label), t(G), t(mem),
                                             torch.zeros(2, dtype=torch.float64, device=device), dt_s=1e-4,
                                             steps=2, **kw)
    with pytest.raises(ValueError, match=r"transport_explicit: c must be a float32 or float64 tensor, got torch.float16"):
        torch.ops.bbbcore.transport_explicit(t(c).half(), t(label), t(G), t(mem), torch.zeros(2, device=device),
                                             dt_s=1e-4, steps=2, **kw)


def _two_slab(D=1e-8, P=1e-5, efflux=0.0, km=1.0, alpha=0.2):
    geom = T.slab_geometry([("blood", 4.0), ("brain", 4.0)], voxel_size_um=1.0, cross_section=(2, 2))
    mem = T.Membrane(P, efflux_vmax_mol_m2_s=efflux, efflux_km_mol_m3=km)
    return geom, T.Drug("test", D, tortuosity=1.0), {("blood", "brain"): mem}, alpha


def test_scheme_conserves_mass_in_float64():
    """The face-flux scheme itself (float64 reference) conserves α·h³·C to rounding, efflux and
    membranes included, with no-flux outer boundaries."""
    c, label, G, mem, kw = _random_case(4, (6, 7, 8))
    kw["k_clear"] = [0.0, 0.0]
    kw["adv_label"] = -1                                          # no flow through the walls
    vol = 1.0 / np.asarray(kw["inv_alpha_h"])[label.astype(int)]      # α·h (h³ up to h²)
    ref = c.astype(np.float64)
    m0 = float((vol * ref).sum())
    for _ in range(200):
        ref = explicit_step_ref(ref, label, G, mem, dt_s=1e-4, fixed_value=0.0, **kw)
    assert abs(float((vol * ref).sum()) / m0 - 1.0) < 1e-12


def test_mass_conserved_closed_system(device):
    """float32 fields: the float64 total drifts only by the rounding of the cell updates
    (≤ 2^-24 relative per step)."""
    geom, drug, mems, alpha = _two_slab(efflux=2e-6, km=0.5)
    sim = T.Simulation(geom, drug, mems, plasma=None, initial={"blood": 1.0, "brain": 0.2},
                       brain_accessible_fraction=alpha, device=device)
    res = sim.run(t_end_s=0.05, record_every_s=0.01)
    tot = res.total_amount_mol()
    steps = res.times_s[-1] / res.dt_s
    assert abs(tot[-1] / tot[0] - 1.0) < steps * 2.0**-24
    assert res.amount_mol["brain"][-1] > 1.5 * res.amount_mol["brain"][0]   # something moved


@pytest.mark.parametrize("stepper", ["explicit", "adi"])
def test_mass_conserved_to_1e_10_in_float64(device, stepper):
    """dtype="float64": a closed system (no-flux walls, no clearance, no flow) keeps its float64
    total α·h³·C to 1e-10 relative over thousands of steps, with passive exchange, saturable efflux
    and carrier influx across the membrane."""
    geom = T.slab_geometry([("blood", 3.0), ("brain", 9.0)], voxel_size_um=1.0, cross_section=(3, 2))
    mem = T.Membrane(2e-6, efflux_vmax_mol_m2_s=3e-6, efflux_km_mol_m3=0.4, influx_vmax_mol_m2_s=1e-6,
                     influx_km_mol_m3=0.8)
    drug = T.Drug("test", 5e-10, fu_plasma=0.7, fu_brain=0.4, tortuosity=1.6)
    kw = dict(plasma=None, initial={"blood": 1.0, "brain": 0.05}, device=device, dtype="float64")
    sim = T.Simulation(geom, drug, {("blood", "brain"): mem}, stepper=stepper, **kw)
    dt = sim.dt_s if stepper == "explicit" else 10 * sim.dt_explicit_max_s
    sim = T.Simulation(geom, drug, {("blood", "brain"): mem}, stepper=stepper, dt_s=dt, **kw)
    res = sim.run(t_end_s=3000 * dt, record_every_s=500 * dt, record_fields=True)
    tot = res.total_amount_mol()
    assert res.times_s[-1] / res.dt_s == pytest.approx(3000)
    assert np.abs(tot / tot[0] - 1.0).max() < 1e-10
    assert res.amount_mol["brain"][-1] > 5 * res.amount_mol["brain"][0]          # the drug crossed
    assert next(iter(res.snapshots.values())).dtype == np.float64


def test_two_compartment_exchange(device):
    """Well-mixed limit (D/h ≫ P): C1 − C2 decays as exp(−P A (1/V1 + 1/V2) t) with accessible
    volumes V = α·L·A."""
    geom, drug, mems, alpha = _two_slab(D=1e-8, P=1e-5)
    sim = T.Simulation(geom, drug, mems, plasma=None, initial={"blood": 1.0},
                       brain_accessible_fraction=alpha, device=device)
    res = sim.run(t_end_s=0.1, record_every_s=0.02)
    L = 4e-6
    rate = 1e-5 / L * (1 / 1.0 + 1 / alpha)
    diff = res.mean_total("blood") - res.mean_total("brain")
    np.testing.assert_allclose(diff, np.exp(-rate * res.times_s), rtol=0.03, atol=1e-3)


def test_steady_state_kp_uu_with_efflux(device):
    """Linear regime (C_u ≪ Km): Kp,uu = P/(P + Vmax/Km) with the plasma held constant."""
    P, vmax, km = 1e-5, 1e-3, 100.0                      # P_efflux = Vmax/Km = 1e-5 m/s: Kp,uu = 1/2
    geom, drug, mems, alpha = _two_slab(D=1e-8, P=P, efflux=vmax, km=km)
    sim = T.Simulation(geom, drug, mems, plasma=T.Plasma.constant(1.0), brain_accessible_fraction=alpha,
                       device=device)
    res = sim.run(t_end_s=0.5, record_every_s=0.1)
    p_eff = vmax / km
    assert res.kp_uu() == pytest.approx(P / (P + p_eff), rel=0.02)


def test_bad_input():
    geom, drug, mems, _ = _two_slab()
    with pytest.raises(ValueError, match=r"Drug: diffusivity_m2_s must be a finite number > 0 m²/s, got -1e-09"):
        T.Drug("bad", -1e-9)
    with pytest.raises(ValueError, match=r"Membrane: permeability_m_s must be finite and ≥ 0 m/s, got -1"):
        T.Membrane(-1e-6)
    with pytest.raises(ValueError, match=r"Simulation: dt_s must satisfy dt ≤ .* \(explicit stability\), got 1.000e\+00 s"):
        T.Simulation(geom, drug, mems, plasma=T.Plasma.constant(1.0), dt_s=1.0)
    with pytest.raises(ValueError, match=r"Geometry: compartment must be one of \['blood', 'brain'\], got 'csf'"):
        T.Simulation(geom, drug, {("blood", "csf"): T.Membrane(1e-6)})
    with pytest.raises(ValueError, match="Simulation: stepper must be one of"):
        T.Simulation(geom, drug, mems, stepper="rk4")
    with pytest.raises(ValueError, match=r"Simulation: dtype must be 'float32' or 'float64', got 'float16'"):
        T.Simulation(geom, drug, mems, dtype="float16")
    # ADI has no stability limit (carriers linearised, all terms implicit), but dt must be > 0
    T.Simulation(geom, drug, {("blood", "brain"): T.Membrane(1e-6, 1e-2, 1e-3)}, stepper="adi", dt_s=1.0)
    with pytest.raises(ValueError, match=r"Simulation: dt_s must be a finite number > 0 s, got -1"):
        T.Simulation(geom, drug, mems, stepper="adi", dt_s=-1.0)
    with pytest.raises(ValueError, match=r"slab_geometry: thickness of layer 'brain' must be a whole number"):
        T.slab_geometry([("blood", 2.0), ("brain", 2.5)], voxel_size_um=1.0)


@pytest.mark.cuda
@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cpu_and_cuda_agree(dtype):
    c, label, G, mem, kw = _random_case(3, (8, 9, 10))
    c, G = c.astype(dtype), G.astype(dtype)
    args = lambda d: [torch.from_numpy(a).to(d) for a in (c, label, G, mem)] + [
        torch.zeros(20, dtype=torch.from_numpy(c).dtype, device=d)]
    a = torch.ops.bbbcore.transport_explicit(*args("cpu"), dt_s=1e-4, steps=20, **kw)
    b = torch.ops.bbbcore.transport_explicit(*args("cuda"), dt_s=1e-4, steps=20, **kw)
    torch.testing.assert_close(b.cpu(), a, atol=0, rtol=0)


def test_adi_matches_reference(device):
    from bbbcore.reference.transport import adi_step_ref

    c, label, G, mem, kw = _random_case(5)
    dt, steps = 1e-3, 4                                         # ~10x the explicit limit of this case
    ref = c.astype(np.float64)
    for _ in range(steps):
        ref = adi_step_ref(ref, label, G, mem, dt_s=dt, fixed_value=0.7, **kw)
    t = lambda a: torch.from_numpy(a).to(device)
    out = torch.ops.bbbcore.transport_adi(t(c), t(label), t(G), t(mem), torch.full((steps,), 0.7, device=device),
                                          dt_s=dt, steps=steps, **kw)
    np.testing.assert_allclose(out.cpu().numpy(), ref, rtol=1e-5, atol=1e-6)


def test_explicit_and_adi_agree_for_small_dt(device):
    geom, drug, mems, alpha = _two_slab(D=1e-9, P=2e-6)
    kw = dict(plasma=T.Plasma.constant(1.0), brain_accessible_fraction=alpha, device=device)
    ex = T.Simulation(geom, drug, mems, stepper="explicit", **kw)
    adi = T.Simulation(geom, drug, mems, stepper="adi", dt_s=ex.dt_s, **kw)
    a = ex.run(t_end_s=0.2, record_every_s=0.05).mean_unbound("brain")
    b = adi.run(t_end_s=0.2, record_every_s=0.05).mean_unbound("brain")
    np.testing.assert_allclose(a, b, atol=2e-3)


def test_adi_stable_at_100x_the_explicit_limit(device):
    """Unconditional stability for diffusion: 100× the explicit limit stays bounded by the
    plasma value and reaches the right steady state (Kp,uu = 1 without efflux)."""
    geom = T.slab_geometry([("blood", 2.0), ("brain", 30.0)], voxel_size_um=1.0, cross_section=(3, 3))
    drug = T.Drug("test", 1e-9, tortuosity=1.0)
    mems = {("blood", "brain"): T.Membrane(1e-5)}
    ex = T.Simulation(geom, drug, mems, plasma=T.Plasma.constant(1.0), device=device)
    dt = 100 * ex.dt_explicit_max_s
    adi = T.Simulation(geom, drug, mems, plasma=T.Plasma.constant(1.0), stepper="adi", dt_s=dt, device=device)
    res = adi.run(t_end_s=2000 * dt, record_every_s=200 * dt, record_fields=True)
    for t_s in res.snapshots:
        f = res.snapshots[t_s]
        assert np.all(np.isfinite(f)) and f.min() >= -1e-6 and f.max() <= 1.0 + 1e-6
    assert res.kp_uu() == pytest.approx(1.0, abs=1e-3)


@pytest.mark.cuda
@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adi_cpu_and_cuda_agree(dtype):
    c, label, G, mem, kw = _random_case(6, (8, 9, 10))
    c, G = c.astype(dtype), G.astype(dtype)
    args = lambda d: [torch.from_numpy(a).to(d) for a in (c, label, G, mem)] + [
        torch.zeros(10, dtype=torch.from_numpy(c).dtype, device=d)]
    a = torch.ops.bbbcore.transport_adi(*args("cpu"), dt_s=1e-3, steps=10, **kw)
    b = torch.ops.bbbcore.transport_adi(*args("cuda"), dt_s=1e-3, steps=10, **kw)
    torch.testing.assert_close(b.cpu(), a, atol=0, rtol=0)
