"""Losses for vessel segmentation with a valid-voxel mask (tUbe net paper §2.4).

The paper compares three losses for the strongly imbalanced vessel/background problem (vessels
fill 3–5 % of tissue) and keeps DICE-BCE:

* :class:`DiceBCELoss`: soft Dice + binary cross-entropy (cross-entropy for K ≥ 2 classes);
* :class:`WeightedCELoss`: cross-entropy with class weights ∝ 1 / class size ("balanced");
* :class:`FocalLoss`: cross-entropy scaled by (1 − p_t)^γ (Lin et al. 2017), α-balanced;
* :class:`DiceLoss`: the Dice term alone.

Pitfall avoided: the public tUbe net code rounds the predicted probabilities before its Dice
term. Rounding has a zero derivative almost everywhere, so that Dice term passes no gradient and
its "DICE-BCE" trains on BCE alone. Here Dice is computed on the probabilities themselves (soft
Dice, Milletari et al. 2016), which has a real gradient.

Conventions shared by all losses (``forward(logits, target, valid=None)``):

* ``logits``: (B, K, Z, Y, X) raw network outputs (any number of spatial axes ≥ 1 works).
  K = 1 → sigmoid (vessel probability); K ≥ 2 → softmax over classes, channel 0 = background.
  Half-precision logits (autocast) are promoted to float32 for the loss.
* ``target``: K = 1 → (B, 1, …) with values in [0, 1] (bool, int or float; soft labels allowed);
  K ≥ 2 → class indices (B, 1, …) (integers, or floats holding integers, in [0, K)) or a
  one-hot / soft (B, K, …) map with values in [0, 1].
* ``valid`` (alias ``weight_map``): optional (B, 1, …) non-negative voxel weights (bool or
  float); 0 excludes a voxel, e.g. the unlabelled part of a fine-tuning volume. Excluded voxels do
  not influence the loss or its gradient. Every mean below is a mean weighted by ``valid``; with
  no valid voxel at all the loss is 0 (and its gradient zero).

The implementations are plain torch (MONAI's losses have no weighted voxel mask); the tests
compare them with ``monai.losses`` where the definitions coincide.
"""
from __future__ import annotations

import inspect
import math
from collections.abc import Sequence
from numbers import Real

import torch
from torch import nn
from torch.nn import functional as F

from bbbcore import _checks

LOSSES = ("dice_bce", "weighted_ce", "focal", "dice")


# --------------------------------------------------------------------------------------------
# input handling


def _number(fn: str, arg: str, value, lo: float, hi: float | None = None, *, lo_open=False,
            hi_open=False) -> float:
    ok = not isinstance(value, bool) and isinstance(value, Real) and math.isfinite(value)
    if ok:
        ok = (value > lo if lo_open else value >= lo)
        if hi is not None:
            ok = ok and (value < hi if hi_open else value <= hi)
    if not ok:
        rng = ("(" if lo_open else "[") + f"{lo:g}, " + ("inf)" if hi is None else
                                                          f"{hi:g}" + (")" if hi_open else "]"))
        _checks.fail(fn, arg, f"a finite number in {rng}", repr(value))
    return float(value)


