"""Blood flow through segmented vessel networks (bbbcore.transport.network_flow) and the blood
channel it drives in both steppers."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from bbbcore import transport as T

from tests.conftest import HAS_CUDA

pytest.importorskip("scipy")


def _tube_mask(shape=(60, 16, 16), radius=3.0, shift_every=None):
    """A capillary along z; with shift_every, its centre steps by one voxel in y every so many planes."""
    Z, Y, X = shape
    z, y, x = np.meshgrid(np.arange(Z), np.arange(Y), np.arange(X), indexing="ij")
    cy = (Y - 1) / 2 - 2 + (z // shift_every if shift_every else 0)
    return (y - cy) ** 2 + (x - (X - 1) / 2) ** 2 <= radius ** 2


def _y_network():
    """A parent vessel along z that splits into two daughters of different widths, plus a
    disconnected fragment (as segmentations have)."""
    m = np.zeros((40, 24, 12), bool)
    m[:16, 9:14, 4:8] = True                 # parent, 5×4 voxels
    m[14:, 3:6, 4:8] = True                  # thin daughter
    m[14:, 15:21, 4:8] = True                # wide daughter
    m[14:17, 3:21, 4:8] = True               # the junction
    m[20:26, 10:12, 1:3] = True              # a fragment joined to nothing
    return m


def test_straight_tube_is_plug_flow():
    geom = T.from_vessel_mask(_tube_mask(), voxel_size_um=1.0)
    f = T.network_flow(geom, 4e-4, flow_axis=0)
    lumen = geom.labels == 0
    vz = f.face_speed_m_s[0][:-1][lumen[:-1]]
    np.testing.assert_allclose(vz, 4e-4, rtol=1e-10)
    assert np.abs(f.face_speed_m_s[1:]).max() < 1e-15
    assert f.stagnant_voxels == 0
    assert f.flow_rate_m3_s == pytest.approx(4e-4 * lumen[0].sum() * 1e-12)
    assert np.abs(f.divergence_per_s()).max() < 1e-9 * 4e-4 / 1e-6


@pytest.mark.parametrize("stepper", ["explicit", "adi"])
def test_network_path_equals_the_axis_channel_on_a_straight_tube(stepper):
    """The general field on a straight tube is the axis channel: same answer to rounding."""
    geom = T.from_vessel_mask(_tube_mask((30, 12, 12)), voxel_size_um=1.0)
    kw = dict(plasma=T.Plasma.constant(1.0), stepper=stepper, dtype="float64",
              initial={"blood": 0.0}, dt_s=2e-3 if stepper == "adi" else None)
    drug, mems = T.Drug("x", 5e-10, tortuosity=1.0), {("blood", "brain"): T.Membrane(2e-6)}
    axis = T.Simulation(geom, drug, mems, blood_flow_m_s=3e-4, **kw)
    net = T.Simulation(geom, drug, mems, blood_flow=T.network_flow(geom, 3e-4), **kw)
    assert axis.flow is None and net.flow is not None
    assert net.dt_s == pytest.approx(axis.dt_s, rel=1e-9)
    a = axis.run(t_end_s=0.05, record_every_s=0.01, record_fields=True)
    b = net.run(t_end_s=0.05, record_every_s=0.01, record_fields=True)
    np.testing.assert_allclose(b.concentration(0.05), a.concentration(0.05), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(b.extraction(), a.extraction(), rtol=1e-9, atol=1e-12)
    assert a.mean_total("brain")[-1] > 1e-3                        # drug moved in


def test_branching_network_flow_is_conserved():
    geom = T.from_vessel_mask(_y_network(), voxel_size_um=1.0)
    f = T.network_flow(geom, 5e-4, flow_axis=0)
    assert f.stagnant_voxels == 2 * 6 * 2
    rate = f.rates_per_s()[1].sum()
    assert np.abs(f.divergence_per_s()).max() < 1e-10 * rate
    assert f.outlet_speed_m_s.sum() == pytest.approx(f.inlet_speed_m_s.sum(), rel=1e-10)
    assert f.inlet_speed_m_s[0][f.inlet_speed_m_s[0] > 0].mean() == pytest.approx(5e-4)
    # the wide daughter carries more of the flow than the thin one, and together they carry all
    out = f.outlet_speed_m_s[-1]
    thin, wide = out[3:6].sum(), out[15:21].sum()
    assert wide > 1.5 * thin and thin + wide == pytest.approx(out.sum())
    # the pressure falls monotonically from the inlet to the outlets along the parent
    p = f.pressure[:14, 11, 5]
    assert np.all(np.diff(p) < 0) and np.isnan(f.pressure[22, 10, 1])


@pytest.mark.parametrize("stepper", ["explicit", "adi"])
def test_network_carries_a_constant_inflow_unchanged(stepper, device):
    """Without exchange, the network (filled at the inflow value, as every blood channel starts)
    stays at exactly C = 1 while blood enters at 1: the field is divergence-free and upwind
    advection preserves a constant; the outlets carry 1 (no extraction)."""
    geom = T.from_vessel_mask(_y_network(), voxel_size_um=1.0)
    with pytest.warns(UserWarning, match="24 blood voxels lie in pieces"):
        sim = T.Simulation(geom, T.Drug("x", 5e-10), {("blood", "brain"): T.Membrane(0.0)},
                           plasma=T.Plasma.constant(1.0), blood_flow_m_s=5e-4, stepper=stepper, dtype="float64",
                           device=device, dt_s=1e-3 if stepper == "adi" else None)
    res = sim.run(t_end_s=0.3, record_every_s=0.1, record_fields=True)
    c = res.concentration(0.3)
    np.testing.assert_allclose(c[geom.labels == 0], 1.0, atol=1e-10)
    assert np.all(c[geom.labels == 1] == 0.0)
    assert res.extraction()[-1] == pytest.approx(0.0, abs=1e-10)


@pytest.mark.parametrize("stepper", ["explicit", "adi"])
def test_renkin_crone_in_a_bent_capillary(stepper):
    """A capillary that steps sideways along its course (not a straight line: the network path)
    into tissue held at 0: E = 1 − exp(−g S / F), S its membrane faces, F the network's flow."""
    P, u, D, h = 1e-6, 3e-4, 5e-10, 1e-6
    geom = T.from_vessel_mask(_tube_mask((100, 18, 14), radius=3.0, shift_every=25), voxel_size_um=1.0)
    sim = T.Simulation(geom, T.Drug("x", D, tortuosity=1.0), {("blood", "brain"): T.Membrane(P)},
                       plasma=T.Plasma.constant(1.0), held={"brain": 0.0}, blood_flow_m_s=u, stepper=stepper)
    assert sim.flow is not None                              # not straight: solved as a network
    res = sim.run(t_end_s=2.0, record_every_s=0.5)
    g = 1.0 / (h / (2 * D) + 1.0 / P)
    expect = 1.0 - np.exp(-g * sim.membrane_area_m2() / sim.flow.flow_rate_m3_s)
    assert 0.1 < expect < 0.5
    assert res.extraction()[-1] == pytest.approx(expect, rel=2e-2)
    flux = res.membrane_flux_mol_s[("blood", "brain")][-1]
    assert flux == pytest.approx(sim.flow.flow_rate_m3_s * res.extraction()[-1], rel=1e-2)


