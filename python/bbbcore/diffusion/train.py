"""Training of the DLE on movies simulated on the fly (paper §2.4).

Two phases, as the paper:

1. **autoencoder pre-training** of the per-frame encoder with a :class:`FrameDecoder`: L2 loss on
   the (per-movie standardised) frames; paper: Adam 5·10⁻⁴, 5,000 steps of 512 frames;
2. **predictor training** with the Gaussian likelihood loss (paper eq. 2, computed in units of
   ``d_scale_um2_s``); paper: Adam 0.01, 25,000 steps of 50 movies of 400 frames. The encoder is
   kept frozen when it was pre-trained (as the public code does); ``freeze_encoder`` changes that.

Every batch is simulated fresh by :func:`bbbcore.twophoton.simulate_movies` on the training
device; nothing is stored on disk. Movie ``i`` of the run has the global index
``movie_offset = i`` (step-major, then rank, then position in the batch), so no movie repeats;
its D, particle count and PSF jitter are drawn from generators keyed by (seed, movie_offset), so a
resumed or re-run training sees exactly the same movies. Per movie:

- D ~ U(0, D_max), D_max = 1.5 µm²/s (``task="low"``) or 50 µm²/s (``task="high"``);
- density ~ log-uniform over ``density_range_per_um3`` (default 0.005 … 0.12 µm⁻³: from ≈ 4 to
  ≈ 100 particles in the default simulation box of the paper scan, i.e. from movies that are
  mostly empty to the public code's 98 particles), particle count ~ Poisson(density · box volume);
- the PSF jitter of :class:`PSFConfig` (σxy, σz per movie).

No flips or transposes are used as augmentation (the public code has them): a raster-scanned
movie is not symmetric under them, because motion blur follows the scan direction.

Pre-training matters. On the CPU (small network, 50-frame movies, 0.06–0.12 µm⁻³, batch 16,
Adam 10⁻³), 300 autoencoder steps and 800 predictor steps with the frozen encoder reach a
validation L1 of 0.15 µm²/s (mean guess: 0.375) with 72 % of the errors within ±σ̂; the same
predictor trained from scratch on eq. 2 stayed at the prior (L1 0.38, σ̂ ≈ the prior's SD) for
1,000 steps, whereas an L2 loss on D̂ alone got away from it after ≈ 400 steps.

Learning rate: Adam with a linear warm-up over ``warmup_steps`` and a cosine decay to 5 % of
``lr``, and gradient-norm clipping at ``grad_clip``; this keeps the paper's lr = 0.01 stable.

Distributed training: launched under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment) the
process group is initialised from the environment (NCCL on CUDA, Gloo on the CPU), the model is
wrapped in ``DistributedDataParallel``, each rank simulates its own movies (its own
``movie_offset`` range, so the effective batch is ``world_size × batch_size``) and only rank 0
validates and writes checkpoints.
"""
from __future__ import annotations

import dataclasses
import math
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from bbbcore import _checks
from bbbcore._training import init_distributed as _distributed
from bbbcore._training import optimizer_step, sub_seed
from bbbcore.diffusion.dle import (DLE, FORMAT, TASK_D_MAX_UM2_S, DLEConfig, FrameDecoder,
                                   _atomic_save, _jsonable, gaussian_nll, load_dle)
from bbbcore.twophoton.config import NoiseConfig, PSFConfig, ScanConfig
from bbbcore.twophoton.simulate import default_box_um, simulate_movies

AMP = {None: None, "bf16": torch.bfloat16, "fp16": torch.float16}
def derived_seed(seed: int, stream: int) -> int:
    """Seed of a sub-stream: 0 = predictor movies, 1 = pre-training movies, 2 = validation."""
    return sub_seed(seed, stream)


def scan_preset_name(scan: ScanConfig) -> str:
    """``"paper"``, ``"paper_code"`` or ``"custom"`` (ignoring frames, rows and cols)."""
    for name in ("paper", "paper_code"):
        if scan == getattr(ScanConfig, name)(frames=scan.frames, rows=scan.rows, cols=scan.cols):
            return name
    return "custom"