def _prepare(fn: str, logits, target, valid, weight_map):
    """Check the inputs; return (float logits, float target, float weights or None).

    The target comes back as (B, 1, …) for K = 1 and as a (B, K, …) one-hot/soft map for K ≥ 2.
    """
    if not isinstance(logits, torch.Tensor):
        _checks.fail(fn, "logits", "a torch.Tensor (B, K, Z, Y, X)", type(logits).__name__)
    if logits.dim() < 3:
        _checks.fail(fn, "logits", "a tensor (B, K, Z, Y, X)", f"shape {tuple(logits.shape)}")
    if not logits.is_floating_point():
        _checks.fail(fn, "logits", "a floating-point tensor", logits.dtype)
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()
    b, k, spatial = logits.shape[0], logits.shape[1], tuple(logits.shape[2:])
    sp = ", ".join(map(str, spatial))
    if not isinstance(target, torch.Tensor):
        _checks.fail(fn, "target", "a torch.Tensor", type(target).__name__)
    if target.dim() != logits.dim() or target.shape[0] != b or tuple(target.shape[2:]) != spatial \
            or target.shape[1] not in (1, k):
        want = f"({b}, 1, {sp})" + (f" or ({b}, {k}, {sp})" if k > 1 else "")
        _checks.fail(fn, "target", f"of shape {want} to match logits", f"shape {tuple(target.shape)}")
    if target.is_complex():
        _checks.fail(fn, "target", "real (bool, integer or float)", target.dtype)

    if k >= 2 and target.shape[1] == 1:
        t = target.detach()
        if t.is_floating_point() and not bool(torch.all(t == torch.round(t))):
            _checks.fail(fn, "target", f"class indices (integers in [0, {k})) for K = {k} logits",
                         "non-integer values")
        if t.numel() and (int(t.min()) < 0 or int(t.max()) >= k):
            _checks.fail(fn, "target", f"class indices in [0, {k})",
                         f"values in [{int(t.min())}, {int(t.max())}]")
        t = F.one_hot(t[:, 0].long(), k).movedim(-1, 1).to(logits.dtype)
    else:
        t = target.detach().to(logits.dtype)
        if t.numel() and (float(t.min()) < 0 or float(t.max()) > 1):
            _checks.fail(fn, "target", "in [0, 1] (binary or one-hot)",
                         f"values in [{float(t.min()):g}, {float(t.max()):g}]")

    if valid is not None and weight_map is not None:
        _checks.fail(fn, "valid", "None when weight_map is given (they are aliases)", "both")
    w = valid if valid is not None else weight_map
    if w is not None:
        if not isinstance(w, torch.Tensor):
            _checks.fail(fn, "valid", f"a torch.Tensor of shape ({b}, 1, {sp})", type(w).__name__)
        if tuple(w.shape) != (b, 1) + spatial:
            _checks.fail(fn, "valid", f"of shape ({b}, 1, {sp})", f"shape {tuple(w.shape)}")
        w = w.detach().to(logits.dtype)
        if w.numel() and not (bool(torch.isfinite(w).all()) and float(w.min()) >= 0):
            _checks.fail(fn, "valid", "finite and >= 0 (0 = excluded voxel)",
                         "negative or non-finite values")
    return logits, t, w


def _weighted_mean(per_voxel: torch.Tensor, w: torch.Tensor | None) -> torch.Tensor:
    """Σ w·l / Σ w (0 when Σ w = 0) or the plain mean."""
    if w is None:
        return per_voxel.mean()
    return (per_voxel * w).sum() / w.sum().clamp_min(torch.finfo(w.dtype).tiny)


def _cross_entropy(logits: torch.Tensor, t: torch.Tensor, pos_weight: float | None = None):
    """Per-voxel (B)CE, (B, 1, …). For K ≥ 2, ``pos_weight`` scales non-background voxels."""
    if logits.shape[1] == 1:
        pw = None if pos_weight is None else torch.tensor(pos_weight, dtype=logits.dtype,
                                                          device=logits.device)
        return F.binary_cross_entropy_with_logits(logits, t, reduction="none", pos_weight=pw)
    ce = -(t * torch.log_softmax(logits, dim=1)).sum(dim=1, keepdim=True)
    if pos_weight is not None:
        ce = ce * (1.0 + (pos_weight - 1.0) * (1.0 - t[:, :1]))
    return ce


# --------------------------------------------------------------------------------------------
# losses


