"""train / finetune: the loss falls and DICE rises on a phantom, the lowest validation loss is
kept, runs resume exactly, fine-tuning freezes what it is told, files are never overwritten."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bbbcore import vessels as V


def _tubes(shape=(24, 48, 48), seed=0):
    """Bright straight tubes along Z, X and Y on a noisy background (an easy, learnable phantom)."""
    rng = np.random.default_rng(seed)
    z, y, x = np.meshgrid(*[np.arange(s) for s in shape], indexing="ij")
    mask = np.zeros(shape, np.uint8)
    for i in range(6):
        cz, c, c2 = rng.uniform(3, shape[0] - 3), rng.uniform(4, shape[1] - 4), rng.uniform(4, shape[2] - 4)
        r = rng.uniform(1.5, 3.0)
        if i % 3 == 0:        # along Z: every slab (the held-out validation one too) holds vessel
            mask |= ((y - c) ** 2 + (x - c2) ** 2 <= r * r)
        elif i % 3 == 1:
            mask |= ((z - cz) ** 2 + (y - c) ** 2 <= r * r)
        else:
            mask |= ((z - cz) ** 2 + (x - c) ** 2 <= r * r)
    image = (mask * 1.0 + rng.normal(0, 0.35, shape)).astype(np.float32)
    return image, mask


def _small_net(seed=0):
    torch.manual_seed(seed)
    return V.TubeNet(depth=2, width=4, dropout=0.0)


def test_train_loss_falls_and_dice_rises(tmp_path):
    img, lab = _tubes()
    net = _small_net()
    res = V.train(net, (img, lab), out=tmp_path / "run", steps=40, batch_size=2, patch=(16, 16, 16),
                  lr=3e-2, val_every=10, val_patches=4, augment=False, progress=False, seed=1)
    h = res.history
    assert np.mean(h["loss"][-10:]) < np.mean(h["loss"][:5])
    assert max(h["val_dice"][1:]) > h["val_dice"][0] + 0.2
    # the kept weights are the lowest validation loss, not the last or the highest
    best = int(np.argmin(h["val_loss"]))
    assert res.best_step == h["val_step"][best]
    assert res.best_val_loss == pytest.approx(min(h["val_loss"]))
    for f in ("best.pt", "last.pt", "history.json", "training.png"):
        assert (tmp_path / "run" / f).exists()
    loaded = V.load_model(tmp_path / "run" / "best.pt")
    x = torch.as_tensor(img[None, None, :16, :16, :16].copy())
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), res.model(x))
    meta = json.loads((tmp_path / "run" / "history.json").read_text())["metadata"]
    assert meta["best_step"] == res.best_step and meta["training"]["patch"] == [16, 16, 16]


def test_train_with_augmentation_runs(tmp_path):
    img, lab = _tubes(seed=3)
    res = V.train(_small_net(), (img, lab), steps=3, batch_size=2, patch=(16, 16, 16), val_every=3,
                  val_patches=2, progress=False)
    assert len(res.history["loss"]) == 3 and all(np.isfinite(res.history["loss"]))


class _Interrupting:
    """DICE+BCE that raises on its n-th call (an interrupted run)."""

    def __init__(self, n):
        self.n, self.calls, self.loss = n, 0, V.make_loss("dice_bce")

    def __call__(self, logits, target, valid=None):
        self.calls += 1
        if self.calls == self.n:
            raise KeyboardInterrupt
        return self.loss(logits, target, valid=valid)


def test_resume_continues_exactly(tmp_path):
    img, lab = _tubes(seed=4)
    kw = dict(steps=6, batch_size=2, patch=(16, 16, 16), lr=1e-2, val_every=3, val_patches=2, progress=False,
              seed=5)
    full = V.train(_small_net(), (img, lab), out=tmp_path / "a", **kw)
    # calls: initial validation, steps 1-3, validation at 3, then step 4 raises (last.pt is at step 3)
    with pytest.raises(KeyboardInterrupt):
        V.train(_small_net(), (img, lab), out=tmp_path / "b", loss=_Interrupting(6), **kw)
    assert not (tmp_path / "b" / "history.json").exists()
    resumed = V.train(_small_net(seed=99), (img, lab), out=tmp_path / "b", resume=True, **kw)
    np.testing.assert_allclose(resumed.history["loss"], full.history["loss"], rtol=1e-5)
    np.testing.assert_allclose(resumed.history["val_loss"], full.history["val_loss"], rtol=1e-5)
    assert resumed.best_step == full.best_step


def test_refuses_to_overwrite_a_run(tmp_path):
    img, lab = _tubes(seed=6)
    kw = dict(steps=1, batch_size=1, patch=(16, 16, 16), val_every=1, val_patches=1, progress=False,
              augment=False)
    V.train(_small_net(), (img, lab), out=tmp_path / "r", **kw)
    with pytest.raises(FileExistsError, match="resume=True"):
        V.train(_small_net(), (img, lab), out=tmp_path / "r", **kw)
    V.train(_small_net(), (img, lab), out=tmp_path / "r", overwrite=True, **kw)


def test_finetune_freezes_chosen_levels():
    img, lab = _tubes(seed=7)
    net = V.TubeNet(depth=3, width=4, dropout=0.0)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    res = V.finetune(net, (img, lab), freeze_levels=1, steps=2, batch_size=1, patch=(16, 16, 16), val_every=1,
                     val_patches=1, progress=False, augment=False, lr=1e-2)
    after = res.model.state_dict()
    lvl0 = [k for k in before if k.startswith("encoder_levels.0.")]
    assert lvl0 and all(torch.equal(before[k], after[k]) for k in lvl0)
    assert res.model.metadata["training"]["freeze_levels"] == 1


def test_bad_input(tmp_path):
    img, lab = _tubes(seed=8)
    with pytest.raises(ValueError, match="train: model must be a TubeNet"):
        V.train(torch.nn.Conv3d(1, 1, 3), (img, lab))
    with pytest.raises(ValueError, match="label must be the image's shape"):
        V.train(_small_net(), (img, lab[:, :-1]))
    with pytest.raises(ValueError, match="train: patch must be 3 integers"):
        V.train(_small_net(), (img, lab), patch=(16, 16))
    with pytest.raises(ValueError, match="train: amp must be None or False on the CPU"):
        V.train(_small_net(), (img, lab), amp="bf16", steps=1)
    with pytest.raises(FileNotFoundError, match="missing.npy"):
        V.train(_small_net(), (tmp_path / "missing.npy", lab))
    with pytest.raises(ValueError, match="train: data must be"):
        V.train(_small_net(), 42)


def _ddp_worker(rank, world, port, out):
    import os
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    img, lab = _tubes(seed=9)
    res = V.train(_small_net(), (img, lab), out=out, steps=3, batch_size=1, patch=(16, 16, 16), lr=1e-2,
                  val_every=3, val_patches=2, progress=False, augment=False)
    torch.save({"loss": res.history["loss"], "best_step": res.best_step, "state": res.model.state_dict()},
               f"{out}/rank{rank}.pt")


def test_ddp_two_ranks_on_cpu(tmp_path):
    import socket

    import torch.multiprocessing as mp
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_ddp_worker, args=(2, port, str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert r0["loss"] != r1["loss"]                      # each rank drew its own patches
    assert r0["best_step"] == r1["best_step"]
    for k in r0["state"]:                                # every rank returns rank 0's best weights
        assert torch.equal(r0["state"][k], r1["state"][k]), k
    meta = torch.load(tmp_path / "best.pt", weights_only=True)["metadata"]
    assert meta["training"]["world_size"] == 2
