"""DLE network, loss, sizes, checkpoints and training loop (bbbcore.diffusion.dle / train)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from bbbcore.diffusion.dle import (DLE, DLEConfig, FrameDecoder, FrameEncoder, count_flops,
                                   count_parameters, gaussian_nll, load_dle, save_dle,
                                   shipped_weights_path)
from bbbcore.diffusion.train import draw_movie_parameters, train_dle

SMALL = DLEConfig.small()


def _movies(B, T, hw=(20, 20), seed=0, bg=100.0):
    g = torch.Generator().manual_seed(seed)
    return bg + 10.0 * torch.rand(B, T, *hw, generator=g)


# ----------------------------------------------------------------------------- network


@pytest.mark.parametrize("T", [1, 2, 7, 64])
def test_forward_shapes_any_length(T):
    torch.manual_seed(0)
    net = DLE(SMALL).eval()
    with torch.no_grad():
        d, s = net(_movies(3, T))
    assert d.shape == (3,) and s.shape == (3,)
    assert torch.isfinite(d).all() and torch.isfinite(s).all()
    assert (d >= 0).all()
    assert (s >= SMALL.sigma_floor * SMALL.d_scale_um2_s - 1e-6).all()


def test_outputs_in_um2_s_units_of_d_scale():
    torch.manual_seed(0)
    a = DLE(SMALL).eval()
    torch.manual_seed(0)
    b = DLE(DLEConfig.small(d_scale_um2_s=50.0)).eval()
    x = _movies(2, 9)
    with torch.no_grad():
        da, sa = a(x)
        db, sb = b(x)
        ra, rs = a(x, raw=True)
    torch.testing.assert_close(db / 50.0, da / 1.5)
    torch.testing.assert_close(sb / 50.0, sa / 1.5)
    torch.testing.assert_close(ra * 1.5, da)
    torch.testing.assert_close(rs * 1.5, sa)


def test_invariant_to_background_offset_and_gain():
    torch.manual_seed(1)
    net = DLE(SMALL).eval()
    x = _movies(2, 12, seed=3)
    with torch.no_grad():
        d0, s0 = net(x)
        d1, s1 = net(x + 250.0)        # brighter background
        d2, s2 = net(3.0 * x)          # detector gain
    torch.testing.assert_close(d1, d0, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(s1, s0, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(d2, d0, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(s2, s0, atol=1e-4, rtol=1e-4)


def test_normalize_is_per_movie_standardisation():
    x = _movies(2, 5, seed=4)
    z = DLE.normalize(x)
    for i in range(2):
        torch.testing.assert_close(z[i].flatten().median(), torch.tensor(0.0), atol=1e-6, rtol=0)
        torch.testing.assert_close(z[i].std(correction=0), torch.tensor(1.0))
    # a constant movie does not divide by zero
    assert torch.isfinite(DLE.normalize(torch.full((1, 3, 20, 20), 7.0))).all()


def test_integer_movies_accepted():
    torch.manual_seed(0)
    net = DLE(SMALL).eval()
    x = _movies(1, 6)
    with torch.no_grad():
        torch.testing.assert_close(net(x.round().to(torch.int32))[0], net(x.round())[0])


@pytest.mark.parametrize("shape", [(20, 20), (3, 20, 20), (1, 0, 20, 20), (0, 4, 20, 20), (1, 4, 24, 24),
                                   (1, 4, 20, 21), (1, 1, 4, 20, 20)])
def test_bad_movie_shape(shape):
    net = DLE(SMALL)
    with pytest.raises(ValueError, match=r"DLE.forward: movies must be of shape \(B ≥ 1, T ≥ 1, 20, 20\)"):
        net(torch.zeros(shape))


def test_bad_movie_type():
    with pytest.raises(ValueError, match="DLE.forward: movies must be a torch.Tensor"):
        DLE(SMALL)(np.zeros((1, 4, 20, 20)))
    with pytest.raises(ValueError, match="DLE.forward: movies must be real-valued"):
        DLE(SMALL)(torch.zeros(1, 4, 20, 20, dtype=torch.complex64))


@pytest.mark.parametrize("kw, arg", [(dict(temporal_kernel=6), "temporal_kernel"), (dict(norm="layer"), "norm"),
                                     (dict(frame_size=(20,)), "frame_size"), (dict(n_blocks=0), "n_blocks"),
                                     (dict(d_scale_um2_s=-1.0), "d_scale_um2_s"), (dict(dropout=1.0), "dropout")])
def test_bad_config(kw, arg):
    with pytest.raises(ValueError, match=f"DLEConfig: {arg} must be"):
        DLEConfig(**kw)


def test_config_dict_round_trip():
    for cfg in (DLEConfig.paper(), DLEConfig.small(norm="group", frame_size=(24, 16))):
        assert DLEConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert DLEConfig.for_task("high", "small").d_scale_um2_s == 50.0
    with pytest.raises(ValueError, match="DLEConfig.from_dict: d must be keys among"):
        DLEConfig.from_dict({"widht": 3})


@pytest.mark.parametrize("hw", [(20, 20), (24, 24), (17, 13), (1, 1)])
def test_autoencoder_parts_shapes(hw):
    cfg = DLEConfig.small(frame_size=hw)
    enc, dec = FrameEncoder(cfg), FrameDecoder(cfg)
    z = enc(torch.randn(5, 1, *hw))
    assert z.shape == (5, cfg.latent_dim)
    assert dec(z).shape == (5, 1, *hw)


@pytest.mark.parametrize("norm", ["group", "none"])
def test_other_norms(norm):
    net = DLE(DLEConfig.small(norm=norm)).eval()
    with torch.no_grad():
        d, s = net(_movies(2, 10))
    assert torch.isfinite(d).all() and torch.isfinite(s).all()


# ----------------------------------------------------------------------------- sizes


def test_parameter_counts():
    paper = count_parameters(DLEConfig.paper())
    small = count_parameters(SMALL)
    assert 45e6 <= paper <= 65e6, paper
    assert small < 1e6, small
    # count on the meta device equals the count of a real network
    assert small == sum(p.numel() for p in DLE(SMALL).parameters())


def _flops_by_hand(cfg: DLEConfig, T: int) -> int:
    """2 × MACs from the layer formulas (independent of the hook-based counter)."""
    c, L = cfg.encoder_channels, cfg.latent_dim
    h, w = cfg.frame_size
    macs = 0
    for cin, cout, stride in [(1, c, 2), (c, c, 1), (c, 2 * c, 2), (2 * c, 2 * c, 1), (2 * c, 2 * c, 2)]:
        h, w = (h - 1) // stride + 1, (w - 1) // stride + 1
        macs += T * h * w * cout * cin * 9
    macs += T * 2 * c * h * w * L
    k = cfg.temporal_kernel
    macs += T * cfg.temporal_channels * L * k
    t = T
    for cin, cout, stride in cfg.block_plan():
        t = (t - 1) // stride + 1
        macs += t * cout * cin * k + t * cout * cout * k + (t * cout * cin if cin != cout else 0)
    last = cfg.block_plan()[-1][1]
    macs += last * cfg.head_hidden + cfg.head_hidden * 2
    return 2 * macs


@pytest.mark.parametrize("cfg", [DLEConfig.paper(), SMALL], ids=["paper", "small"])
def test_flop_count(cfg):
    assert count_flops(cfg, 400) == _flops_by_hand(cfg, 400)
    assert count_flops(cfg, 37) == _flops_by_hand(cfg, 37)


def test_paper_flops_near_paper():
    # paper: 15.1 GFLOP per 400-frame movie (on 24×24 frames in its public code)
    assert 12e9 < count_flops(DLEConfig.paper(), 400) < 18e9
    assert count_flops(SMALL, 400) < 0.5e9


# ----------------------------------------------------------------------------- loss


def test_gaussian_nll_hand_computation():
    d_hat = torch.tensor([1.0, 2.0])
    sigma = torch.tensor([0.5, 2.0])
    d = torch.tensor([0.0, 2.0])
    # [(1−0)²/(2·0.25) + ln 0.5 + 0 + ln 2] / 2 = 2/2 = 1
    torch.testing.assert_close(gaussian_nll(d_hat, sigma, d), torch.tensor(1.0))


def test_gaussian_nll_random_vs_loop():
    g = torch.Generator().manual_seed(5)
    d_hat = torch.rand(17, generator=g, dtype=torch.float64) * 1.5
    sigma = torch.rand(17, generator=g, dtype=torch.float64) + 0.05
    d = torch.rand(17, generator=g, dtype=torch.float64) * 1.5
    want = sum((a - b) ** 2 / (2 * s ** 2) + math.log(s) for a, s, b in
               zip(d_hat.tolist(), sigma.tolist(), d.tolist(), strict=True)) / 17
    assert float(gaussian_nll(d_hat, sigma, d)) == pytest.approx(want, rel=1e-12)


def test_gaussian_nll_minimised_at_truth_and_matched_sigma():
    d = torch.linspace(0, 1.5, 101, dtype=torch.float64)
    err = 0.1 * torch.sign(torch.linspace(-1, 1, 101, dtype=torch.float64))
    base = gaussian_nll(d + err, torch.full_like(d, 0.1), d)
    assert gaussian_nll(d + err, torch.full_like(d, 0.2), d) > base
    assert gaussian_nll(d + err, torch.full_like(d, 0.05), d) > base


def test_gaussian_nll_bad_input():
    with pytest.raises(ValueError, match="gaussian_nll: sigma_hat, d_true must be of the shape of d_hat"):
        gaussian_nll(torch.ones(3), torch.ones(2), torch.ones(3))
    with pytest.raises(ValueError, match="gaussian_nll: d_true must be a torch.Tensor"):
        gaussian_nll(torch.ones(3), torch.ones(3), [1.0, 1.0, 1.0])


# ----------------------------------------------------------------------------- checkpoints


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(2)
    net = DLE(SMALL)
    net.train()
    with torch.no_grad():
        net(_movies(4, 9, seed=1))  # move the BatchNorm running statistics off their defaults
    net.eval()
    meta = {"task": "low", "steps": 3, "seed": 2, "validation": {"l1_um2_s": 0.3}, "frames": 9,
            "d_scale_um2_s": 1.5, "scan": {"frames": 9, "rows": 20}}
    p = save_dle(tmp_path / "m.pt", net, metadata=meta)
    side = json.loads((tmp_path / "m.json").read_text())
    assert side["config"] == SMALL.to_dict() and side["metadata"] == meta and side["weights"] == "m.pt"
    back = load_dle(p)
    assert not back.training and back.config == SMALL and back.metadata == meta
    x = _movies(3, 11, seed=9)
    with torch.no_grad():
        for a, b in zip(net(x), back(x), strict=True):
            assert torch.equal(a, b)
    with pytest.raises(FileExistsError, match="save_dle: .* exists; pass overwrite=True"):
        save_dle(p, net, metadata=meta)
    save_dle(p, net, metadata=meta, overwrite=True)


def test_save_bad_metadata(tmp_path):
    with pytest.raises(ValueError, match="save_dle: metadata must be JSON-able"):
        save_dle(tmp_path / "m.pt", DLE(SMALL), metadata={"f": object()})
    with pytest.raises(ValueError, match="save_dle: model must be a DLE"):
        save_dle(tmp_path / "m.pt", torch.nn.Linear(2, 2))


def test_load_shipped_weights_missing_explains_training(tmp_path, monkeypatch):
    """Without the package's weight files, load_dle says how to train them (never downloads)."""
    import bbbcore.diffusion.dle as dle_module

    monkeypatch.setattr(dle_module, "WEIGHTS_DIR", tmp_path)
    for name in ("low", "high"):
        assert not shipped_weights_path(name).exists()
        with pytest.raises(FileNotFoundError, match=f"load_dle: no DLE weights for the '{name}' task") as e:
            load_dle(name)
        msg = str(e.value)
        assert "train_dle" in msg and "save_dle" in msg and "never downloads" in msg