class DiceLoss(nn.Module):
    """Soft Dice loss on the predicted probabilities: 1 − mean_c (2·I_c + s) / (P_c + T_c + s).

    I_c = Σ w·p_c·t_c, P_c = Σ w·p_c, T_c = Σ w·t_c, with p the sigmoid (K = 1) or softmax
    (K ≥ 2) probabilities, t the target, w the ``valid`` weights and s = ``smooth``. Sums run over
    the batch and all voxels (``batch_dice=True``, nnU-Net's "batch Dice": stable when some
    patches hold no vessel) or over each sample's voxels, the Dice then averaged over samples
    that have a valid voxel. For K ≥ 2 the background class is left out unless
    ``include_background``, so K = 2 with logits (0, z) gives the same loss as K = 1 with z.
    Same definition as ``monai.losses.DiceLoss(smooth_nr=s, smooth_dr=s, batch=batch_dice)``.

    Args:
        smooth: s >= 0, added to numerator and denominator (an empty class in an empty
            prediction then scores Dice 1).
        batch_dice: sum over the batch before dividing.
        include_background: for K ≥ 2, also score class 0.

    Example:
        >>> logits = torch.tensor([4.0, -4.0, 4.0, -4.0]).view(1, 1, 1, 1, 4)
        >>> target = torch.tensor([1, 0, 1, 0]).view(1, 1, 1, 1, 4)
        >>> round(DiceLoss()(logits, target).item(), 3)
        0.018
    """

    def __init__(self, smooth: float = 1e-5, batch_dice: bool = True,
                 include_background: bool = False):
        super().__init__()
        fn = "DiceLoss"
        self.smooth = _checks.non_negative(fn, "smooth", smooth)
        if not isinstance(batch_dice, bool):
            _checks.fail(fn, "batch_dice", "a bool", repr(batch_dice))
        if not isinstance(include_background, bool):
            _checks.fail(fn, "include_background", "a bool", repr(include_background))
        self.batch_dice, self.include_background = batch_dice, include_background

    def _dice(self, logits: torch.Tensor, t: torch.Tensor, w: torch.Tensor | None) -> torch.Tensor:
        if logits.shape[1] == 1:
            p = torch.sigmoid(logits)
        else:
            p = torch.softmax(logits, dim=1)
            if not self.include_background:
                p, t = p[:, 1:], t[:, 1:]
        if w is not None:
            pw, tw = p * w, t * w
        else:
            pw, tw = p, t
        dims = tuple(range(2, p.dim()))
        if self.batch_dice:
            dims = (0,) + dims
        inter = (pw * t).sum(dims)
        denom = pw.sum(dims) + tw.sum(dims)
        dice = (2.0 * inter + self.smooth) / (denom + self.smooth)      # (C,) or (B, C)
        if self.batch_dice or w is None:
            return 1.0 - dice.mean()
        keep = (w.sum(dim=tuple(range(1, w.dim()))) > 0).to(dice.dtype)  # (B,)
        n = keep.sum() * dice.shape[1]
        return (keep[:, None] * (1.0 - dice)).sum() / n.clamp_min(1.0)

    def forward(self, logits: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None,
                weight_map: torch.Tensor | None = None) -> torch.Tensor:
        """Scalar loss; see the module docstring for shapes, dtypes and ``valid``."""
        logits, t, w = _prepare("DiceLoss", logits, target, valid, weight_map)
        return self._dice(logits, t, w)

    def extra_repr(self) -> str:
        return (f"smooth={self.smooth:g}, batch_dice={self.batch_dice}, "
                f"include_background={self.include_background}")


class DiceBCELoss(DiceLoss):
    """``dice_weight``·soft Dice + ``bce_weight``·(binary) cross-entropy: the paper's DICE-BCE.

    The Dice term is :class:`DiceLoss` on probabilities, so it has a gradient (the public tUbe
    net code rounds the probabilities before its Dice, which leaves its Dice term without one).
    The cross-entropy is BCE-with-logits for K = 1 and softmax cross-entropy for K ≥ 2, averaged
    over the valid voxels (weighted by ``valid``). With the defaults it equals
    ``monai.losses.DiceCELoss(sigmoid=True, batch=True, smooth_nr=1e-5, smooth_dr=1e-5)``.

    Args:
        dice_weight: weight of the Dice term, >= 0.
        bce_weight: weight of the cross-entropy term, >= 0 (not both 0).
        smooth: Dice smoothing, >= 0.
        batch_dice: Dice over the whole batch (see :class:`DiceLoss`).
        pos_weight: > 0, weight of the vessel (positive) term of BCE, as in
            ``torch.nn.BCEWithLogitsLoss``; for K ≥ 2 it scales the cross-entropy of
            non-background voxels (the same thing for hard labels). None = 1.
        include_background: for K ≥ 2, also score class 0 in the Dice.

    Example:
        >>> logits = torch.tensor([4.0, -4.0, 4.0, -4.0]).view(1, 1, 1, 1, 4)
        >>> target = torch.tensor([1, 0, 1, 0]).view(1, 1, 1, 1, 4)
        >>> round(DiceBCELoss()(logits, target).item(), 3)   # 0.018 + BCE 0.018
        0.036
    """

    def __init__(self, dice_weight: float = 1.0, bce_weight: float = 1.0, smooth: float = 1e-5,
                 batch_dice: bool = True, pos_weight: float | None = None,
                 include_background: bool = False):
        super().__init__(smooth=smooth, batch_dice=batch_dice,
                         include_background=include_background)
        fn = "DiceBCELoss"
        self.dice_weight = _checks.non_negative(fn, "dice_weight", dice_weight)
        self.bce_weight = _checks.non_negative(fn, "bce_weight", bce_weight)
        if self.dice_weight == 0 and self.bce_weight == 0:
            _checks.fail(fn, "dice_weight + bce_weight", "> 0", 0)
        self.pos_weight = None if pos_weight is None else _checks.positive(fn, "pos_weight",
                                                                           pos_weight)

    def forward(self, logits: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None,
                weight_map: torch.Tensor | None = None) -> torch.Tensor:
        """Scalar loss; see the module docstring for shapes, dtypes and ``valid``."""
        logits, t, w = _prepare("DiceBCELoss", logits, target, valid, weight_map)
        loss = logits.new_zeros(())
        if self.dice_weight:
            loss = loss + self.dice_weight * self._dice(logits, t, w)
        if self.bce_weight:
            loss = loss + self.bce_weight * _weighted_mean(_cross_entropy(logits, t, self.pos_weight),
                                                           w)
        return loss

    def extra_repr(self) -> str:
        return (f"dice_weight={self.dice_weight:g}, bce_weight={self.bce_weight:g}, "
                f"pos_weight={self.pos_weight}, " + super().extra_repr())


