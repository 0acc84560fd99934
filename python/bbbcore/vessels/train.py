"""Training and fine-tuning of tUbe net on patches read from disk.

The paper's protocol (§2.3–2.5): mini-batches of 64³ sub-volumes read from disk at every step
(volumes never loaded whole), biased towards patches holding ≥ 0.1 % vessel, augmented by xy
rotations (±30°), xy scaling (1.0–1.25) and in-plane reflections, Adam (lr 10⁻³) with an
exponential learning-rate decay, batch 6, DICE+BCE loss, stopped when the validation score no
longer improves. Here:

- patches come from :class:`~bbbcore.vessels.data.PatchSampler` (every dataset sampled in
  proportion, fallbacks counted and reported); the augmentation runs on the training device in one
  fused kernel per batch (:func:`bbbcore.augment.presets.tubenet`), image, label and the valid
  mask transformed together;
- the validation set is fixed (drawn once, from its own seed) from held-out data: the ``val``
  volumes, or else a slab of each training volume (``val_fraction`` of its Z extent) that training
  never samples;
- the checkpoint kept is the one with the **lowest** validation loss (the public code keeps the
  highest) and training stops after ``patience`` validations without improvement;
- the Dice half of DICE+BCE has a gradient (:mod:`bbbcore.vessels.losses`);
- fine-tuning freezes the encoder levels you choose (the public code freezes the whole encoder).

Files in ``out`` (a folder): ``best.pt`` (the best model, :func:`~bbbcore.vessels.load_model`),
``last.pt`` (everything needed to resume: model, optimiser, scheduler, sampler and RNG states,
history), ``history.json`` and ``training.png`` (loss curves).

Distributed training: under ``torchrun`` the process group is initialised from the environment,
the model is wrapped in ``DistributedDataParallel``, every rank draws its own patches (seed +
rank) and only rank 0 validates and writes files.
"""
from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from bbbcore import _checks
from bbbcore._training import init_distributed as _distributed
from bbbcore._training import optimizer_step
from bbbcore._training import sub_seed as _sub_seed
from bbbcore.vessels.checkpoints import FORMAT, atomic_save

