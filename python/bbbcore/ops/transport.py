"""``bbbcore::transport_explicit`` / ``bbbcore::transport_adi``: forward-Euler and Douglas ADI steps
of the finite-volume BBB transport model.

Native kernels: ``csrc/transport/explicit_{cpu.cpp,cuda.cu}`` over the shared cell update in
``csrc/include/bbbcore/transport/fv.h``; NumPy float64 oracle
:func:`bbbcore.reference.transport.explicit_step_ref`.
"""
from __future__ import annotations

import torch

from bbbcore import _checks
from bbbcore._native import _C, check_device, on_device, stream_ptr

MAX_LABELS = 8
MAX_MEMBRANES = 8


def _launch(c, label, G, mem, fixed_values, fu, inv_alpha_h, k_clear, fixed, eff_vmax, eff_km,
            lum_label, inf_vmax, inf_km, adv_label, adv_axis, adv_u_over_h, dt_s, steps, cuda, theta=None,
            flow_v=None, flow_in=None, flow_out=None):
    fn = "transport_explicit" if theta is None else "transport_adi"
    check_device(fn, c)
    if c.dim() != 3:
        _checks.fail(fn, "c", "of shape (Z, Y, X)", tuple(c.shape))
    shape = tuple(c.shape)
    dev = c.device
    if c.dtype not in (torch.float32, torch.float64):
        _checks.fail(fn, "c", "a float32 or float64 tensor", c.dtype)
    dtype = c.dtype
    c = _checks.tensor(fn, "c", c, dtype=dtype, shape=shape, device=dev)
    label = _checks.tensor(fn, "label", label, dtype=torch.uint8, shape=shape, device=dev)
    G = _checks.tensor(fn, "G", G, dtype=dtype, shape=(3, *shape), device=dev)
    mem = _checks.tensor(fn, "mem", mem, dtype=torch.uint8, shape=(3, *shape), device=dev)
    fixed_values = _checks.tensor(fn, "fixed_values", fixed_values, dtype=dtype, shape=(steps,), device=dev)
    given = [v is not None for v in (flow_v, flow_in, flow_out)]
    if any(given) and not all(given):
        _checks.fail(fn, "flow_v, flow_in, flow_out", "all three tensors or none", f"{sum(given)} of them")
    flow = [0, 0, 0]
    if all(given):
        if adv_label >= 0:
            _checks.fail(fn, "adv_label", "-1 with a general flow field (flow_v)", adv_label)
        flow_v = _checks.tensor(fn, "flow_v", flow_v, dtype=dtype, shape=(3, *shape), device=dev)
        flow_in = _checks.tensor(fn, "flow_in", flow_in, dtype=dtype, shape=shape, device=dev)
        flow_out = _checks.tensor(fn, "flow_out", flow_out, dtype=dtype, shape=shape, device=dev)
        flow = [flow_v.data_ptr(), flow_in.data_ptr(), flow_out.data_ptr()]
    if not 1 <= len(fu) <= MAX_LABELS:
        _checks.fail(fn, "fu", f"1 to {MAX_LABELS} labels", len(fu))
    if len(eff_vmax) > MAX_MEMBRANES:
        _checks.fail(fn, "eff_vmax", f"at most {MAX_MEMBRANES} membrane types", len(eff_vmax))
    for arg, v in (("eff_km", eff_km), ("lum_label", lum_label), ("inf_vmax", inf_vmax), ("inf_km", inf_km)):
        if len(v) != len(eff_vmax):
            _checks.fail(fn, arg, f"one value per membrane id ({len(eff_vmax)}, as eff_vmax)", len(v))
    make = _C.transport_params64 if dtype == torch.float64 else _C.transport_params
    P = make(shape=list(shape), dt_s=dt_s, fu=list(fu), inv_alpha_h=list(inv_alpha_h),
                            k_clear=list(k_clear), fixed=[int(v) for v in fixed], eff_vmax=list(eff_vmax),
                            eff_km=list(eff_km), lum_label=[int(v) for v in lum_label],
                            inf_vmax=list(inf_vmax), inf_km=list(inf_km), adv_label=int(adv_label),
                            adv_axis=int(adv_axis), adv_u_over_h=float(adv_u_over_h))
    out = c.clone()
    scratch = torch.empty_like(c)
    ptrs = [out.data_ptr(), scratch.data_ptr(), label.data_ptr(), G.data_ptr(), mem.data_ptr(),
            fixed_values.data_ptr(), *flow]
    if theta is not None:
        if not 0.5 <= theta <= 1.0:
            _checks.fail(fn, "theta", "in [0.5, 1] (unconditional stability)", theta)
        lines = torch.empty(2 * c.numel(), dtype=dtype, device=dev)
        if cuda:
            with on_device(dev):
                _C.transport_adi_cuda(P, *ptrs, lines.data_ptr(), steps, theta, stream_ptr(dev))
        else:
            _C.transport_adi_cpu(P, *ptrs, lines.data_ptr(), steps, theta)
        return out
    if cuda:
        with on_device(dev):
            _C.transport_explicit_cuda(P, *ptrs, steps, stream_ptr(dev))
    else:
        _C.transport_explicit_cpu(P, *ptrs, steps)
    return out