class WeightedCELoss(nn.Module):
    """Class-weighted cross-entropy (the paper's WCCE): Σ_v w_v·c_v·CE_v / Σ_v w_v·c_v.

    c_v = Σ_k weight_k·t_vk is the class weight of voxel v (for K = 1 the two classes are
    background, weight_0, and vessel, weight_1), w_v its ``valid`` weight, CE_v its (binary)
    cross-entropy. The normalisation by the summed weights is that of
    ``torch.nn.functional.cross_entropy(weight=…)``, so the scale of the class weights does not
    matter, only their ratios.

    ``class_weights="balanced"`` takes them from the batch ("in proportion to the inverse of the
    class size", paper §2.4): weight_k = N / (C · n_k) with n_k = Σ_v w_v·t_vk the (valid) voxels
    of class k, N = Σ_k n_k, C the number of classes (2 for K = 1); a class absent from the batch
    gets weight 0. Every present class then contributes equally.

    Args:
        class_weights: None (plain cross-entropy), ``"balanced"``, or a sequence of C weights
            >= 0 (C = K, or 2 for K = 1: background, vessel).

    Example:
        >>> logits = torch.zeros(1, 1, 1, 1, 4)
        >>> target = torch.tensor([1, 0, 0, 0]).view(1, 1, 1, 1, 4)
        >>> round(WeightedCELoss("balanced")(logits, target).item(), 4)   # log 2
        0.6931
    """

    def __init__(self, class_weights: str | Sequence[float] | None = None):
        super().__init__()
        fn = "WeightedCELoss"
        if isinstance(class_weights, str):
            _checks.choice(fn, "class_weights", class_weights, ("balanced",))
        elif class_weights is not None:
            try:
                cw = [float(v) for v in class_weights]
            except (TypeError, ValueError):
                cw = []
            if len(cw) < 2 or not all(math.isfinite(v) and v >= 0 for v in cw) or sum(cw) == 0:
                _checks.fail(fn, "class_weights",
                             "None, 'balanced' or a sequence of >= 2 finite weights >= 0, not all 0",
                             repr(class_weights))
            class_weights = tuple(cw)
        self.class_weights = class_weights

    def voxel_class_weights(self, t: torch.Tensor, w: torch.Tensor | None) -> torch.Tensor:
        """Class weight c_v of every voxel, (B, 1, …), from a prepared target (no gradient)."""
        onehot = torch.cat([1.0 - t, t], dim=1) if t.shape[1] == 1 else t
        n_classes = onehot.shape[1]
        if self.class_weights == "balanced":
            dims = (0,) + tuple(range(2, onehot.dim()))
            counts = (onehot * w).sum(dims) if w is not None else onehot.sum(dims)
            cw = torch.where(counts > 0, counts.sum() / (n_classes * counts.clamp_min(1e-30)),
                             torch.zeros_like(counts))
        else:
            if len(self.class_weights) != n_classes:
                _checks.fail("WeightedCELoss", "class_weights",
                             f"{n_classes} weights for {n_classes} classes",
                             f"{len(self.class_weights)} weights")
            cw = torch.tensor(self.class_weights, dtype=t.dtype, device=t.device)
        shape = (1, n_classes) + (1,) * (onehot.dim() - 2)
        return (onehot * cw.view(shape)).sum(dim=1, keepdim=True)

    def forward(self, logits: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None,
                weight_map: torch.Tensor | None = None) -> torch.Tensor:
        """Scalar loss; see the module docstring for shapes, dtypes and ``valid``."""
        logits, t, w = _prepare("WeightedCELoss", logits, target, valid, weight_map)
        ce = _cross_entropy(logits, t)
        if self.class_weights is None:
            return _weighted_mean(ce, w)
        c = self.voxel_class_weights(t, w)
        return _weighted_mean(ce, c if w is None else c * w)

    def extra_repr(self) -> str:
        return f"class_weights={self.class_weights!r}"