def test_load_bad_paths(tmp_path):
    with pytest.raises(FileNotFoundError, match="load_dle: no checkpoint at"):
        load_dle(tmp_path / "none.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="load_dle: name_or_path must be a DLE checkpoint"):
        load_dle(tmp_path / "junk.pt")
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="load_dle: name_or_path must be a checkpoint of format"):
        load_dle(tmp_path / "other.pt")
    with pytest.raises(ValueError, match="load_dle: name_or_path must be 'low', 'high' or a path"):
        load_dle(3)


# ----------------------------------------------------------------------------- training

TINY = dict(batch_size=8, frames=16, pretrain_steps=0, val_size=8, val_every=10, progress=False, seed=0)


def test_draw_movie_parameters_keyed_by_offset():
    d1, n1, r1 = draw_movie_parameters(7, 100, 4, 1.5, (0.005, 0.12), 850.0)
    d2, n2, r2 = draw_movie_parameters(7, 100, 4, 1.5, (0.005, 0.12), 850.0)
    d3, _, _ = draw_movie_parameters(7, 104, 4, 1.5, (0.005, 0.12), 850.0)
    assert np.array_equal(d1, d2) and np.array_equal(n1, n2)
    assert not np.array_equal(d1, d3)
    d, n, rho = draw_movie_parameters(0, 0, 4000, 50.0, (0.005, 0.12), 850.0)
    assert 0 <= d.min() and d.max() < 50 and abs(d.mean() - 25) < 1.0
    assert 0.005 <= rho.min() and rho.max() <= 0.12
    # log-uniform density: median at the geometric mean of the range
    assert abs(np.log(np.median(rho)) - 0.5 * np.log(0.005 * 0.12)) < 0.1
    # Poisson counts: mean = density · volume
    assert abs(n.mean() / (rho.mean() * 850.0) - 1) < 0.05


