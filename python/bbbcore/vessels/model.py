"""The tUbe net 3D U-Net for vessel segmentation (Holroyd et al., "tUbe net", §2.1–2.2).

What is modelled (paper §2.1, Fig. 1a): a 3D U-Net whose every level ("layer" in the paper) is

    Conv3d 3×3×3 → LeakyReLU(0.2) → GroupNorm → Conv3d 3×3×3 → LeakyReLU(0.2) → GroupNorm → Dropout(0.3)

with max-pooling between encoder levels, a decoder that upsamples with a transposed convolution
(kernel = stride = that level's pool factor), concatenates the encoder map of the same resolution
(skip connection) and applies the same two-convolution block, and a 1×1×1 output convolution. The
paper's network has six levels with 32, 64, …, 1024 filters and pools by 2 on every axis
(:meth:`TubeNet.paper`); the shipped "foundation" size is :meth:`TubeNet.compact` (four levels,
16 … 128 filters, 1.40 M parameters, 5.6 MB in float32).

Output convention: the paper ends in a two-filter softmax (background, vessel). A softmax over two
logits (a, b) equals a sigmoid of b − a, so ``out_channels=1`` (the default) returns one logit per
voxel for a sigmoid and is the same model with one redundant output removed; ``out_channels ≥ 2``
returns logits for a softmax over classes, channel 0 = background, channel 1 = vessel.
:meth:`TubeNet.vessel_probability` turns either into the vessel probability.

Attention variant (paper §2.2, ``attention=True``): at every decoder level an attention map is
computed between the encoder map ``q`` and the upsampled decoder map ``k`` of the same resolution:
both go through their own trainable 3×3×3 convolution, are combined by an element-wise product
(a Luong-style multiplicative score, where Oktay et al.'s attention U-Net adds them), then a
1×1×1 convolution to one channel and a sigmoid give the map α ∈ (0, 1); the decoder map is
multiplied by α. The gated decoder map is then concatenated with the encoder map as in the plain
network. The paper says the skips were "replaced" by attention layers but also that α multiplies
the *decoding* map; if the encoder map were dropped, the full-resolution detail the skip carries
would reach the decoder only through the one-channel α. Keeping the concatenation makes the two
variants differ only by the gate, and keeps the U-Net's detail path.

Anisotropic data: ``pool`` may differ per axis and per level (a factor 1 = no pooling on that axis
at that level), e.g. ``(1, 2, 2)`` for stacks with coarse Z; :meth:`TubeNet.pools_for_spacing`
chooses them from the voxel size with nnU-Net's rule.

Any input size is accepted: :meth:`TubeNet.forward` pads each spatial axis (replicating the edge,
split evenly between the two ends) up to a multiple of :attr:`TubeNet.size_multiple` (the product
of that axis's pool factors) and crops the output back, so the output has the input's spatial
shape.

Fine-tuning (paper §3): :meth:`TubeNet.freeze_encoder` freezes chosen encoder levels. The public
tUbe net code freezes the whole encoder; here the caller chooses (e.g. the top one or two levels,
or none).
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from numbers import Integral, Real

import torch
from torch import nn
from torch.nn import functional as F

from bbbcore import _checks

CONFIG_VERSION = 1
_CONFIG_KEYS = ("in_channels", "out_channels", "depth", "width", "pool", "attention", "dropout",
                "groups", "negative_slope", "max_width")

Triple = tuple[int, int, int]


def _is_int(v) -> bool:
    return isinstance(v, Integral) and not isinstance(v, bool)


def _group_count(groups: int, channels: int) -> int:
    """Largest divisor of ``channels`` that is <= ``min(groups, channels)``."""
    g = min(groups, channels)
    while channels % g:
        g -= 1
    return g


def _normalise_pool(fn: str, pool, depth: int) -> tuple[Triple, ...]:
    """``pool`` (int, triple or depth-1 triples) → a tuple of depth-1 (pz, py, px) triples."""
    n = depth - 1
    expected = (f"an integer >= 1, a (pz, py, px) triple of integers >= 1, or a sequence of "
                f"depth-1 = {n} such triples")
    if _is_int(pool):
        if pool < 1:
            _checks.fail(fn, "pool", expected, repr(pool))
        return ((int(pool),) * 3,) * n
    if isinstance(pool, (list, tuple)):
        if len(pool) == 3 and all(_is_int(v) for v in pool):
            if any(v < 1 for v in pool):
                _checks.fail(fn, "pool", expected, repr(pool))
            return (tuple(int(v) for v in pool),) * n
        if len(pool) > 0 and all(isinstance(p, (list, tuple)) for p in pool):
            if len(pool) != n:
                _checks.fail(fn, "pool", f"a sequence of depth-1 = {n} (pz, py, px) triples",
                             f"{len(pool)} triples")
            out = []
            for p in pool:
                if len(p) != 3 or not all(_is_int(v) and v >= 1 for v in p):
                    _checks.fail(fn, "pool", expected, repr(pool))
                out.append(tuple(int(v) for v in p))
            return tuple(out)
    _checks.fail(fn, "pool", expected, repr(pool))


class _ConvBlock(nn.Sequential):
    """Two (Conv3d 3×3×3 → LeakyReLU → GroupNorm), then Dropout: one level of the paper."""

    def __init__(self, in_channels: int, out_channels: int, groups: int, negative_slope: float,
                 dropout: float):
        g = _group_count(groups, out_channels)
        super().__init__(
            nn.Conv3d(in_channels, out_channels, 3, padding=1),
            nn.LeakyReLU(negative_slope),
            nn.GroupNorm(g, out_channels),
            nn.Conv3d(out_channels, out_channels, 3, padding=1),
            nn.LeakyReLU(negative_slope),
            nn.GroupNorm(g, out_channels),
            nn.Dropout(dropout),
        )


class _AttentionGate(nn.Module):
    """Paper §2.2: α = σ(W₁ ⋆ (Conv_q(enc) ⊙ Conv_k(dec))); returns dec · α (α has one channel)."""

    def __init__(self, channels: int):
        super().__init__()
        self.query = nn.Conv3d(channels, channels, 3, padding=1)
        self.key = nn.Conv3d(channels, channels, 3, padding=1)
        self.score = nn.Conv3d(channels, 1, 1)

    def attention_map(self, enc: torch.Tensor, dec: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.score(self.query(enc) * self.key(dec)))

    def forward(self, enc: torch.Tensor, dec: torch.Tensor) -> torch.Tensor:
        return dec * self.attention_map(enc, dec)


class TubeNet(nn.Module):
    """tUbe net: a 3D U-Net with GroupNorm, LeakyReLU, dropout and optional attention gates.

    Level ``i`` (0 = full resolution, ``depth − 1`` = bottleneck) has
    ``min(width·2^i, max_width)`` channels; each level is two 3×3×3 convolutions, each followed by
    LeakyReLU(``negative_slope``) and GroupNorm (``min(groups, channels)`` groups, lowered to a
    divisor of the channels), then dropout. Encoder levels are separated by max-pooling with
    ``pool``; the decoder mirrors them with transposed convolutions and skip concatenations.
    See the module docstring for the output convention and the attention gate.

    Args:
        in_channels: image channels (1 for the paper's grey-level volumes).
        out_channels: 1 → one logit per voxel (sigmoid); K ≥ 2 → K class logits (softmax,
            channel 1 = vessel).
        depth: number of resolution levels (paper: 6), >= 2.
        width: channels of the top level (paper: 32), >= 1.
        pool: pooling factors: an int (all axes, all levels), a (pz, py, px) triple (all levels),
            or a sequence of ``depth − 1`` triples, one per downsampling (top first); a 1 leaves
            that axis unpooled at that level. See :meth:`pools_for_spacing`.
        attention: use the paper's §2.2 attention gates on the skip connections.
        dropout: dropout rate after every level (paper: 0.3), in [0, 1).
        groups: GroupNorm groups (upper bound; see above), >= 1.
        negative_slope: LeakyReLU slope for x < 0 (paper: 0.2), >= 0.
        max_width: cap on the channels of any level (None = no cap).

    Raises:
        ValueError: for an argument outside the ranges above.

    Convention:
        Tensors are (B, C, Z, Y, X); ``pool`` triples and ``voxel_size_um`` are (Z, Y, X).

    Example:
        >>> import torch
        >>> net = TubeNet(width=4, depth=3, pool=[(1, 2, 2), (2, 2, 2)]).eval()
        >>> net.size_multiple
        (2, 4, 4)
        >>> net(torch.rand(1, 1, 9, 17, 13)).shape
        torch.Size([1, 1, 9, 17, 13])
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 1, *, depth: int = 4,
                 width: int = 16, pool: int | Sequence = 2, attention: bool = False,
                 dropout: float = 0.3, groups: int = 8, negative_slope: float = 0.2,
                 max_width: int | None = None):
        super().__init__()
        fn = "TubeNet"
        in_channels = _checks.positive_int(fn, "in_channels", in_channels)
        out_channels = _checks.positive_int(fn, "out_channels", out_channels)
        if not _is_int(depth) or depth < 2:
            _checks.fail(fn, "depth", "an integer >= 2", repr(depth))
        depth = int(depth)
        width = _checks.positive_int(fn, "width", width)
        pools = _normalise_pool(fn, pool, depth)
        if not isinstance(attention, bool):
            _checks.fail(fn, "attention", "a bool", repr(attention))
        if isinstance(dropout, bool) or not isinstance(dropout, Real) or not 0.0 <= dropout < 1.0:
            _checks.fail(fn, "dropout", "a number in [0, 1)", repr(dropout))
        groups = _checks.positive_int(fn, "groups", groups)
        negative_slope = _checks.non_negative(fn, "negative_slope", negative_slope)
        if max_width is not None:
            max_width = _checks.positive_int(fn, "max_width", max_width)

        self.in_channels, self.out_channels = in_channels, out_channels
        self.depth, self.width, self.pools = depth, width, pools
        self.attention, self.dropout = attention, float(dropout)
        self.groups, self.negative_slope, self.max_width = groups, negative_slope, max_width
        cap = max_width if max_width is not None else math.inf
        self.channels: tuple[int, ...] = tuple(int(min(width * 2 ** i, cap)) for i in range(depth))
        self.size_multiple: Triple = tuple(math.prod(p[a] for p in pools) for a in range(3))

        ch = self.channels
        block = {"groups": groups, "negative_slope": negative_slope, "dropout": self.dropout}
        self.encoder_levels = nn.ModuleList(
            [_ConvBlock(in_channels if i == 0 else ch[i - 1], ch[i], **block) for i in range(depth)])
        self.downsample = nn.ModuleList([nn.MaxPool3d(p, stride=p) for p in pools])
        self.upsample = nn.ModuleList(
            [nn.ConvTranspose3d(ch[i + 1], ch[i], kernel_size=p, stride=p) for i, p in enumerate(pools)])
        self.attention_gates = (nn.ModuleList([_AttentionGate(ch[i]) for i in range(depth - 1)])
                                if attention else None)
        self.decoder_levels = nn.ModuleList(
            [_ConvBlock(2 * ch[i], ch[i], **block) for i in range(depth - 1)])
        self.head = nn.Conv3d(ch[0], out_channels, 1)

    # ----------------------------------------------------------------------------------------
    # presets and configuration

    @classmethod
    def paper(cls, **overrides) -> TubeNet:
        """The paper's network: 6 levels, 32, 64, …, 1024 filters, pool 2 (90.5 M parameters).

        Example:
            >>> TubeNet.paper().channels
            (32, 64, 128, 256, 512, 1024)
        """
        return cls(**{"depth": 6, "width": 32, "pool": 2, **overrides})

    @classmethod
    def compact(cls, **overrides) -> TubeNet:
        """The shipped "foundation" size: 4 levels, 16 … 128 filters (1.40 M parameters, 5.6 MB).

        Example:
            >>> TubeNet.compact().channels
            (16, 32, 64, 128)
        """
        return cls(**{"depth": 4, "width": 16, "pool": 2, **overrides})

    @property
    def config(self) -> dict:
        """JSON-able constructor arguments, with ``"class": "TubeNet"`` and ``"version"``."""
        return {"class": "TubeNet", "version": CONFIG_VERSION,
                "in_channels": self.in_channels, "out_channels": self.out_channels,
                "depth": self.depth, "width": self.width, "pool": [list(p) for p in self.pools],
                "attention": self.attention, "dropout": self.dropout, "groups": self.groups,
                "negative_slope": self.negative_slope, "max_width": self.max_width}

    @classmethod
    def from_config(cls, cfg: dict) -> TubeNet:
        """Build a (freshly initialised) network from :attr:`config`.

        Args:
            cfg: a dict as returned by :attr:`config` (``"class"`` and ``"version"`` optional).

        Raises:
            ValueError: for another class, a newer version or unknown keys.

        Example:
            >>> net = TubeNet(width=4, depth=3, attention=True)
            >>> TubeNet.from_config(net.config).config == net.config
            True
        """
        fn = "TubeNet.from_config"
        if not isinstance(cfg, dict):
            _checks.fail(fn, "cfg", "a dict", type(cfg).__name__)
        cfg = dict(cfg)
        name = cfg.pop("class", "TubeNet")
        if name != "TubeNet":
            _checks.fail(fn, "cfg['class']", "'TubeNet'", repr(name))
        version = cfg.pop("version", CONFIG_VERSION)
        if not _is_int(version) or not 1 <= version <= CONFIG_VERSION:
            _checks.fail(fn, "cfg['version']", f"an integer in [1, {CONFIG_VERSION}]", repr(version))
        unknown = sorted(set(cfg) - set(_CONFIG_KEYS))
        if unknown:
            _checks.fail(fn, "cfg", f"keys among {list(_CONFIG_KEYS)}", unknown)
        in_ch = cfg.pop("in_channels", 1)
        out_ch = cfg.pop("out_channels", 1)
        return cls(in_ch, out_ch, **cfg)

    @staticmethod
    def pools_for_spacing(voxel_size_um: Sequence[float], depth: int) -> list[Triple]:
        """Per-level pooling factors for an anisotropic voxel size (nnU-Net's rule).

        At each of the ``depth − 1`` downsamplings an axis is pooled by 2 only while its current
        spacing is < 2× the finest current spacing; pooling doubles that axis's spacing. Coarse
        axes are thus left alone until the fine ones have caught up, so feature maps become
        roughly isotropic in physical units.

        Args:
            voxel_size_um: (Z, Y, X) voxel size [µm], three finite numbers > 0.
            depth: number of levels of the network (>= 2).

        Returns:
            ``depth − 1`` (pz, py, px) triples of 1 or 2, top level first; pass as ``pool``.

        Raises:
            ValueError: for a bad voxel size or depth.

        Example:
            >>> TubeNet.pools_for_spacing((5.0, 1.0, 1.0), depth=4)
            [(1, 2, 2), (1, 2, 2), (2, 2, 2)]
        """
        fn = "TubeNet.pools_for_spacing"
        try:
            spacing = [float(v) for v in voxel_size_um]
        except (TypeError, ValueError):
            spacing = []
        if len(spacing) != 3 or not all(math.isfinite(s) and s > 0 for s in spacing):
            _checks.fail(fn, "voxel_size_um", "a (Z, Y, X) triple of finite numbers > 0 [µm]",
                         repr(voxel_size_um))
        if not _is_int(depth) or depth < 2:
            _checks.fail(fn, "depth", "an integer >= 2", repr(depth))
        out: list[Triple] = []
        for _ in range(int(depth) - 1):
            finest = min(spacing)
            p = tuple(2 if s < 2.0 * finest else 1 for s in spacing)
            spacing = [s * f for s, f in zip(spacing, p)]
            out.append(p)
        return out

    # ----------------------------------------------------------------------------------------
    # fine-tuning helpers

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Number of scalar parameters (only those with ``requires_grad`` if ``trainable_only``)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def freeze_encoder(self, levels: int | Iterable[int]) -> int:
        """Freeze encoder levels for fine-tuning (``requires_grad = False``, gradients cleared).

        Level 0 is the full-resolution level, ``depth − 1`` the bottleneck. Other parameters are
        left as they are. GroupNorm keeps no running statistics, so frozen levels behave the same
        in training and evaluation mode, apart from their dropout.

        Args:
            levels: an int n (freeze levels 0 … n−1; 0 freezes nothing, ``depth`` all) or an
                iterable of level indices in [0, depth).

        Returns:
            The number of scalar parameters in the frozen levels.

        Raises:
            ValueError: for an index out of range.

        Example:
            >>> net = TubeNet(width=4, depth=3)
            >>> net.freeze_encoder(1) == sum(p.numel() for p in net.encoder_levels[0].parameters())
            True
        """
        fn = "TubeNet.freeze_encoder"
        if _is_int(levels):
            if not 0 <= levels <= self.depth:
                _checks.fail(fn, "levels", f"an integer in [0, {self.depth}] or level indices",
                             repr(levels))
            chosen = set(range(int(levels)))
        else:
            try:
                chosen = list(levels)
            except TypeError:
                _checks.fail(fn, "levels", "an integer or an iterable of level indices", repr(levels))
            if not all(_is_int(i) and 0 <= i < self.depth for i in chosen):
                _checks.fail(fn, "levels", f"level indices in [0, {self.depth})", repr(chosen))
            chosen = {int(i) for i in chosen}
        count = 0
        for i in sorted(chosen):
            for p in self.encoder_levels[i].parameters():
                p.requires_grad_(False)
                p.grad = None
                count += p.numel()
        return count

    def unfreeze(self) -> None:
        """Make every parameter trainable again."""
        for p in self.parameters():
            p.requires_grad_(True)

    # ----------------------------------------------------------------------------------------
    # forward

    @staticmethod
    def vessel_probability(logits: torch.Tensor) -> torch.Tensor:
        """Vessel probability (B, 1, Z, Y, X) from the network's logits (sigmoid or softmax ch. 1).

        Example:
            >>> TubeNet.vessel_probability(torch.zeros(1, 2, 1, 1, 1)).flatten().tolist()
            [0.5]
        """
        if logits.shape[1] == 1:
            return torch.sigmoid(logits)
        return torch.softmax(logits, dim=1)[:, 1:2]

    def _check_input(self, x) -> None:
        fn = "TubeNet.forward"
        if not isinstance(x, torch.Tensor):
            _checks.fail(fn, "x", "a torch.Tensor (B, C, Z, Y, X)", type(x).__name__)
        if x.dim() != 5:
            _checks.fail(fn, "x", "a 5-D tensor (B, C, Z, Y, X)", f"shape {tuple(x.shape)}")
        if x.shape[1] != self.in_channels:
            _checks.fail(fn, "x", f"(B, {self.in_channels}, Z, Y, X) with in_channels="
                         f"{self.in_channels} on axis 1", f"shape {tuple(x.shape)}")
        if not x.is_floating_point():
            _checks.fail(fn, "x", "a floating-point tensor", x.dtype)
        if min(x.shape) < 1:
            _checks.fail(fn, "x", "non-empty", f"shape {tuple(x.shape)}")
        w = self.head.weight
        if x.dtype != w.dtype and not torch.is_autocast_enabled(x.device.type):
            _checks.fail(fn, "x", f"of the model's dtype {w.dtype} (or run under autocast)", x.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for every voxel.

        Args:
            x: (B, in_channels, Z, Y, X) float tensor of the model's dtype and device; any
                spatial size >= 1 (padded internally to a multiple of :attr:`size_multiple`).

        Returns:
            (B, out_channels, Z, Y, X) logits (apply :meth:`vessel_probability`).

        Raises:
            ValueError: for a non-tensor, a wrong number of dimensions or channels, a
                non-floating dtype or one that differs from the model's (outside autocast).
        """
        self._check_input(x)
        spatial = x.shape[2:]
        pads = []
        for n, m in zip(spatial, self.size_multiple):
            total = (-n) % m
            pads.append((total // 2, total - total // 2))
        padded = any(p != (0, 0) for p in pads)
        if padded:
            # F.pad lists the last axis first: (x_lo, x_hi, y_lo, y_hi, z_lo, z_hi)
            x = F.pad(x, [v for p in reversed(pads) for v in p], mode="replicate")

        skips = []
        h = x
        for i, level in enumerate(self.encoder_levels):
            h = level(h)
            if i < self.depth - 1:
                skips.append(h)
                h = self.downsample[i](h)
        for i in reversed(range(self.depth - 1)):
            up = self.upsample[i](h)
            if self.attention_gates is not None:
                up = self.attention_gates[i](skips[i], up)
            h = self.decoder_levels[i](torch.cat([skips[i], up], dim=1))
        out = self.head(h)

        if padded:
            (z0, _), (y0, _), (x0, _) = pads
            out = out[:, :, z0:z0 + spatial[0], y0:y0 + spatial[1], x0:x0 + spatial[2]]
        return out

    def extra_repr(self) -> str:
        return (f"channels={self.channels}, pools={self.pools}, attention={self.attention}, "
                f"dropout={self.dropout}")
