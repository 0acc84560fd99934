"""Pieces shared by the training loops (diffusion DLE, vessels tUbe net): torch.distributed
set-up and the optimiser step."""
from __future__ import annotations

import os

import torch

_GOLDEN = 0x9E3779B97F4A7C15


def sub_seed(seed: int, stream: int) -> int:
    """Seed of an independent sub-stream ``stream`` of ``seed`` (golden-ratio offset, mod 2⁶³)."""
    return (int(seed) + stream * _GOLDEN) % 2**63


def init_distributed(dev: torch.device):
    """(rank, world, device, created): join or initialise torch.distributed (torchrun's env://).

    Under a process group on CUDA each rank uses ``cuda:LOCAL_RANK``.
    """
    import torch.distributed as dist

    if not dist.is_available():
        return 0, 1, dev, False
    multi = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if dev.type == "cuda" and (multi or dist.is_initialized()) and "LOCAL_RANK" in os.environ:
        dev = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(dev)
    created = False
    if not dist.is_initialized() and multi:
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
        created = True
    if not dist.is_initialized():
        return 0, 1, dev, False
    return dist.get_rank(), dist.get_world_size(), dev, created


def optimizer_step(loss, opt, params, grad_clip: float, scaler, fn: str, where: str = "") -> None:
    """Backward, gradient-norm clipping at ``grad_clip`` and one step of ``opt`` (through the fp16
    ``GradScaler`` when one is given); a non-finite loss raises ``FloatingPointError`` first."""
    if not torch.isfinite(loss):
        raise FloatingPointError(f"{fn}: the loss became {float(loss)}{where}; lower lr or grad_clip")
    opt.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(params, grad_clip)
        scaler.step(opt)
        scaler.update()
    else:
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, grad_clip)
        opt.step()