def test_train_loss_falls():
    model, h = train_dle(SMALL, steps=20, lr=0.01, **TINY)
    loss = np.array(h["loss"])
    assert len(loss) == 20 and np.all(np.isfinite(loss))
    # σ̂ starts at d_scale, far above the spread of D/d_scale ~ U(0, 1): the NLL must fall
    assert loss[-5:].mean() < loss[:5].mean() - 0.2, loss
    assert h["step"] == list(range(1, 21))
    assert h["val_step"] == [10, 20] and all(np.isfinite(h["val_l1_um2_s"]))
    assert not model.training
    md = model.metadata
    assert md["task"] == "low" and md["steps"] == 20 and md["frames"] == 16 and md["scan"]["frames"] == 16
    assert md["scan_preset"] == "paper" and md["validation"]["l1_um2_s"] == h["val_l1_um2_s"][-1]


def test_pretrain_loss_falls_and_encoder_frozen():
    torch.manual_seed(0)
    kw = {**TINY, "pretrain_steps": 12, "pretrain_batch_size": 64, "pretrain_frames": 8, "pretrain_lr": 3e-3}
    model, h = train_dle(SMALL, steps=2, **kw)
    pl = np.array(h["pretrain_loss"])
    assert len(pl) == 12 and pl[-3:].mean() < pl[:3].mean()
    # the encoder is frozen during the predictor phase: two steps leave it as pre-trained
    model2, _ = train_dle(SMALL, steps=0, **kw)
    for a, b in zip(model.encoder.parameters(), model2.encoder.parameters(), strict=True):
        assert torch.equal(a, b)
    assert not torch.equal(model.head[-1].weight, model2.head[-1].weight)