def draw_movie_parameters(seed: int, movie_offset: int, n: int, d_max_um2_s: float,
                          density_range_per_um3, box_volume_um3: float):
    """D [µm²/s] and particle counts of movies ``movie_offset … movie_offset + n − 1``.

    Keyed by (seed, movie_offset): the same movies whatever the batch, rank or restart.

    Returns:
        ``(D (n,) float64, counts (n,) int64, density (n,) float64)``.
    """
    rng = np.random.default_rng([int(seed), int(movie_offset), 0xD1F])
    d = rng.uniform(0.0, d_max_um2_s, n)
    lo, hi = density_range_per_um3
    dens = np.exp(rng.uniform(math.log(lo), math.log(hi), n)) if hi > lo else np.full(n, float(lo))
    counts = rng.poisson(dens * box_volume_um3).astype(np.int64)
    return d, counts, dens


class _Autoencoder(nn.Module):
    """Encoder of a DLE + a decoder; forward gives (reconstruction, target) of standardised frames."""

    def __init__(self, dle: DLE, decoder: FrameDecoder):
        super().__init__()
        self.encoder = dle.encoder
        self.decoder = decoder

    def forward(self, movies):
        B, T, H, W = movies.shape
        frames = DLE.normalize(movies).reshape(B * T, 1, H, W)
        return self.decoder(self.encoder(frames)), frames


def _lr_factor(step: int, total: int, warmup: int) -> float:
    warm = min(1.0, (step + 1) / max(1, warmup))
    cos = 0.5 * (1.0 + math.cos(math.pi * min(step, total) / max(1, total)))
    return warm * (0.05 + 0.95 * cos)


def _validate_args(fn, *, task, steps, batch_size, pretrain_steps, pretrain_batch_size, pretrain_frames,
                   lr, pretrain_lr, frames, density_range_per_um3, warmup_steps, grad_clip, val_size,
                   val_every, checkpoint_every, amp):
    _checks.choice(fn, "task", task, tuple(TASK_D_MAX_UM2_S))
    _checks.non_negative_int(fn, "steps", steps)
    _checks.positive_int(fn, "batch_size", batch_size)
    _checks.non_negative_int(fn, "pretrain_steps", pretrain_steps)
    _checks.positive_int(fn, "pretrain_batch_size", pretrain_batch_size)
    _checks.positive_int(fn, "pretrain_frames", pretrain_frames)
    _checks.positive(fn, "lr", lr)
    _checks.positive(fn, "pretrain_lr", pretrain_lr)
    _checks.positive_int(fn, "frames", frames)
    _checks.non_negative_int(fn, "warmup_steps", warmup_steps)
    _checks.positive(fn, "grad_clip", grad_clip)
    _checks.non_negative_int(fn, "val_size", val_size)
    _checks.positive_int(fn, "val_every", val_every)
    _checks.positive_int(fn, "checkpoint_every", checkpoint_every)
    if amp not in AMP:
        _checks.fail(fn, "amp", "None, 'bf16' or 'fp16'", repr(amp))
    dr = density_range_per_um3
    ok = isinstance(dr, (tuple, list)) and len(dr) == 2 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in dr)
    if not ok or not 0 < dr[0] <= dr[1]:
        _checks.fail(fn, "density_range_per_um3", "(lo, hi) with 0 < lo ≤ hi [µm⁻³]", repr(dr))


