"""Segmentation losses: hand computations, MONAI where definitions coincide, the valid mask."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from bbbcore.vessels.losses import DiceBCELoss, DiceLoss, FocalLoss, WeightedCELoss, make_loss

SHAPE = (2, 4, 5, 6)          # Z, Y, X after (B,) — tiny volumes


def _data(k=1, seed=0, shape=SHAPE, dtype=torch.float64, p_vessel=0.2):
    g = torch.Generator().manual_seed(seed)
    b, *sp = shape
    logits = (2.0 * torch.randn(b, k, *sp, generator=g)).to(dtype)
    if k == 1:
        target = (torch.rand(b, 1, *sp, generator=g) < p_vessel).to(torch.int64)
    else:
        target = torch.randint(0, k, (b, 1, *sp), generator=g)
    return logits, target


def _sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


# --------------------------------------------------------------------------------------------
# Dice + BCE


def test_dice_bce_hand_computation():
    x = [2.0, -1.0, 0.5, -3.0, 0.1, 1.5]
    t = [1, 0, 1, 0, 0, 1]
    s = 1e-5
    p = [_sigmoid(v) for v in x]
    dice = (2 * sum(pi * ti for pi, ti in zip(p, t)) + s) / (sum(p) + sum(t) + s)
    bce = -sum(ti * math.log(pi) + (1 - ti) * math.log(1 - pi) for pi, ti in zip(p, t)) / len(x)
    logits = torch.tensor(x, dtype=torch.float64).view(1, 1, 1, 2, 3)
    target = torch.tensor(t).view(1, 1, 1, 2, 3)
    got = DiceBCELoss(smooth=s)(logits, target)
    assert got.item() == pytest.approx((1 - dice) + bce, rel=1e-12)
    got = DiceBCELoss(dice_weight=0.5, bce_weight=2.0, smooth=s)(logits, target.bool())
    assert got.item() == pytest.approx(0.5 * (1 - dice) + 2.0 * bce, rel=1e-12)
    # pos_weight scales the vessel term of BCE, as in torch.nn.BCEWithLogitsLoss
    bce_pw = -sum(3.0 * ti * math.log(pi) + (1 - ti) * math.log(1 - pi)
                  for pi, ti in zip(p, t)) / len(x)
    got = DiceBCELoss(dice_weight=0.0, pos_weight=3.0)(logits, target.double())
    assert got.item() == pytest.approx(bce_pw, rel=1e-12)


def test_dice_per_sample_hand_computation():
    x = [[2.0, -1.0, 0.5], [-2.0, -1.0, -0.5]]
    t = [[1, 0, 1], [0, 0, 0]]
    s = 1e-3
    losses = []
    for xs, ts in zip(x, t):
        p = [_sigmoid(v) for v in xs]
        losses.append(1 - (2 * sum(a * b for a, b in zip(p, ts)) + s) / (sum(p) + sum(ts) + s))
    logits = torch.tensor(x, dtype=torch.float64).view(2, 1, 1, 1, 3)
    target = torch.tensor(t).view(2, 1, 1, 1, 3)
    got = DiceLoss(smooth=s, batch_dice=False)(logits, target)
    assert got.item() == pytest.approx(sum(losses) / 2, rel=1e-12)


def test_dice_term_has_a_gradient():
    """With bce_weight=0 the loss still trains the logits (the public code's rounded Dice
    would not: round() has a zero derivative)."""
    logits, target = _data(seed=1)
    logits.requires_grad_(True)
    DiceBCELoss(bce_weight=0.0)(logits, target).backward()
    g = logits.grad
    assert torch.isfinite(g).all() and (g != 0).all()
    # gradient direction: raise the logits of vessel voxels, lower those of background voxels
    assert (g[target == 1] < 0).all() and (g[target == 0] > 0).all()

    rounded = logits.detach().clone().requires_grad_(True)
    p = torch.round(torch.sigmoid(rounded))
    (1 - 2 * (p * target).sum() / (p.sum() + target.sum())).backward()
    assert (rounded.grad == 0).all()                     # the pitfall being avoided


def test_dice_bce_matches_monai_binary():
    monai = pytest.importorskip("monai")
    logits, target = _data(seed=2)
    for batch in (True, False):
        ref = monai.losses.DiceCELoss(sigmoid=True, batch=batch, smooth_nr=1e-5, smooth_dr=1e-5)
        got = DiceBCELoss(batch_dice=batch)(logits, target)
        torch.testing.assert_close(got, ref(logits, target.double()))


@pytest.mark.parametrize("include_background", [False, True])
def test_dice_bce_matches_monai_multiclass(include_background):
    monai = pytest.importorskip("monai")
    logits, target = _data(k=3, seed=3)
    for batch in (True, False):
        dice = monai.losses.DiceLoss(softmax=True, to_onehot_y=True, batch=batch,
                                     include_background=include_background)
        got = DiceLoss(batch_dice=batch, include_background=include_background)(logits, target)
        torch.testing.assert_close(got, dice(logits, target))
    ref = monai.losses.DiceCELoss(softmax=True, to_onehot_y=True, batch=True,
                                  include_background=include_background)
    got = DiceBCELoss(include_background=include_background)(logits, target)
    torch.testing.assert_close(got, ref(logits, target))
    # one-hot targets give the same loss as class indices
    onehot = F.one_hot(target[:, 0], 3).movedim(-1, 1)
    torch.testing.assert_close(DiceBCELoss()(logits, onehot), DiceBCELoss()(logits, target))


# --------------------------------------------------------------------------------------------
# weighted cross-entropy


def test_weighted_ce_balanced_binary_hand_computation():
    x = [0.3, -1.2, 2.0, -0.4, 1.1, -2.5, 0.0, 0.7]
    t = [1, 0, 0, 0, 0, 1, 0, 0]
    n1, n0 = sum(t), len(t) - sum(t)
    w1, w0 = len(t) / (2 * n1), len(t) / (2 * n0)          # inverse class size
    c = [w1 if ti else w0 for ti in t]
    bce = [-(ti * math.log(_sigmoid(v)) + (1 - ti) * math.log(1 - _sigmoid(v))) for v, ti in zip(x, t)]
    want = sum(ci * li for ci, li in zip(c, bce)) / sum(c)
    logits = torch.tensor(x, dtype=torch.float64).view(1, 1, 2, 2, 2)
    target = torch.tensor(t, dtype=torch.float32).view(1, 1, 2, 2, 2)
    assert WeightedCELoss("balanced")(logits, target).item() == pytest.approx(want, rel=1e-12)
    explicit = WeightedCELoss((w0, w1))(logits, target).item()
    assert explicit == pytest.approx(want, rel=1e-12)
    plain = sum(bce) / len(bce)
    assert WeightedCELoss()(logits, target).item() == pytest.approx(plain, rel=1e-12)


def test_weighted_ce_balanced_multiclass_vs_torch():
    logits, target = _data(k=3, seed=4)
    counts = np.bincount(target.numpy().ravel(), minlength=3)
    w = counts.sum() / (3 * counts)
    ref = F.cross_entropy(logits, target[:, 0], weight=torch.tensor(w))
    torch.testing.assert_close(WeightedCELoss("balanced")(logits, target), ref)
    ref = F.cross_entropy(logits, target[:, 0], weight=torch.tensor([0.2, 1.0, 3.0],
                                                                    dtype=torch.float64))
    torch.testing.assert_close(WeightedCELoss([0.2, 1.0, 3.0])(logits, target), ref)


def test_weighted_ce_bad_class_weights():
    logits, target = _data(k=3)
    with pytest.raises(ValueError, match="WeightedCELoss: class_weights must be 3 weights for 3 "
                                         "classes, got 2 weights"):
        WeightedCELoss([1.0, 2.0])(logits, target)
    with pytest.raises(ValueError, match="WeightedCELoss: class_weights must be one of 'balanced'"):
        WeightedCELoss("inverse")
    with pytest.raises(ValueError, match="WeightedCELoss: class_weights must be None, 'balanced' or"):
        WeightedCELoss([1.0, -1.0])


# --------------------------------------------------------------------------------------------
# focal


@pytest.mark.parametrize("gamma, alpha", [(2.0, 0.25), (2.0, None), (0.5, 0.7), (0.0, None)])
def test_focal_matches_monai_binary(gamma, alpha):
    monai = pytest.importorskip("monai")
    logits, target = _data(seed=5, dtype=torch.float32)          # MONAI's focal loss is float32
    ref = monai.losses.FocalLoss(gamma=gamma, alpha=alpha)(logits, target.float())
    torch.testing.assert_close(FocalLoss(gamma=gamma, alpha=alpha)(logits, target), ref)


def test_focal_matches_monai_multiclass():
    monai = pytest.importorskip("monai")
    logits, target = _data(k=3, seed=6, dtype=torch.float32)
    ref = monai.losses.FocalLoss(gamma=2.0, alpha=0.25, use_softmax=True, to_onehot_y=True)
    # MONAI averages over the 3 class channels too; here a voxel's loss sums over classes
    torch.testing.assert_close(FocalLoss()(logits, target), 3 * ref(logits, target))


def test_focal_gamma_zero_is_cross_entropy():
    logits, target = _data(seed=7)
    ref = F.binary_cross_entropy_with_logits(logits, target.double())
    torch.testing.assert_close(FocalLoss(gamma=0.0, alpha=None)(logits, target), ref)


# --------------------------------------------------------------------------------------------
# consistency across losses


LOSS_KW = [("dice_bce", {}), ("dice_bce", {"batch_dice": False, "pos_weight": 2.0}),
           ("weighted_ce", {"class_weights": "balanced"}), ("weighted_ce", {}),
           ("focal", {}), ("dice", {})]


@pytest.mark.parametrize("name, kw", LOSS_KW)
def test_two_class_softmax_equals_sigmoid(name, kw):
    """Logits (0, z) for a 2-class softmax give the same loss as z for a sigmoid."""
    z, target = _data(seed=8)
    two = torch.cat([torch.zeros_like(z), z], dim=1)
    loss = make_loss(name, **kw)
    torch.testing.assert_close(loss(two, target), loss(z, target))


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("name, kw", LOSS_KW)
def test_valid_mask_excludes_voxels(name, kw, k):
    logits, target = _data(k=k, seed=9)
    g = torch.Generator().manual_seed(10)
    valid = torch.rand(target.shape, generator=g) < 0.6
    valid[1] = False                                     # a whole sample unlabelled
    loss = make_loss(name, **kw)
    a = logits.clone().requires_grad_(True)
    la = loss(a, target, valid=valid)
    la.backward()
    # change logits and labels where valid is 0: the loss does not move
    other_logits, other_target = _data(k=k, seed=11)
    b = torch.where(valid, logits, other_logits)
    tb = torch.where(valid, target, other_target)
    torch.testing.assert_close(loss(b, tb, weight_map=valid.double()), la.detach())
    excluded = (~valid).expand_as(a)
    assert (a.grad[excluded] == 0).all() and (a.grad[~excluded] != 0).any()
    # an all-ones mask is the same as no mask
    torch.testing.assert_close(loss(logits, target, valid=torch.ones_like(valid)),
                               loss(logits, target))
    # no valid voxel at all: loss 0
    assert loss(logits, target, valid=torch.zeros_like(valid)).item() == 0.0


@pytest.mark.parametrize("name, kw", [n for n in LOSS_KW if n[1].get("batch_dice", True)])
def test_integer_weights_equal_repeated_voxels(name, kw):
    """A voxel weight of n counts that voxel n times (batch Dice; means over voxels)."""
    logits, target = _data(seed=12)
    w = torch.randint(0, 3, target.shape, generator=torch.Generator().manual_seed(13))
    reps = w.flatten()
    rep_logits = logits.flatten().repeat_interleave(reps).view(1, 1, 1, 1, -1)
    rep_target = target.flatten().repeat_interleave(reps).view(1, 1, 1, 1, -1)
    loss = make_loss(name, **kw)
    torch.testing.assert_close(loss(logits, target, valid=w.double()), loss(rep_logits, rep_target))


def test_half_precision_logits_are_promoted():
    logits, target = _data(seed=14, dtype=torch.float32)
    out = DiceBCELoss()(logits.bfloat16(), target)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, DiceBCELoss()(logits.bfloat16().float(), target))


# --------------------------------------------------------------------------------------------
# errors


def test_bad_inputs():
    loss = DiceBCELoss()
    logits, target = _data(k=1)
    with pytest.raises(ValueError, match=r"DiceBCELoss: target must be of shape \(2, 1, 4, 5, 6\) "
                                         r"to match logits, got shape \(2, 1, 4, 5\)"):
        loss(logits, target[..., 0])
    with pytest.raises(ValueError, match=r"DiceBCELoss: target must be in \[0, 1\] \(binary or "
                                         r"one-hot\), got values in \[0, 2\]"):
        loss(logits, 2 * target)
    with pytest.raises(ValueError, match="DiceBCELoss: logits must be a floating-point tensor"):
        loss(target, target)
    with pytest.raises(ValueError, match=r"DiceBCELoss: valid must be of shape \(2, 1, 4, 5, 6\)"):
        loss(logits, target, valid=torch.ones(2, 4, 5, 6))
    with pytest.raises(ValueError, match="DiceBCELoss: valid must be finite and >= 0"):
        loss(logits, target, valid=-torch.ones_like(logits))
    with pytest.raises(ValueError, match="DiceBCELoss: valid must be None when weight_map is given"):
        loss(logits, target, valid=torch.ones_like(logits), weight_map=torch.ones_like(logits))
    logits3, target3 = _data(k=3)
    with pytest.raises(ValueError, match=r"FocalLoss: target must be class indices in \[0, 3\), "
                                         r"got values in \[0, 3\]"):
        FocalLoss()(logits3, target3 + (target3 == 2).long())
    with pytest.raises(ValueError, match=r"FocalLoss: target must be class indices \(integers in "
                                         r"\[0, 3\)\) for K = 3 logits, got non-integer values"):
        FocalLoss()(logits3, target3 + 0.5)
    with pytest.raises(ValueError, match=r"target must be of shape \(2, 1, 4, 5, 6\) or "
                                         r"\(2, 3, 4, 5, 6\)"):
        FocalLoss()(logits3, torch.zeros(2, 2, 4, 5, 6))


def test_bad_arguments():
    with pytest.raises(ValueError, match="make_loss: name must be one of 'dice_bce', 'weighted_ce', "
                                         "'focal', 'dice', got 'bce'"):
        make_loss("bce")
    with pytest.raises(ValueError, match=r"make_loss: kw must be arguments of FocalLoss \(gamma, "
                                         r"alpha\), got \['smooth'\]"):
        make_loss("focal", smooth=1.0)
    with pytest.raises(ValueError, match=r"DiceBCELoss: dice_weight \+ bce_weight must be > 0"):
        DiceBCELoss(dice_weight=0.0, bce_weight=0.0)
    with pytest.raises(ValueError, match="DiceBCELoss: pos_weight must be a finite number > 0"):
        DiceBCELoss(pos_weight=0.0)
    with pytest.raises(ValueError, match=r"FocalLoss: alpha must be a finite number in \[0, 1\], "
                                         r"got 1.5"):
        FocalLoss(alpha=1.5)
    with pytest.raises(ValueError, match="FocalLoss: gamma must be a finite number >= 0"):
        FocalLoss(gamma=-1.0)
    with pytest.raises(ValueError, match="DiceLoss: smooth must be a finite number >= 0"):
        DiceLoss(smooth=-1.0)
    assert isinstance(make_loss("dice"), DiceLoss) and not isinstance(make_loss("dice"), DiceBCELoss)