def test_training_is_reproducible():
    _, h1 = train_dle(SMALL, steps=3, **TINY)
    _, h2 = train_dle(SMALL, steps=3, **TINY)
    assert h1["loss"] == h2["loss"]


def test_resume_continues_step_count(tmp_path):
    ck = tmp_path / "run.pt"
    m1, h1 = train_dle(SMALL, steps=4, checkpoint_path=ck, checkpoint_every=2, **TINY)
    ckpt = torch.load(ck, weights_only=True)
    assert ckpt["training"]["step"] == 4 and ckpt["training"]["movie_offset_next"] == 4 * TINY["batch_size"]
    # the training checkpoint is a DLE checkpoint too
    x = _movies(2, 16)
    with torch.no_grad():
        assert torch.equal(load_dle(ck)(x)[0], m1(x)[0])
    with pytest.raises(FileExistsError, match="train_dle: .* exists; pass resume=True"):
        train_dle(SMALL, steps=6, checkpoint_path=ck, **TINY)
    with pytest.raises(ValueError, match="train_dle: batch_size must be the checkpoint's 8"):
        train_dle(SMALL, steps=6, checkpoint_path=ck, resume=True, **{**TINY, "batch_size": 4})
    m2, h2 = train_dle(SMALL, steps=6, checkpoint_path=ck, resume=True, **TINY)
    assert h2["step"] == [1, 2, 3, 4, 5, 6]
    assert h2["loss"][:4] == h1["loss"][:4]
    assert m2.metadata["steps"] == 6
    assert torch.load(ck, weights_only=True)["training"]["step"] == 6