def train_dle(config: DLEConfig | None = None, *, task: str = "low", steps: int = 25_000,
              batch_size: int = 50, pretrain_steps: int | None = None, pretrain_batch_size: int = 512,
              pretrain_frames: int = 16, lr: float = 0.01, pretrain_lr: float = 5e-4,
              warmup_steps: int | None = None, grad_clip: float = 1.0, freeze_encoder: bool | None = None,
              frames: int = 400, scan: ScanConfig | None = None, psf: PSFConfig | None = None,
              noise: NoiseConfig | None = None, density_range_per_um3=(0.005, 0.12), seed: int = 0,
              device="cpu", amp: str | None = None, val_size: int = 200, val_every: int = 500,
              checkpoint_path=None, checkpoint_every: int = 1_000, resume: bool = False,
              overwrite: bool = False, progress: bool = True, init_from=None):
    """Train a DLE on freshly simulated movies (autoencoder pre-training, then the predictor).

    Args:
        config: network (default ``DLEConfig.for_task(task)``: the paper's network with
            ``d_scale_um2_s`` = D_max of the task; with ``init_from``, that model's network).
        task: ``"low"`` (D ~ U(0, 1.5) µm²/s) or ``"high"`` (D ~ U(0, 50) µm²/s).
        steps: predictor steps (paper: 25,000).
        batch_size: movies per predictor step and rank (paper: 50).
        pretrain_steps: autoencoder steps (default 5,000 as the paper, 0 with ``init_from``;
            0 skips pre-training).
        pretrain_batch_size: frames per autoencoder step (paper: 512), taken from
            ⌈pretrain_batch_size / pretrain_frames⌉ movies of ``pretrain_frames`` frames.
        pretrain_frames: frames of a pre-training movie.
        lr: predictor learning rate (paper: 0.01); pretrain_lr: autoencoder one (paper: 5·10⁻⁴).
        warmup_steps: linear warm-up of either phase (default min(500, steps // 10)).
        grad_clip: maximum gradient norm.
        freeze_encoder: keep the encoder fixed in the predictor phase (default: True when it was
            pre-trained, False otherwise).
        frames: frames T of a predictor (and validation) movie (paper: 400).
        scan, psf, noise: simulator presets (default ``ScanConfig.paper()``, ``PSFConfig.paper()``,
            ``NoiseConfig.paper()``); ``frames`` replaces ``scan.frames`` and the scan's rows ×
            cols must be ``config.frame_size``.
        density_range_per_um3: (lo, hi) of the log-uniform particle density [µm⁻³].
        seed: seeds the network's initialisation and every simulated movie.
        device: ``"cpu"`` or ``"cuda"`` (``cuda:LOCAL_RANK`` under torchrun); the movies are
            simulated there.
        amp: ``None``, ``"bf16"`` or ``"fp16"`` autocast (CUDA only; fp16 with a gradient scaler).
        val_size: movies of the fixed validation set (simulated once, from its own seed).
        val_every: validate every this many predictor steps (and at the end).
        checkpoint_path: where to write training checkpoints (every ``checkpoint_every`` steps of
            either phase and at the end); loadable by :func:`load_dle`.
        resume: continue from ``checkpoint_path`` when it exists (model, optimiser, scheduler,
            phase, step, history; the movies continue where they stopped).
        overwrite: allow replacing an existing ``checkpoint_path`` when not resuming.
        progress: show tqdm progress bars (rank 0).
        init_from: fine-tune a trained DLE instead of starting from random weights: ``"low"`` /
            ``"high"`` (the shipped models), the path of a :func:`save_dle` file or checkpoint, or
            a :class:`DLE`. Use it to adapt a model to your own scan, PSF or noise (pass them) or
            to continue a training with fresh movies (pass another ``seed``: the movies are keyed
            by it). Its network fixes ``config``; its metadata is kept under
            ``metadata["init_from"]``.

    Returns:
        ``(model, history)``: the trained :class:`DLE` in eval mode, with ``model.metadata`` set
        (pass it to :func:`save_dle`); history a dict of lists — ``pretrain_step``,
        ``pretrain_loss``, ``step``, ``loss`` (NLL in units of d_scale), ``lr``, ``val_step``,
        ``val_l1_um2_s``, ``val_nll`` (eq. 2 in µm²/s), ``val_coverage_1sigma`` — plus
        ``rank``, ``world_size``, ``seconds``.

    Raises:
        ValueError: an invalid argument (named), amp on the CPU, a checkpoint of another run.
        FileExistsError: ``checkpoint_path`` exists and neither ``resume`` nor ``overwrite``.
        FloatingPointError: the loss became non-finite.

    Example:
        >>> model, history = train_dle(DLEConfig.small(), steps=2, batch_size=2, frames=4,
        ...                            pretrain_steps=0, val_size=2, progress=False)
        >>> history["step"], model.metadata["task"], model.metadata["scan_preset"]
        ([1, 2], 'low', 'paper')
    """
    fn = "train_dle"
    parent, parent_source = _init_model(fn, init_from)
    if pretrain_steps is None:
        pretrain_steps = 0 if parent is not None else 5_000
    _validate_args(fn, task=task, steps=steps, batch_size=batch_size, pretrain_steps=pretrain_steps,
                   pretrain_batch_size=pretrain_batch_size, pretrain_frames=pretrain_frames, lr=lr,
                   pretrain_lr=pretrain_lr, frames=frames, density_range_per_um3=density_range_per_um3,
                   warmup_steps=0 if warmup_steps is None else warmup_steps, grad_clip=grad_clip,
                   val_size=val_size, val_every=val_every, checkpoint_every=checkpoint_every, amp=amp)
    seed = _checks.seed(fn, seed)
    d_max = TASK_D_MAX_UM2_S[task]
    if parent is not None and config is not None and config != parent.config:
        _checks.fail(fn, "config", f"None or init_from's network {parent.config.to_dict()}",
                     config.to_dict() if isinstance(config, DLEConfig) else repr(config))
    if parent is not None:
        config = parent.config
    config = DLEConfig.for_task(task) if config is None else config
    if not isinstance(config, DLEConfig):
        _checks.fail(fn, "config", "a DLEConfig", type(config).__name__)
    if not math.isclose(config.d_scale_um2_s, d_max):
        warnings.warn(f"{fn}: config.d_scale_um2_s = {config.d_scale_um2_s} differs from the "
                      f"{task!r} task's D_max = {d_max} µm²/s", stacklevel=2)
    H, W = config.frame_size
    scan = ScanConfig.paper() if scan is None else scan
    psf = PSFConfig.paper() if psf is None else psf
    noise = NoiseConfig.paper() if noise is None else noise
    for name, obj, cls in (("scan", scan, ScanConfig), ("psf", psf, PSFConfig), ("noise", noise, NoiseConfig)):
        if not isinstance(obj, cls):
            _checks.fail(fn, name, f"a {cls.__name__}", type(obj).__name__)
    if (scan.rows, scan.cols) != (H, W):
        _checks.fail(fn, "scan", f"rows × cols = config.frame_size {H}×{W} [px]", f"{scan.rows}×{scan.cols}")
    scan = dataclasses.replace(scan, frames=frames)
    pre_scan = dataclasses.replace(scan, frames=pretrain_frames)
    dev = _checks.as_device(fn, device)
    if amp is not None and dev.type != "cuda":
        _checks.fail(fn, "amp", "None on the CPU (autocast is used on CUDA only)", repr(amp))
    freeze = (pretrain_steps > 0) if freeze_encoder is None else bool(freeze_encoder)
    if checkpoint_path is not None:
        checkpoint_path = Path(checkpoint_path)
        if checkpoint_path.exists() and not (resume or overwrite):
            raise FileExistsError(f"{fn}: {checkpoint_path} exists; pass resume=True to continue it "
                                  f"or overwrite=True to start again")
        if not checkpoint_path.parent.exists():
            raise FileNotFoundError(f"{fn}: folder {checkpoint_path.parent} does not exist")

    rank, world, dev, created_pg = _distributed(dev)
    volume = float(np.prod(np.diff(default_box_um(scan, psf), axis=1)))
    amp_dtype = AMP[amp]
    scaler = torch.amp.GradScaler("cuda") if amp == "fp16" else None
    seeds = {"predictor": seed, "pretrain": derived_seed(seed, 1), "validation": derived_seed(seed, 2)}
    args = dict(task=task, steps=steps, batch_size=batch_size, pretrain_steps=pretrain_steps,
                pretrain_batch_size=pretrain_batch_size, pretrain_frames=pretrain_frames, lr=lr,
                pretrain_lr=pretrain_lr, warmup_steps=warmup_steps, grad_clip=grad_clip,
                freeze_encoder=freeze, frames=frames, density_range_per_um3=list(density_range_per_um3),
                seed=seed, amp=amp, val_size=val_size, world_size=world, init_from=parent_source)

    torch.manual_seed(seed)
    model = DLE(config).to(dev)
    if parent is not None:
        model.load_state_dict(parent.state_dict())
    decoder = FrameDecoder(config).to(dev)
    history = {k: [] for k in ("pretrain_step", "pretrain_loss", "step", "loss", "lr", "val_step",
                               "val_l1_um2_s", "val_nll", "val_coverage_1sigma")}
    phase, start = ("pretrain" if pretrain_steps > 0 else "predictor"), 0
    ckpt = None
    if resume and checkpoint_path is not None and checkpoint_path.exists():
        ckpt = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
        tr = ckpt.get("training") if isinstance(ckpt, dict) else None
        if ckpt.get("format") != FORMAT or tr is None:
            _checks.fail(fn, "checkpoint_path", "a train_dle checkpoint", str(checkpoint_path))
        if ckpt["config"] != config.to_dict():
            _checks.fail(fn, "config", f"the checkpoint's {ckpt['config']}", config.to_dict())
        for k in ("task", "seed", "batch_size", "frames", "pretrain_batch_size", "pretrain_frames",
                  "world_size", "density_range_per_um3", "init_from"):
            if tr["args"].get(k) != args[k]:
                _checks.fail(fn, k, f"the checkpoint's {tr['args'].get(k)!r} to resume it", repr(args[k]))
        model.load_state_dict(ckpt["state_dict"])
        if tr.get("decoder") is not None:
            decoder.load_state_dict(tr["decoder"])
        phase, start = tr["phase"], tr["step"]
        history = {**history, **tr["history"]}
        torch.set_rng_state(tr["rng_cpu"])
        if dev.type == "cuda" and tr.get("rng_cuda") is not None:
            torch.cuda.set_rng_state(tr["rng_cuda"], dev)

    def wrap(module):
        if world == 1:
            return module
        from torch.nn.parallel import DistributedDataParallel as DDP
        if dev.type == "cuda":
            module = nn.SyncBatchNorm.convert_sync_batchnorm(module)
            return DDP(module, device_ids=[dev.index])
        return DDP(module)

    def autocast():
        return torch.autocast("cuda", dtype=amp_dtype) if amp_dtype is not None else _nullctx()

    def simulate(sim_seed, offset, n, sc):
        d, counts, _ = draw_movie_parameters(sim_seed, offset, n, d_max, density_range_per_um3, volume)
        movies, _ = simulate_movies(n, np.asarray(d)[:, None], scan=sc, psf=psf, noise=noise, n_particles=counts,
                                    seed=sim_seed, device=dev, movie_offset=offset)
        return movies, torch.as_tensor(d, dtype=torch.float32, device=dev)

    def save_checkpoint(phase_, step_, opt, sched):
        if checkpoint_path is None or rank != 0:
            return
        tr = {"args": args, "phase": phase_, "step": step_, "history": history,
              "optimizer": opt.state_dict() if opt is not None else None,
              "scheduler": sched.state_dict() if sched is not None else None,
              "scaler": scaler.state_dict() if scaler is not None else None,
              "decoder": {k: v.detach().cpu() for k, v in decoder.state_dict().items()},
              "rng_cpu": torch.get_rng_state(),
              "rng_cuda": torch.cuda.get_rng_state(dev) if dev.type == "cuda" else None,
              "seeds": seeds, "movie_offset_next": _offset(step_)}
        if phase_ == "pretrain":
            tr["movie_offset_next"] = _pre_offset(step_)
        payload = {"format": FORMAT, "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                   "config": config.to_dict(), "metadata": _jsonable(metadata(step_ if phase_ == "predictor" else 0)),
                   "training": tr}
        _atomic_save(payload, checkpoint_path)

    n_pre_movies = -(-pretrain_batch_size // pretrain_frames)

    def _pre_offset(s):
        return (s * world + rank) * n_pre_movies

    def _offset(s):
        return (s * world + rank) * batch_size

    def metadata(done_steps):
        val = {}
        if history["val_step"]:
            val = {"step": history["val_step"][-1], "l1_um2_s": history["val_l1_um2_s"][-1],
                   "nll": history["val_nll"][-1], "coverage_1sigma": history["val_coverage_1sigma"][-1],
                   "size": val_size, "seed": seeds["validation"]}
        import bbbcore
        return {"task": task, "d_range_um2_s": [0.0, d_max], "d_scale_um2_s": config.d_scale_um2_s,
                "frames": frames, "steps": done_steps, "pretrain_steps": pretrain_steps,
                "batch_size": batch_size, "world_size": world, "seed": seed, "lr": lr,
                "freeze_encoder": freeze, "density_range_per_um3": list(density_range_per_um3),
                "scan_preset": scan_preset_name(scan), "scan": dataclasses.asdict(scan),
                "psf": dataclasses.asdict(psf), "noise": dataclasses.asdict(noise),
                "validation": val, "bbbcore_version": bbbcore.__version__,
                "torch_version": str(torch.__version__),
                **({"init_from": {"source": parent_source, "metadata": parent.metadata}}
                   if parent is not None else {})}

    from tqdm.auto import tqdm

    t_start = time.perf_counter()
    # ---------------------------------------------------------------- phase 1: autoencoder
    if phase == "pretrain":
        ae = wrap(_Autoencoder(model, decoder))
        opt = torch.optim.Adam(ae.parameters(), lr=pretrain_lr)
        warm = min(500, pretrain_steps // 10) if warmup_steps is None else warmup_steps
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(s, pretrain_steps, warm))
        if ckpt is not None:
            opt.load_state_dict(ckpt["training"]["optimizer"])
            sched.load_state_dict(ckpt["training"]["scheduler"])
        ae.train()
        bar = tqdm(total=pretrain_steps, initial=start, desc="DLE autoencoder", disable=not progress or rank != 0)
        for s in range(start, pretrain_steps):
            movies, _ = simulate(seeds["pretrain"], _pre_offset(s), n_pre_movies, pre_scan)
            with autocast():
                rec, target = ae(movies)
            loss = torch.mean((rec.float()[:pretrain_batch_size] - target[:pretrain_batch_size]) ** 2)
            _step(loss, opt, ae, grad_clip, scaler, fn)
            sched.step()
            history["pretrain_step"].append(s + 1)
            history["pretrain_loss"].append(loss.item())
            bar.update(1)
            bar.set_postfix(loss=f"{history['pretrain_loss'][-1]:.4f}")
            if (s + 1) % checkpoint_every == 0 or s + 1 == pretrain_steps:
                if s + 1 < pretrain_steps:
                    save_checkpoint("pretrain", s + 1, opt, sched)
                else:  # pre-training done: the predictor phase starts with a fresh optimiser
                    save_checkpoint("predictor", 0, None, None)
        bar.close()
        phase, start, ckpt = "predictor", 0, None
        del ae, opt, sched

    # ---------------------------------------------------------------- validation set
    val = None
    if rank == 0 and val_size > 0:
        vm, vd = [], []
        for o in range(0, val_size, 64):
            m, d = simulate(seeds["validation"], o, min(64, val_size - o), scan)
            vm.append(m)
            vd.append(d)
        val = (torch.cat(vm), torch.cat(vd))

    def evaluate():
        net = model
        net.eval()
        preds, sigs = [], []
        with torch.no_grad(), autocast():
            for i in range(0, val[0].shape[0], batch_size):
                d, s = net(val[0][i:i + batch_size])
                preds.append(d.float())
                sigs.append(s.float())
        net.train()
        d, s, y = torch.cat(preds), torch.cat(sigs), val[1]
        history["val_step"].append(step_done)
        history["val_l1_um2_s"].append(float((d - y).abs().mean()))
        history["val_nll"].append(float(gaussian_nll(d, s, y)))
        history["val_coverage_1sigma"].append(float(((d - y).abs() <= s).float().mean()))

    # ---------------------------------------------------------------- phase 2: predictor
    model.encoder.requires_grad_(not freeze)
    net = wrap(model)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    warm = min(500, steps // 10) if warmup_steps is None else warmup_steps
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(s, steps, warm))
    if ckpt is not None and ckpt["training"]["optimizer"] is not None:
        opt.load_state_dict(ckpt["training"]["optimizer"])
        sched.load_state_dict(ckpt["training"]["scheduler"])
        if scaler is not None and ckpt["training"].get("scaler") is not None:
            scaler.load_state_dict(ckpt["training"]["scaler"])
    net.train()
    step_done = start
    bar = tqdm(total=steps, initial=start, desc="DLE predictor", disable=not progress or rank != 0)
    for s in range(start, steps):
        movies, d_true = simulate(seeds["predictor"], _offset(s), batch_size, scan)
        with autocast():
            d_hat, s_hat = net(movies, raw=True)
        loss = gaussian_nll(d_hat.float(), s_hat.float(), d_true / config.d_scale_um2_s)
        _step(loss, opt, net, grad_clip, scaler, fn)
        history["lr"].append(sched.get_last_lr()[0])
        sched.step()
        step_done = s + 1
        history["step"].append(step_done)
        history["loss"].append(loss.item())
        bar.update(1)
        post = {"nll": f"{history['loss'][-1]:.3f}"}
        if val is not None and (step_done % val_every == 0 or step_done == steps):
            evaluate()
            post["val_l1"] = f"{history['val_l1_um2_s'][-1]:.4g}"
        bar.set_postfix(post)
        if step_done % checkpoint_every == 0 or step_done == steps:
            save_checkpoint("predictor", step_done, opt, sched)
    bar.close()
    if val is not None and (not history["val_step"] or history["val_step"][-1] != step_done):
        evaluate()
    if checkpoint_path is not None and step_done == start == steps and rank == 0:
        save_checkpoint("predictor", step_done, opt, sched)

    if world > 1 and dev.type == "cuda":  # back from SyncBatchNorm to a plain, single-process DLE
        plain = DLE(config).to(dev)
        plain.load_state_dict(model.state_dict())
        model = plain
    model.eval()
    model.metadata = metadata(step_done)
    history.update(rank=rank, world_size=world, seconds=time.perf_counter() - t_start)
    if world > 1:
        import torch.distributed as dist
        dist.barrier()
        if created_pg:
            dist.destroy_process_group()
    return model, history


def _init_model(fn, init_from):
    """``(DLE on the CPU with .config and .metadata, source string)`` of ``init_from``, or (None, None)."""
    if init_from is None:
        return None, None
    if isinstance(init_from, DLE):
        net = DLE(init_from.config)
        net.load_state_dict({k: v.detach().cpu() for k, v in init_from.state_dict().items()})
        net.metadata = dict(getattr(init_from, "metadata", None) or {})
        return net, "model"
    if isinstance(init_from, (str, Path)):
        net = load_dle(init_from)
        net.metadata = dict(getattr(net, "metadata", None) or {})
        return net, str(init_from)
    _checks.fail(fn, "init_from", "None, 'low', 'high', a DLE checkpoint path or a DLE", type(init_from).__name__)


def _step(loss, opt, module, grad_clip, scaler, fn):
    optimizer_step(loss, opt, [p for p in module.parameters() if p.requires_grad], grad_clip, scaler, fn)


class _nullctx:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False