def test_network_flow_bad_input():
    geom = T.from_vessel_mask(_y_network(), voxel_size_um=1.0)
    drug = T.Drug("x", 5e-10)
    with pytest.raises(ValueError, match=r"network_flow: geom must be a 'blood' lumen that joins the first "
                                         r"plane along axis 2 to the last"):
        T.network_flow(geom, 1e-4, flow_axis=2)
    with pytest.raises(ValueError, match=r"network_flow: mean_speed_m_s must be a finite number > 0"):
        T.network_flow(geom, 0.0)
    f = T.network_flow(geom, 1e-4)
    with pytest.raises(ValueError, match=r"Simulation: blood_flow must be None when blood_flow_m_s is given"):
        T.Simulation(geom, drug, plasma=T.Plasma.constant(1.0), blood_flow_m_s=1e-4, blood_flow=f)
    other = T.from_vessel_mask(_tube_mask(), voxel_size_um=1.0)
    with pytest.raises(ValueError, match=r"Simulation: blood_flow must be a flow on this grid"):
        T.Simulation(other, drug, plasma=T.Plasma.constant(1.0), blood_flow=f)
    with pytest.raises(ValueError, match=r"Simulation: plasma must be the inflow concentration curve"):
        T.Simulation(geom, drug, plasma=None, blood_flow=f)


@pytest.mark.cuda
@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device")
@pytest.mark.parametrize("stepper", ["explicit", "adi"])
def test_network_cpu_and_cuda_agree(stepper):
    geom = T.from_vessel_mask(_y_network(), voxel_size_um=1.0)
    f = T.network_flow(geom, 5e-4)
    kw = dict(plasma=T.Plasma.constant(1.0), blood_flow=f, stepper=stepper, dt_s=1e-3 if stepper == "adi" else None)
    mems = {("blood", "brain"): T.Membrane(1e-6, efflux_vmax_mol_m2_s=1e-6, efflux_km_mol_m3=0.5)}
    a = T.Simulation(geom, T.Drug("x", 5e-10), mems, device="cpu", **kw).run(0.05, 0.01, record_fields=True)
    b = T.Simulation(geom, T.Drug("x", 5e-10), mems, device="cuda", **kw).run(0.05, 0.01, record_fields=True)
    torch.testing.assert_close(torch.from_numpy(b.concentration(0.05)), torch.from_numpy(a.concentration(0.05)),
                               atol=0, rtol=0)