def test_init_from_fine_tunes_a_trained_model(tmp_path):
    """init_from starts from the given weights (a DLE, a file or a shipped name), keeps its network
    and records its lineage; pre-training is off by default."""
    parent, _ = train_dle(SMALL, steps=3, **TINY)
    path = tmp_path / "parent.pt"
    save_dle(path, parent)
    # zero steps: the weights come back unchanged, whatever the source
    for src in (parent, str(path)):
        child, h = train_dle(steps=0, init_from=src, **{**TINY, "val_size": 0})
        assert child.config == parent.config and h["pretrain_step"] == []
        for a, b in zip(child.state_dict().values(), parent.state_dict().values(), strict=True):
            assert torch.equal(a, b)
    kw = {k: v for k, v in TINY.items() if k != "pretrain_steps"}   # the default: no pre-training
    child, h = train_dle(steps=3, init_from=str(path), **{**kw, "seed": 5})
    md = child.metadata
    assert h["pretrain_step"] == [] and len(h["step"]) == 3
    assert md["init_from"]["source"] == str(path) and md["init_from"]["metadata"]["steps"] == 3
    assert md["pretrain_steps"] == 0 and md["freeze_encoder"] is False and md["steps"] == 3
    # the whole network trains (nothing frozen) and moves away from the parent
    assert not torch.equal(child.encoder.linear.weight, parent.encoder.linear.weight)
    assert not torch.equal(child.head[-1].weight, parent.head[-1].weight)
    json.dumps(md)  # the lineage is JSON-able (it goes into the record beside the weights)


def test_init_from_bad_input(tmp_path):
    parent, _ = train_dle(SMALL, steps=0, **{**TINY, "val_size": 0})
    other = DLEConfig.small(latent_dim=16)
    with pytest.raises(ValueError, match="train_dle: config must be None or init_from's network"):
        train_dle(other, steps=1, init_from=parent, **TINY)
    with pytest.raises(ValueError, match="train_dle: init_from must be None, 'low', 'high'"):
        train_dle(steps=1, init_from=3, **TINY)
    with pytest.raises(FileNotFoundError, match="load_dle: no checkpoint at"):
        train_dle(steps=1, init_from=str(tmp_path / "missing.pt"), **TINY)


def test_resume_mid_pretraining(tmp_path):
    ck = tmp_path / "ae.pt"
    kw = {**TINY, "pretrain_steps": 4}
    train_dle(SMALL, steps=0, pretrain_batch_size=16, pretrain_frames=8, checkpoint_path=ck,
              checkpoint_every=2, **kw)
    tr = torch.load(ck, weights_only=True)["training"]
    assert tr["phase"] == "predictor" and tr["step"] == 0 and len(tr["history"]["pretrain_loss"]) == 4
    _, h = train_dle(SMALL, steps=2, pretrain_batch_size=16, pretrain_frames=8, checkpoint_path=ck,
                     resume=True, **kw)
    assert h["pretrain_step"] == [1, 2, 3, 4] and h["step"] == [1, 2]