@torch.library.custom_op("bbbcore::transport_explicit", mutates_args=(), device_types="cpu")
def transport_explicit(c: torch.Tensor, label: torch.Tensor, G: torch.Tensor, mem: torch.Tensor,
                       fixed_values: torch.Tensor, fu: list[float], inv_alpha_h: list[float],
                       k_clear: list[float], fixed: list[int], eff_vmax: list[float], eff_km: list[float],
                       lum_label: list[int], inf_vmax: list[float], inf_km: list[float], adv_label: int,
                       adv_axis: int, adv_u_over_h: float, dt_s: float, steps: int,
                       flow_v: torch.Tensor | None = None, flow_in: torch.Tensor | None = None,
                       flow_out: torch.Tensor | None = None) -> torch.Tensor:
    """Raw op: ``steps`` forward-Euler steps from ``c`` ([Z, Y, X], float32 or float64: ``G`` and
    ``fixed_values`` of the same dtype, the arithmetic in it too); see fv.h for the
    arguments (per label: fu, 1/(αh), clearance, fixed kind; per membrane id, 0 = none: efflux Vmax
    and Km, luminal label, carrier influx Vmax and apparent Km; the channel label flowing along
    ``adv_axis`` at u/h = ``adv_u_over_h``, -1: none, its inflow = ``fixed_values``; or a general
    flow field: ``flow_v`` [3, Z, Y, X] signed u/h of each forward face [1/s], ``flow_in`` /
    ``flow_out`` [Z, Y, X] u/h through the domain boundary, the inflow at ``fixed_values``; ADI
    treats the boundary outflow in the ``adv_axis`` sweep).
    Returns the new state (a new tensor)."""
    return _launch(c, label, G, mem, fixed_values, fu, inv_alpha_h, k_clear, fixed, eff_vmax, eff_km,
                   lum_label, inf_vmax, inf_km, adv_label, adv_axis, adv_u_over_h, dt_s, steps, cuda=False,
                   flow_v=flow_v, flow_in=flow_in, flow_out=flow_out)


@transport_explicit.register_kernel("cuda")
def _transport_explicit_cuda(c, label, G, mem, fixed_values, fu, inv_alpha_h, k_clear, fixed, eff_vmax,
                             eff_km, lum_label, inf_vmax, inf_km, adv_label, adv_axis, adv_u_over_h, dt_s,
                             steps, flow_v=None, flow_in=None, flow_out=None):
    return _launch(c, label, G, mem, fixed_values, fu, inv_alpha_h, k_clear, fixed, eff_vmax, eff_km,
                   lum_label, inf_vmax, inf_km, adv_label, adv_axis, adv_u_over_h, dt_s, steps, cuda=True,
                   flow_v=flow_v, flow_in=flow_in, flow_out=flow_out)


@transport_explicit.register_fake
def _(c, label, G, mem, fixed_values, fu, inv_alpha_h, k_clear, fixed, eff_vmax, eff_km, lum_label, inf_vmax, inf_km,
      adv_label, adv_axis, adv_u_over_h, dt_s, steps, flow_v=None, flow_in=None, flow_out=None):
    return torch.empty_like(c)


@torch.library.custom_op("bbbcore::transport_adi", mutates_args=(), device_types="cpu")
def transport_adi(c: torch.Tensor, label: torch.Tensor, G: torch.Tensor, mem: torch.Tensor,
                  fixed_values: torch.Tensor, fu: list[float], inv_alpha_h: list[float], k_clear: list[float],
                  fixed: list[int], eff_vmax: list[float], eff_km: list[float], lum_label: list[int],
                  inf_vmax: list[float], inf_km: list[float], adv_label: int, adv_axis: int,
                  adv_u_over_h: float, dt_s: float, steps: int, theta: float = 0.5,
                  flow_v: torch.Tensor | None = None, flow_in: torch.Tensor | None = None,
                  flow_out: torch.Tensor | None = None) -> torch.Tensor:
    """Raw op: ``steps`` Douglas ADI steps (adi.h) from ``c``; arguments as
    :func:`transport_explicit`, ``theta`` in [0.5, 1]."""
    return _launch(c, label, G, mem, fixed_values, fu, inv_alpha_h, k_clear, fixed, eff_vmax, eff_km,
                   lum_label, inf_vmax, inf_km, adv_label, adv_axis, adv_u_over_h, dt_s, steps, cuda=False,
                   theta=theta, flow_v=flow_v, flow_in=flow_in, flow_out=flow_out)


@transport_adi.register_kernel("cuda")
def _transport_adi_cuda(c, label, G, mem, fixed_values, fu, inv_alpha_h, k_clear, fixed, eff_vmax, eff_km,
                        lum_label, inf_vmax, inf_km, adv_label, adv_axis, adv_u_over_h, dt_s, steps,
                        theta=0.5, flow_v=None, flow_in=None, flow_out=None):
    return _launch(c, label, G, mem, fixed_values, fu, inv_alpha_h, k_clear, fixed, eff_vmax, eff_km,
                   lum_label, inf_vmax, inf_km, adv_label, adv_axis, adv_u_over_h, dt_s, steps, cuda=True,
                   theta=theta, flow_v=flow_v, flow_in=flow_in, flow_out=flow_out)


@transport_adi.register_fake
def _(c, label, G, mem, fixed_values, fu, inv_alpha_h, k_clear, fixed, eff_vmax, eff_km, lum_label, inf_vmax, inf_km,
      adv_label, adv_axis, adv_u_over_h, dt_s, steps, theta=0.5, flow_v=None, flow_in=None, flow_out=None):
    return torch.empty_like(c)