class FocalLoss(nn.Module):
    """Focal loss (Lin et al. 2017): mean over voxels of −Σ_k α_k·(1 − p_k)^γ·t_k·log p_k.

    p is the sigmoid (K = 1; classes background/vessel) or softmax (K ≥ 2) probability and t the
    target. α_k = 1 − α for the background and α for the other classes (no weighting when
    ``alpha`` is None); γ = 0 and no α give the cross-entropy. The mean over voxels is weighted by
    ``valid``. For K = 1 this is ``monai.losses.FocalLoss(gamma, alpha)``; for K ≥ 2 it is K ×
    ``FocalLoss(gamma, alpha, use_softmax=True, to_onehot_y=True)``, because MONAI also averages
    over the class channels, where the loss of a voxel is a sum over classes here. K = 2 with
    logits (0, z) gives the same loss as K = 1 with z.

    Args:
        gamma: γ >= 0, focusing exponent (paper's "y").
        alpha: α in [0, 1], weight of the vessel class, or None.

    Example:
        >>> logits = torch.zeros(1, 1, 1, 1, 2)
        >>> target = torch.tensor([1, 0]).view(1, 1, 1, 1, 2)
        >>> round(FocalLoss(gamma=2.0, alpha=None)(logits, target).item(), 4)   # 0.25·log 2
        0.1733
    """

    def __init__(self, gamma: float = 2.0, alpha: float | None = 0.25):
        super().__init__()
        fn = "FocalLoss"
        self.gamma = _checks.non_negative(fn, "gamma", gamma)
        self.alpha = None if alpha is None else _number(fn, "alpha", alpha, 0.0, 1.0)

    def forward(self, logits: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None,
                weight_map: torch.Tensor | None = None) -> torch.Tensor:
        """Scalar loss; see the module docstring for shapes, dtypes and ``valid``."""
        logits, t, w = _prepare("FocalLoss", logits, target, valid, weight_map)
        if logits.shape[1] == 1:
            logp = torch.cat([F.logsigmoid(-logits), F.logsigmoid(logits)], dim=1)
            t = torch.cat([1.0 - t, t], dim=1)
        else:
            logp = torch.log_softmax(logits, dim=1)
        one_minus_p = -torch.expm1(logp)                                # 1 − p, accurate near p=1
        term = -(one_minus_p.pow(self.gamma) * logp * t)
        if self.alpha is not None:
            a = torch.full((term.shape[1],), self.alpha, dtype=term.dtype, device=term.device)
            a[0] = 1.0 - self.alpha
            term = term * a.view((1, -1) + (1,) * (term.dim() - 2))
        return _weighted_mean(term.sum(dim=1, keepdim=True), w)

    def extra_repr(self) -> str:
        return f"gamma={self.gamma:g}, alpha={self.alpha}"


_CLASSES = {"dice_bce": DiceBCELoss, "weighted_ce": WeightedCELoss, "focal": FocalLoss,
            "dice": DiceLoss}


def make_loss(name: str, **kw) -> nn.Module:
    """Build a loss by name.

    Args:
        name: ``"dice_bce"`` (:class:`DiceBCELoss`), ``"weighted_ce"`` (:class:`WeightedCELoss`),
            ``"focal"`` (:class:`FocalLoss`) or ``"dice"`` (:class:`DiceLoss`, Dice only).
        **kw: arguments of that class.

    Returns:
        The loss module; call it as ``loss(logits, target, valid=None)``.

    Raises:
        ValueError: for an unknown name or an argument the class does not take.

    Example:
        >>> make_loss("focal", gamma=1.0)
        FocalLoss(gamma=1, alpha=0.25)
    """
    fn = "make_loss"
    _checks.choice(fn, "name", name, LOSSES)
    cls = _CLASSES[name]
    allowed = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(kw) - set(allowed))
    if unknown:
        _checks.fail(fn, "kw", f"arguments of {cls.__name__} ({', '.join(allowed)})", unknown)
    return cls(**kw)