@pytest.mark.parametrize("kw, match", [
    (dict(task="medium"), "train_dle: task must be one of"),
    (dict(batch_size=0), "train_dle: batch_size must be an integer >= 1"),
    (dict(amp="bf16"), "train_dle: amp must be None on the CPU"),
    (dict(amp="fp8"), "train_dle: amp must be None, 'bf16' or 'fp16'"),
    (dict(density_range_per_um3=(0.1, 0.01)), "train_dle: density_range_per_um3 must be"),
    (dict(lr=0.0), "train_dle: lr must be a finite number > 0"),
])
def test_train_bad_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        train_dle(SMALL, **{**TINY, "steps": 1, **kw})


def test_train_scan_must_match_frame_size():
    from bbbcore.twophoton import ScanConfig
    with pytest.raises(ValueError, match="train_dle: scan must be rows × cols = config.frame_size 20×20"):
        train_dle(SMALL, scan=ScanConfig.paper(rows=24, cols=24), **{**TINY, "steps": 1})


def _ddp_worker(rank, world, port, path, out):
    import os
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    model, h = train_dle(SMALL, steps=2, checkpoint_path=path, **{**TINY, "batch_size": 2, "frames": 8})
    torch.save({"rank": h["rank"], "world": h["world_size"], "state": model.state_dict()}, out.format(rank))


def test_ddp_two_ranks_on_cpu(tmp_path):
    import socket
    import torch.multiprocessing as mp
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = str(tmp_path / "rank{}.pt")
    mp.spawn(_ddp_worker, args=(2, port, str(tmp_path / "ddp.pt"), out), nprocs=2, join=True)
    r0, r1 = torch.load(out.format(0), weights_only=True), torch.load(out.format(1), weights_only=True)
    assert (r0["rank"], r1["rank"], r0["world"], r1["world"]) == (0, 1, 2, 2)
    for k in r0["state"]:
        if "running" not in k and "num_batches" not in k:
            assert torch.equal(r0["state"][k], r1["state"][k]), k  # gradients were averaged
    ck = torch.load(tmp_path / "ddp.pt", weights_only=True)
    assert ck["training"]["args"]["world_size"] == 2 and ck["metadata"]["world_size"] == 2


@pytest.mark.cuda
def test_train_on_cuda_with_amp():
    model, h = train_dle(SMALL, steps=3, device="cuda", amp="bf16", **TINY)
    assert np.all(np.isfinite(h["loss"])) and next(model.parameters()).is_cuda
    from bbbcore.twophoton import ScanConfig, simulate_movies
    movies, _ = simulate_movies(2, 0.5, scan=ScanConfig.paper(frames=8), seed=3)
    with torch.no_grad():
        d, s = model(movies.cuda())
        d_cpu, s_cpu = load_dle_copy_on_cpu(model)(movies)
    assert torch.isfinite(d).all() and (s > 0).all()
    torch.testing.assert_close(d.cpu(), d_cpu, rtol=1e-2, atol=1e-3)  # TF32 convolutions on the GPU


def load_dle_copy_on_cpu(model):
    cpu = DLE(model.config).eval()
    cpu.load_state_dict({k: v.cpu() for k, v in model.state_dict().items()})
    return cpu


def test_train_dle_batch_of_three():
    """A (3,) array of per-movie D is ambiguous for simulate_movies with batch 3: train_dle passes
    (B, 1) so any batch size works."""
    from bbbcore.diffusion import DLEConfig, train_dle

    _, history = train_dle(DLEConfig.small(), steps=1, batch_size=3, frames=3, pretrain_steps=0,
                           val_size=3, progress=False)
    assert history["step"] == [1] and np.isfinite(history["val_l1_um2_s"][-1])