AMP = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclasses.dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        model: the network with the best validation weights loaded, in eval mode.
        history: lists ``step``, ``loss``, ``lr``, ``val_step``, ``val_loss``, ``val_dice``.
        best_step: step of the kept weights (0 = the initial model).
        best_val_loss: its validation loss.
        stopped_early: training ended by early stopping.
        sampler_stats: the patch sampler's counters (draws per dataset, fallbacks, …).
        out: the output folder, or None.
    """
    model: nn.Module
    history: dict
    best_step: int
    best_val_loss: float
    stopped_early: bool
    sampler_stats: dict
    out: Path | None = None


def _as_pairs(fn: str, arg: str, data) -> list:
    """VolumePair | (image, label) | (image, label, valid) | a list of those → [VolumePair]."""
    from bbbcore.vessels.data import VolumePair

    if data is None:
        return []
    if isinstance(data, VolumePair):
        return [data]
    if isinstance(data, tuple) and len(data) in (2, 3) and not isinstance(data[0], (VolumePair, tuple)):
        return [VolumePair(data[0], data[1], valid=data[2] if len(data) == 3 else None)]
    if isinstance(data, (list, tuple)) and len(data) > 0:
        out = []
        for d in data:
            out.extend(_as_pairs(fn, arg, d))
        return out
    _checks.fail(fn, arg, "a VolumePair, an (image, label) pair or a list of them", type(data).__name__)


def _held_out(pairs: list, fraction: float) -> tuple[list, list]:
    """(train pairs, validation pairs): the last ``fraction`` of each volume's Z extent (of its
    sampling region) is held out for validation."""
    train, val = [], []
    for p in pairs:
        tr, va = p.split(fraction, axis=0)
        train.append(tr)
        val.append(va)
    return train, val


def _describe(pair) -> dict:
    return {"name": pair.name, "shape": list(pair.shape), "region": [[r.start, r.stop] for r in pair.region],
            "valid_mask": pair.valid is not None, "intensity": list(pair.intensity) if pair.intensity else None,
            "spacing_um": list(pair.spacing_um) if pair.spacing_um else None}


def _validate_args(fn, *, steps, batch_size, patch, lr, lr_final, val_fraction, val_patches, val_every,
                   patience, grad_clip, amp, min_vessel_fraction, p_vessel):
    _checks.non_negative_int(fn, "steps", steps)
    _checks.positive_int(fn, "batch_size", batch_size)
    if not (isinstance(patch, (tuple, list)) and len(patch) == 3
            and all(isinstance(p, int) and not isinstance(p, bool) and p >= 4 for p in patch)):
        _checks.fail(fn, "patch", "3 integers >= 4 (Z, Y, X)", repr(patch))
    _checks.positive(fn, "lr", lr)
    if lr_final is not None:
        _checks.positive(fn, "lr_final", lr_final)
    if not (isinstance(val_fraction, float) and 0.0 < val_fraction < 1.0):
        _checks.fail(fn, "val_fraction", "a float in (0, 1)", repr(val_fraction))
    _checks.positive_int(fn, "val_patches", val_patches)
    _checks.positive_int(fn, "val_every", val_every)
    _checks.positive_int(fn, "patience", patience)
    _checks.positive(fn, "grad_clip", grad_clip)
    if amp not in (None, False, True, "bf16", "fp16"):
        _checks.fail(fn, "amp", "None, False, True, 'bf16' or 'fp16'", repr(amp))
    _checks.non_negative(fn, "min_vessel_fraction", min_vessel_fraction)
    if not (isinstance(p_vessel, (int, float)) and 0.0 <= p_vessel <= 1.0):
        _checks.fail(fn, "p_vessel", "a probability in [0, 1]", repr(p_vessel))


def train(model, data, *, val=None, out=None, steps: int = 2000, batch_size: int = 6,
          patch=(64, 64, 64), lr: float = 1e-3, lr_final: float | None = None, loss="dice_bce",
          loss_kw: dict | None = None, augment: bool = True, min_vessel_fraction: float = 0.001,
          p_vessel: float = 0.9, weights=None, val_fraction: float = 0.2, val_patches: int = 24,
          val_every: int = 100, patience: int = 10, grad_clip: float = 5.0, amp=None, device="cpu",
          seed: int = 0, resume: bool = False, overwrite: bool = False, progress: bool = True,
          freeze_levels=None, metadata: dict | None = None) -> TrainResult:
    """Train a tUbe net on labelled volumes (patches read from disk at each step).

    Args:
        model: a :class:`~bbbcore.vessels.model.TubeNet` (trained in place; the returned model is
            the same object with the best weights loaded).
        data: training volumes: a :class:`~bbbcore.vessels.data.VolumePair`, an
            ``(image, label)`` or ``(image, label, valid)`` tuple of arrays or paths (``.npy``,
            ``.tif``, ``.zarr``), or a list of them (sampled in proportion to their size, or to
            ``weights``).
        val: held-out validation volumes (same forms), or None to hold out the last
            ``val_fraction`` of each training volume's Z extent.
        out: output folder for ``best.pt``, ``last.pt``, ``history.json``, ``training.png``
            (created; None keeps everything in memory).
        steps: optimiser steps at most (early stopping may end sooner).
        batch_size: patches per step (paper: 6).
        patch: patch shape (Z, Y, X) (paper: 64³).
        lr: Adam learning rate (paper: 10⁻³); lr_final: the exponentially decayed rate at the
            last step (default lr / 10).
        loss: ``"dice_bce"`` (paper), ``"weighted_ce"``, ``"focal"``, ``"dice"`` or a module
            ``loss(logits, target, valid=None)``; loss_kw: its options.
        augment: the tUbe net augmentation on the device (:func:`bbbcore.augment.presets.tubenet`).
        min_vessel_fraction, p_vessel, weights: the sampler's bias (≥ 0.1 % vessel in a fraction
            ``p_vessel`` of the patches) and dataset weights.
        val_fraction: held-out Z fraction when ``val`` is None.
        val_patches: size of the fixed validation set (patches).
        val_every: validate every this many steps (and at the end).
        patience: stop after this many validations without a lower validation loss.
        grad_clip: maximum gradient norm.
        amp: None (bf16 autocast on CUDA, off on the CPU), False, True/"bf16" or "fp16".
        device: ``"cpu"`` or ``"cuda"``.
        seed: seeds initial patches, augmentation and validation set.
        resume: continue from ``out/last.pt``.
        overwrite: allow replacing an existing ``out/last.pt`` when not resuming.
        progress: tqdm progress bar.
        freeze_levels: encoder levels kept fixed (see :meth:`TubeNet.freeze_encoder`).
        metadata: extra JSON-able information stored with the model.

    Returns:
        :class:`TrainResult`.

    Raises:
        ValueError: an invalid argument (named); a checkpoint of another model when resuming.
        FileExistsError: ``out/last.pt`` exists and neither ``resume`` nor ``overwrite``.
        FloatingPointError: the loss became non-finite.
    """
    return _train("train", model, data, val=val, out=out, steps=steps, batch_size=batch_size, patch=patch,
                  lr=lr, lr_final=lr_final, loss=loss, loss_kw=loss_kw, augment=augment,
                  min_vessel_fraction=min_vessel_fraction, p_vessel=p_vessel, weights=weights,
                  val_fraction=val_fraction, val_patches=val_patches, val_every=val_every,
                  patience=patience, grad_clip=grad_clip, amp=amp, device=device, seed=seed, resume=resume,
                  overwrite=overwrite, progress=progress, freeze_levels=freeze_levels, metadata=metadata)


def finetune(model, data, *, freeze_levels=None, lr: float = 1e-4, steps: int = 500,
             val_every: int = 25, **kw) -> TrainResult:
    """Fine-tune a pre-trained tUbe net on a small labelled volume (the paper: ~0.3 % of a volume).

    Args:
        model: a TubeNet, or ``"foundation"`` for the shipped model (:func:`load_pretrained`).
        data: the labelled sub-volume(s), as for :func:`train` (a ``valid`` mask or a
            :class:`~bbbcore.vessels.data.VolumePair` ``region`` restricts the loss to the
            labelled voxels of a larger volume).
        freeze_levels: encoder levels to keep fixed: an int n (levels 0 … n−1, the
            highest-resolution ones) or a list of level indices; None fine-tunes every layer.
            Unlike the public code, the whole encoder is never frozen silently.
        lr: learning rate (lower than for training from scratch).
        steps, val_every: as :func:`train`; every other argument is passed to :func:`train`.

    Returns:
        :class:`TrainResult`, its metadata recording the base model and the frozen levels.
    """
    from bbbcore.vessels.checkpoints import load_pretrained

    fn = "finetune"
    base = None
    if isinstance(model, str):
        base = model
        model = load_pretrained(model, device=kw.get("device", "cpu"))
    meta = dict(kw.pop("metadata", None) or {})
    meta.setdefault("finetuned_from", base or getattr(model, "metadata", {}).get("name", "user model"))
    return _train(fn, model, data, freeze_levels=freeze_levels, lr=lr, steps=steps, val_every=val_every,
                  metadata=meta, **kw)


def _train(fn, model, data, *, val=None, out=None, steps=2000, batch_size=6, patch=(64, 64, 64), lr=1e-3,
           lr_final=None, loss="dice_bce", loss_kw=None, augment=True, min_vessel_fraction=0.001,
           p_vessel=0.9, weights=None, val_fraction=0.2, val_patches=24, val_every=100, patience=10,
           grad_clip=5.0, amp=None, device="cpu", seed=0, resume=False, overwrite=False, progress=True,
           freeze_levels=None, metadata=None) -> TrainResult:
    from bbbcore.vessels.data import PatchSampler
    from bbbcore.vessels.losses import make_loss
    from bbbcore.vessels.model import TubeNet

    patch = tuple(patch) if isinstance(patch, list) else patch
    _validate_args(fn, steps=steps, batch_size=batch_size, patch=patch, lr=lr, lr_final=lr_final,
                   val_fraction=val_fraction, val_patches=val_patches, val_every=val_every,
                   patience=patience, grad_clip=grad_clip, amp=amp, min_vessel_fraction=min_vessel_fraction,
                   p_vessel=p_vessel)
    seed = _checks.seed(fn, seed)
    if not isinstance(model, TubeNet):
        _checks.fail(fn, "model", "a TubeNet", type(model).__name__)
    dev = _checks.as_device(fn, device)
    amp_dtype = None
    if amp in (True, "bf16") or (amp is None and dev.type == "cuda"):
        amp_dtype = torch.bfloat16
    elif amp == "fp16":
        amp_dtype = torch.float16
    if amp_dtype is not None and dev.type != "cuda":
        _checks.fail(fn, "amp", "None or False on the CPU (autocast is used on CUDA only)", repr(amp))
    pairs = _as_pairs(fn, "data", data)
    if not pairs:
        _checks.fail(fn, "data", "at least one (image, label) volume", "none")
    val_pairs = _as_pairs(fn, "val", val)
    if not val_pairs:
        pairs, val_pairs = _held_out(pairs, val_fraction)

    out = Path(out) if out is not None else None
    last_path = best_path = None
    if out is not None:
        last_path, best_path = out / "last.pt", out / "best.pt"
        if last_path.exists() and not (resume or overwrite):
            raise FileExistsError(f"{fn}: {last_path} exists; pass resume=True to continue it or "
                                  f"overwrite=True to start again")
        if best_path.exists() and not (resume or overwrite):
            raise FileExistsError(f"{fn}: {best_path} exists; pass overwrite=True to replace it")
    if isinstance(loss, str):
        loss_fn = make_loss(loss, **(loss_kw or {}))
    elif callable(loss):
        loss_fn = loss
    else:
        _checks.fail(fn, "loss", "a loss name or a callable loss(logits, target, valid=None)", repr(loss))

    rank, world, dev, created_pg = _distributed(dev)
    if freeze_levels is not None:
        model.freeze_encoder(freeze_levels)
    model.to(dev)
    sampler = PatchSampler(pairs, patch, min_vessel_fraction=min_vessel_fraction, p_vessel=p_vessel,
                           weights=weights, seed=_sub_seed(seed, 1 + rank), progress=progress and rank == 0)
    aug = None
    if augment:
        from bbbcore.augment import presets

        aug = presets.tubenet(out_shape=patch, seed=_sub_seed(seed, 3))
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        _checks.fail(fn, "freeze_levels", "to leave some parameters trainable", repr(freeze_levels))
    opt = torch.optim.Adam(params, lr=lr)
    lr_end = lr / 10.0 if lr_final is None else lr_final
    gamma = (lr_end / lr) ** (1.0 / max(1, steps))
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=gamma)
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None
    args = dict(steps=steps, batch_size=batch_size, patch=list(patch), lr=lr, lr_final=lr_end,
                loss=loss if isinstance(loss, str) else type(loss).__name__, loss_kw=loss_kw or {},
                augment=augment, min_vessel_fraction=min_vessel_fraction, p_vessel=p_vessel,
                val_fraction=val_fraction, val_patches=val_patches, val_every=val_every, patience=patience,
                grad_clip=grad_clip, amp=str(amp_dtype) if amp_dtype else None, seed=seed, world_size=world,
                freeze_levels=freeze_levels if not isinstance(freeze_levels, range) else list(freeze_levels),
                datasets=[_describe(p) for p in pairs], validation=[_describe(p) for p in val_pairs])
    history = {k: [] for k in ("step", "loss", "lr", "val_step", "val_loss", "val_dice")}
    state = {"step": 0, "best_val_loss": math.inf, "best_step": 0, "bad": 0, "stopped_early": False,
             "seconds": 0.0}
    best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}

    if resume and last_path is not None and last_path.exists():
        ck = torch.load(last_path, map_location="cpu", weights_only=True)
        if ck.get("format") != FORMAT or "training" not in ck:
            _checks.fail(fn, "out", "a folder with a train() checkpoint last.pt", str(last_path))
        if ck["config"] != model.config:
            _checks.fail(fn, "model", f"the checkpoint's config {ck['config']}", model.config)
        tr = ck["training"]
        for k in ("batch_size", "patch", "seed", "world_size"):
            if tr["args"].get(k) != args[k]:
                _checks.fail(fn, k, f"the checkpoint's {tr['args'].get(k)!r} to resume it", repr(args[k]))
        model.load_state_dict(ck["state_dict"])
        opt.load_state_dict(tr["optimizer"])
        sched.load_state_dict(tr["scheduler"])
        sampler.load_state_dict(tr["sampler"])
        history, state, best_state = tr["history"], tr["state"], tr["best_state"]
        torch.set_rng_state(tr["rng_cpu"])

    # the fixed validation set: drawn once from its own seed (the same at every resume)
    vsampler = PatchSampler(val_pairs, patch, min_vessel_fraction=min_vessel_fraction, p_vessel=p_vessel,
                            seed=_sub_seed(seed, 2), progress=False)
    vbatch = [vsampler.batch(min(batch_size, val_patches - i), device="cpu")
              for i in range(0, val_patches, batch_size)] if rank == 0 else []

    net = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP
        net = DDP(model, device_ids=[dev.index] if dev.type == "cuda" else None)

    def autocast():
        if amp_dtype is None:
            return torch.autocast("cpu", enabled=False)
        return torch.autocast("cuda", dtype=amp_dtype)

    def validate() -> tuple[float, float]:
        model.eval()
        tot = inter = denom = 0.0
        n = 0
        with torch.inference_mode():
            for img, lab, valid in vbatch:
                img, lab = img.to(dev), lab.to(dev)
                valid = valid.to(dev) if valid is not None else None
                with autocast():
                    logits = model(img)
                logits = logits.float()
                tot += float(loss_fn(logits, lab, valid=valid)) * img.shape[0]
                n += img.shape[0]
                pred = _vessel_prob(logits) > 0.5
                w = valid.bool() if valid is not None else torch.ones_like(pred)
                t = lab.bool()
                inter += float((pred & t & w).sum())
                denom += float((pred & w).sum() + (t & w).sum())
        model.train()
        return tot / max(1, n), (2.0 * inter / denom if denom > 0 else float("nan"))

    def save_last():
        if last_path is None or rank != 0:
            return
        tr = {"args": args, "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
              "sampler": sampler.state_dict(), "history": history, "state": state, "best_state": best_state,
              "rng_cpu": torch.get_rng_state()}
        atomic_save({"format": FORMAT, "config": model.config,
                     "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                     "metadata": _metadata(), "training": tr}, last_path)

    def _metadata():
        import bbbcore
        return json.loads(json.dumps({
            **(metadata or {}), "training": args, "best_step": state["best_step"],
            "best_val_loss": state["best_val_loss"] if math.isfinite(state["best_val_loss"]) else None,
            "steps_done": state["step"], "stopped_early": state["stopped_early"],
            "val_dice": history["val_dice"][history["val_step"].index(state["best_step"])]
            if state["best_step"] in history["val_step"] else None,
            "sampler": sampler.stats, "seconds": state["seconds"], "bbbcore_version": bbbcore.__version__,
            "torch_version": str(torch.__version__)}, default=str))

    def save_best():
        if best_path is None or rank != 0:
            return
        atomic_save({"format": FORMAT, "config": model.config, "state_dict": best_state, "metadata": _metadata()},
                    best_path)

    if out is not None and rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    from tqdm.auto import tqdm

    t0 = time.perf_counter() - state["seconds"]
    if rank == 0 and state["step"] == 0 and not history["val_step"]:
        vl, vd = validate()          # the initial model is a candidate too (step 0)
        history["val_step"].append(0)
        history["val_loss"].append(vl)
        history["val_dice"].append(vd)
        state["best_val_loss"], state["best_step"] = vl, 0
    model.train()
    bar = tqdm(total=steps, initial=state["step"], desc=fn, disable=not progress or rank != 0)
    try:
        while state["step"] < steps and not state["stopped_early"]:
            s = state["step"]
            img, lab, valid = sampler.batch(batch_size, device=dev)
            if aug is not None:
                m = lab if valid is None else torch.cat([lab, valid.to(lab.dtype)], dim=1)
                img, m = aug.batch(img, m, seed=_sub_seed(seed, 1000 + s * world + rank))
                lab, valid = (m, None) if valid is None else (m[:, :1], m[:, 1:])
            with autocast():
                logits = net(img)
            loss_v = loss_fn(logits.float(), lab, valid=valid)
            optimizer_step(loss_v, opt, params, grad_clip, scaler, fn, f" at step {s + 1}")
            sched.step()
            state["step"] = s + 1
            history["step"].append(s + 1)
            history["loss"].append(float(loss_v.detach()))
            history["lr"].append(opt.param_groups[0]["lr"])
            bar.update(1)
            if rank == 0 and ((s + 1) % val_every == 0 or s + 1 == steps):
                vl, vd = validate()
                history["val_step"].append(s + 1)
                history["val_loss"].append(vl)
                history["val_dice"].append(vd)
                if vl < state["best_val_loss"]:
                    state["best_val_loss"], state["best_step"], state["bad"] = vl, s + 1, 0
                    best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
                else:
                    state["bad"] += 1
                    if state["bad"] >= patience:
                        state["stopped_early"] = True
                state["seconds"] = time.perf_counter() - t0
                save_best()
                save_last()
                bar.set_postfix(loss=f"{history['loss'][-1]:.3f}", val=f"{vl:.3f}", dice=f"{vd:.3f}")
            if world > 1:
                state["stopped_early"] = _broadcast_flag(state["stopped_early"], dev)
        state["seconds"] = time.perf_counter() - t0
        model.load_state_dict(best_state)
        if world > 1:               # only rank 0 validated: every rank returns rank 0's best weights
            import torch.distributed as dist
            for t in model.state_dict().values():
                dist.broadcast(t, 0)
            for k in ("best_step", "best_val_loss"):
                box = [state[k]]
                dist.broadcast_object_list(box, 0)
                state[k] = box[0]
    finally:
        bar.close()
        if created_pg:
            import torch.distributed as dist
            dist.destroy_process_group()
    model.eval()
    model.metadata = _metadata()
    if rank == 0 and out is not None:
        save_best()
        save_last()
        (out / "history.json").write_text(json.dumps({"history": history, "metadata": model.metadata}, indent=1))
        plot_history(history, out / "training.png", overwrite=True)
    return TrainResult(model=model, history=history, best_step=state["best_step"],
                       best_val_loss=state["best_val_loss"], stopped_early=state["stopped_early"],
                       sampler_stats=sampler.stats, out=out)


def _broadcast_flag(flag: bool, dev) -> bool:
    import torch.distributed as dist

    t = torch.tensor([1 if flag else 0], device=dev)
    dist.broadcast(t, 0)
    return bool(t.item())


def _vessel_prob(logits: torch.Tensor) -> torch.Tensor:
    """Vessel probability (B, 1, …) from logits: sigmoid of one channel, softmax channel 1 of K."""
    if logits.shape[1] == 1:
        return torch.sigmoid(logits)
    return torch.softmax(logits, dim=1)[:, 1:2]


def plot_history(history: dict, path=None, *, overwrite: bool = False):
    """Training loss, validation loss and validation DICE against the step (matplotlib Figure)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.4))
    ax1, ax2 = fig.subplots(1, 2)
    if history["step"]:
        loss = np.asarray(history["loss"])
        k = max(1, len(loss) // 50)
        smooth = np.convolve(loss, np.ones(k) / k, mode="valid")
        ax1.plot(history["step"], loss, color="0.8", lw=0.8, label="train (per step)")
        ax1.plot(history["step"][k - 1:], smooth, color="C0", label=f"train (mean of {k})")
    ax1.plot(history["val_step"], history["val_loss"], "o-", color="C1", ms=3, label="validation")
    ax1.set_xlabel("step")
    ax1.set_ylabel("loss")
    ax1.legend(fontsize=8)
    ax2.plot(history["val_step"], history["val_dice"], "o-", color="C2", ms=3)
    ax2.set_xlabel("step")
    ax2.set_ylabel("validation DICE (threshold 0.5)")
    ax2.set_ylim(0, 1)
    fig.tight_layout()
    if path is not None:
        path = Path(path)
        if path.exists() and not overwrite:
            raise FileExistsError(f"plot_history: {path} exists; pass overwrite=True to replace it")
        fig.savefig(path, dpi=120)
    return fig


__all__ = ["TrainResult", "finetune", "plot_history", "train"]
