"""The deep-learning estimator (DLE) of diffusion coefficients: network, loss, checkpoints.

The network of Kirkegaard, Kutuzov et al. (paper §2.4, Fig. 2A) maps a two-photon movie
``(T, H, W)`` to an estimate D̂ of the particles' diffusion coefficient and an estimate σ̂ of its
error:

1. a per-frame 2D convolutional **encoder** (five 3×3 convolutions with GELU, three of them with
   stride 2, then a linear layer) maps each frame to a latent vector of ``latent_dim`` (128);
   it is pre-trained as the encoder half of an autoencoder (:class:`FrameDecoder` is the other);
2. a 1D **ResNet over time** (a stem convolution and ``n_blocks`` = 7 pre-activation residual
   blocks of two convolutions each, kernel 7; every second block halves the time axis with
   stride 2, block 4 doubles the channels) mixes the latent sequence;
3. **adaptive average pooling** over time, so any movie length T ≥ 1 is accepted;
4. an **MLP** → two outputs, each through f(x) = 1 + ELU(x) > 0, giving (D̂, σ̂).

The network predicts in units of ``DLEConfig.d_scale_um2_s`` (1.5 µm²/s for the low-D task,
50 µm²/s for the high-D one) so that its targets are O(1); :meth:`DLE.forward` returns D̂ and σ̂
in µm²/s. A small floor ``sigma_floor·d_scale`` is added to σ̂ so the likelihood loss cannot
diverge by σ̂ → 0 (the public code adds 0.02 µm²/s for the same reason).

Input normalisation (inside the model, :meth:`DLE.normalize`): each movie is standardised by its
own statistics, ``(x − median(x)) / std(x)`` over all of its T·H·W pixels. Subtracting the median
(≈ the background, robust to the sparse bright particles) makes the estimate invariant to a
constant background offset; dividing by the standard deviation makes it invariant to the
detector gain. Statistics are per movie, not per frame, so intensity changes between frames
(particles entering or leaving focus) are kept.

Sizes of the two presets (:func:`count_parameters`, :func:`count_flops`; FLOPs = 2 × the
multiply-accumulates of the convolutions and linear layers for one 400-frame 20×20 movie):

=====================  ============  =================  ==========================================
preset                 parameters    GFLOP / movie      widths
=====================  ============  =================  ==========================================
``DLEConfig.paper()``  56.51 M       14.41              encoder 32-32-64-64-64 → 128; ResNet
                                                        512 (blocks 0–3) / 1024 (blocks 4–6);
                                                        MLP 1024 → 256 → 2
``DLEConfig.small()``  0.52 M        0.254              encoder 8-8-16-16-16 → 32; ResNet
                                                        48 / 96; MLP 96 → 64 → 2
=====================  ============  =================  ==========================================

The paper states 55.5 M parameters and 15.1 GFLOP. Its public code (kirkegaardlab/2photodiffusion)
has the same temporal ResNet (base width 512, kernel 7, doubling after four blocks, stride 2 in
every second block): 55.54 M parameters here without the 1×1 projection of the widening
shortcut (0.53 M), which is the paper's count; the encoder (0.18 M) and the MLP's hidden layer
(0.26 M) come on top. The public code runs on 24×24 frames: on those this network needs
15.2 GFLOP, the paper's figure.

Checkpoints (:func:`save_dle`, :func:`load_dle`) are a ``torch.save`` of ``{"format",
"state_dict", "config", "metadata"}`` plus a JSON sidecar with the config and metadata.
``load_dle("low")`` / ``load_dle("high")`` look for package weights in ``bbbcore/weights/``;
bbbcore ships none yet and never downloads any: train them with
:func:`bbbcore.diffusion.train.train_dle`.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from bbbcore import _checks

FORMAT = "bbbcore.dle/1"
NORMS = ("batch", "group", "none")
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
SHIPPED = {"low": "dle_low.pt", "high": "dle_high.pt"}


# --------------------------------------------------------------------------------------------
# configuration


@dataclass(frozen=True)
class DLEConfig:
    """Architecture of a :class:`DLE` (and the scale of its outputs).

    Args:
        frame_size: (H, W) of the frames the network is trained on [px] (paper: 20×20).
        encoder_channels: c; the encoder's five convolutions have c, c, 2c, 2c, 2c channels.
        latent_dim: size of a frame's latent vector h (paper: 128).
        temporal_channels: channels of ResNet blocks 0 … ``widen_every``−1; they double at every
            ``widen_every`` blocks.
        n_blocks: residual blocks, two temporal convolutions each (paper: 7).
        temporal_kernel: kernel of the temporal convolutions [frames] (paper: 7).
        downsample_every: blocks ``i`` with ``i % downsample_every == 1`` halve the time axis.
        widen_every: see ``temporal_channels``.
        head_hidden: hidden width of the MLP head.
        norm: normalisation in the ResNet: ``"batch"`` (as the public code), ``"group"``
            (GroupNorm; batch-independent) or ``"none"``.
        dropout: dropout rate before each block's second convolution (public code: 0.5; with
            movies simulated fresh for every step there is no overfitting to prevent).
        d_scale_um2_s: unit of the network's raw outputs [µm²/s]: 1.5 for the low-D task
            (D ~ U(0, 1.5)), 50 for the high-D task (D ~ U(0, 50)).
        sigma_floor: σ̂ ≥ sigma_floor · d_scale_um2_s.
    """

    frame_size: tuple = (20, 20)
    encoder_channels: int = 32
    latent_dim: int = 128
    temporal_channels: int = 512
    n_blocks: int = 7
    temporal_kernel: int = 7
    downsample_every: int = 2
    widen_every: int = 4
    head_hidden: int = 256
    norm: str = "batch"
    dropout: float = 0.0
    d_scale_um2_s: float = 1.5
    sigma_floor: float = 0.01

    def __post_init__(self):
        fn = "DLEConfig"
        fs = tuple(self.frame_size) if isinstance(self.frame_size, (tuple, list)) else None
        if fs is None or len(fs) != 2 or any(isinstance(v, bool) or not isinstance(v, int) or v < 1
                                             for v in fs):
            _checks.fail(fn, "frame_size", "(H, W), two integers >= 1 [px]", repr(self.frame_size))
        object.__setattr__(self, "frame_size", fs)
        for name in ("encoder_channels", "latent_dim", "temporal_channels", "n_blocks",
                     "downsample_every", "widen_every", "head_hidden"):
            _checks.positive_int(fn, name, getattr(self, name))
        k = _checks.positive_int(fn, "temporal_kernel", self.temporal_kernel)
        if k % 2 == 0:
            _checks.fail(fn, "temporal_kernel", "odd", k)
        _checks.choice(fn, "norm", self.norm, NORMS)
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)) \
                or not 0.0 <= self.dropout < 1.0:
            _checks.fail(fn, "dropout", "in [0, 1)", repr(self.dropout))
        _checks.positive(fn, "d_scale_um2_s", self.d_scale_um2_s, "µm²/s")
        _checks.positive(fn, "sigma_floor", self.sigma_floor)

    @classmethod
    def paper(cls, **kw) -> "DLEConfig":
        """The paper's network (56.5 M parameters, 14.4 GFLOP per 400×20×20 movie)."""
        return cls(**{**dict(encoder_channels=32, latent_dim=128, temporal_channels=512,
                             head_hidden=256), **kw})

    @classmethod
    def small(cls, **kw) -> "DLEConfig":
        """A CPU-friendly network (0.52 M parameters, 0.25 GFLOP per 400×20×20 movie; ≈ 12 ms on
        one CPU core)."""
        return cls(**{**dict(encoder_channels=8, latent_dim=32, temporal_channels=48,
                             head_hidden=64), **kw})

    @classmethod
    def for_task(cls, task: str, preset: str = "paper", **kw) -> "DLEConfig":
        """``preset`` ("paper" or "small") with the output scale of ``task`` ("low" or "high")."""
        _checks.choice("DLEConfig.for_task", "task", task, tuple(TASK_D_MAX_UM2_S))
        _checks.choice("DLEConfig.for_task", "preset", preset, ("paper", "small"))
        return getattr(cls, preset)(**{"d_scale_um2_s": TASK_D_MAX_UM2_S[task], **kw})

    def to_dict(self) -> dict:
        d = asdict(self)
        d["frame_size"] = list(self.frame_size)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "DLEConfig":
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            _checks.fail("DLEConfig.from_dict", "d", f"keys among {sorted(names)}", sorted(unknown))
        return cls(**{k: (tuple(v) if k == "frame_size" else v) for k, v in d.items()})

    def block_plan(self) -> list[tuple[int, int, int]]:
        """(in_channels, out_channels, stride) of each residual block."""
        plan, c_in = [], self.temporal_channels
        for i in range(self.n_blocks):
            c_out = self.temporal_channels * 2 ** (i // self.widen_every)
            stride = 2 if i % self.downsample_every == 1 else 1
            plan.append((c_in, c_out, stride))
            c_in = c_out
        return plan


# the task's prior D ~ U(0, D_max) [µm²/s]
TASK_D_MAX_UM2_S = {"low": 1.5, "high": 50.0}


def _down(n: int) -> int:
    """Size after a 3×3 convolution with stride 2 and padding 1."""
    return (n - 1) // 2 + 1


def _encoded_size(frame_size) -> tuple[int, int]:
    h, w = frame_size
    for _ in range(3):
        h, w = _down(h), _down(w)
    return h, w


# --------------------------------------------------------------------------------------------
# network


class FrameEncoder(nn.Module):
    """Per-frame encoder: (N, 1, H, W) → (N, latent_dim); five convolutions with GELU."""

    def __init__(self, config: DLEConfig):
        super().__init__()
        c, h, w = config.encoder_channels, *_encoded_size(config.frame_size)
        self.conv = nn.Sequential(
            nn.Conv2d(1, c, 3, stride=2, padding=1), nn.GELU(),
            nn.Conv2d(c, c, 3, padding=1), nn.GELU(),
            nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), nn.GELU(),
            nn.Conv2d(2 * c, 2 * c, 3, padding=1), nn.GELU(),
            nn.Conv2d(2 * c, 2 * c, 3, stride=2, padding=1), nn.GELU(),
        )
        self.linear = nn.Linear(2 * c * h * w, config.latent_dim)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.linear(self.conv(frames).flatten(1))


class FrameDecoder(nn.Module):
    """Mirror of :class:`FrameEncoder` for the autoencoder pre-training: (N, latent) → (N, 1, H, W)."""

    def __init__(self, config: DLEConfig):
        super().__init__()
        c = config.encoder_channels
        H, W = config.frame_size
        sizes = [(H, W)]
        for _ in range(3):
            sizes.append((_down(sizes[-1][0]), _down(sizes[-1][1])))
        self.shape0 = (2 * c, *sizes[3])

        def up(cin, cout, src, dst):
            op = (dst[0] - (2 * src[0] - 1), dst[1] - (2 * src[1] - 1))
            return nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=op)

        self.linear = nn.Sequential(nn.Linear(config.latent_dim, 2 * c * sizes[3][0] * sizes[3][1]),
                                    nn.GELU())
        self.conv = nn.Sequential(
            up(2 * c, 2 * c, sizes[3], sizes[2]), nn.GELU(),
            nn.Conv2d(2 * c, 2 * c, 3, padding=1), nn.GELU(),
            up(2 * c, c, sizes[2], sizes[1]), nn.GELU(),
            nn.Conv2d(c, c, 3, padding=1), nn.GELU(),
            up(c, 1, sizes[1], sizes[0]),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.conv(self.linear(z).reshape(z.shape[0], *self.shape0))


def _norm1d(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm1d(channels)
    if kind == "group":
        return nn.GroupNorm(math.gcd(32, channels), channels)
    return nn.Identity()


class _ResBlock1d(nn.Module):
    """Pre-activation residual block: (norm → ReLU → conv) × 2 plus a shortcut.

    The shortcut subsamples by the stride, and is a 1×1 convolution when the channels change.
    """

    def __init__(self, c_in: int, c_out: int, stride: int, config: DLEConfig):
        super().__init__()
        k = config.temporal_kernel
        self.norm1 = _norm1d(config.norm, c_in)
        self.conv1 = nn.Conv1d(c_in, c_out, k, stride=stride, padding=k // 2)
        self.norm2 = _norm1d(config.norm, c_out)
        self.drop = nn.Dropout(config.dropout) if config.dropout > 0 else nn.Identity()
        self.conv2 = nn.Conv1d(c_out, c_out, k, padding=k // 2)
        self.stride = stride
        self.proj = nn.Conv1d(c_in, c_out, 1, stride=stride) if c_in != c_out else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(F.relu(self.norm1(x)))
        out = self.conv2(self.drop(F.relu(self.norm2(out))))
        if self.proj is not None:
            short = self.proj(x)
        else:
            short = x[..., ::self.stride] if self.stride > 1 else x
        return out + short


class TemporalResNet(nn.Module):
    """1D ResNet over time: (B, latent, T) → (B, C_last) (adaptive average pooling over time)."""

    def __init__(self, config: DLEConfig):
        super().__init__()
        k = config.temporal_kernel
        self.stem = nn.Conv1d(config.latent_dim, config.temporal_channels, k, padding=k // 2)
        self.blocks = nn.ModuleList(_ResBlock1d(ci, co, s, config) for ci, co, s in config.block_plan())
        self.out_channels = config.block_plan()[-1][1]
        self.norm = _norm1d(config.norm, self.out_channels)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.stem(z)
        for block in self.blocks:
            x = block(x)
        return F.relu(self.norm(x)).mean(dim=-1)


class DLE(nn.Module):
    """Deep-learning estimator of the diffusion coefficient of particles in a 2PM movie.

    Args:
        config: architecture and output scale (default :meth:`DLEConfig.paper`).

    Attributes:
        encoder: :class:`FrameEncoder` (pre-trained as an autoencoder with a :class:`FrameDecoder`).
        temporal: :class:`TemporalResNet`.
        head: MLP → 2 raw outputs.
        metadata: dict describing how the weights were trained (set by ``train_dle`` and
            :func:`load_dle`; empty for a fresh network).

    Example:
        >>> net = DLE(DLEConfig.small()).eval()
        >>> d, s = net(torch.rand(3, 50, 20, 20) * 10 + 100)
        >>> tuple(d.shape), tuple(s.shape), bool((d >= 0).all() and (s > 0).all())
        ((3,), (3,), True)
    """

    def __init__(self, config: DLEConfig | None = None):
        super().__init__()
        config = DLEConfig.paper() if config is None else config
        if not isinstance(config, DLEConfig):
            _checks.fail("DLE", "config", "a DLEConfig", type(config).__name__)
        self.config = config
        self.metadata: dict = {}
        self.encoder = FrameEncoder(config)
        self.temporal = TemporalResNet(config)
        self.head = nn.Sequential(nn.Linear(self.temporal.out_channels, config.head_hidden), nn.GELU(),
                                  nn.Linear(config.head_hidden, 2))
        self._init_head()

    def _init_head(self) -> None:
        # start with D̂ ≈ 0.5·d_scale (the mean of U(0, d_scale): raw output ln 0.5 through
        # 1 + ELU) and σ̂ ≈ (1 + floor)·d_scale (raw output 0), small output weights
        last = self.head[-1]
        if last.weight.device.type == "meta":
            return
        with torch.no_grad():
            last.weight.mul_(0.1)
            last.bias.copy_(torch.tensor([math.log(0.5), 0.0]))

    @staticmethod
    def normalize(movies: torch.Tensor) -> torch.Tensor:
        """Per-movie standardisation ``(x − median) / std`` over all T·H·W pixels of each movie."""
        flat = movies.flatten(1)
        med = flat.median(dim=1).values
        std = flat.std(dim=1, correction=0).clamp_min(1e-6)
        return (movies - med[:, None, None, None]) / std[:, None, None, None]

    def check_input(self, movies, fn: str = "DLE.forward", arg: str = "movies") -> torch.Tensor:
        H, W = self.config.frame_size
        if not isinstance(movies, torch.Tensor):
            _checks.fail(fn, arg, "a torch.Tensor (B, T, H, W)", type(movies).__name__)
        if movies.dim() != 4 or movies.shape[0] < 1 or movies.shape[1] < 1 \
                or tuple(movies.shape[2:]) != (H, W):
            _checks.fail(fn, arg, f"of shape (B ≥ 1, T ≥ 1, {H}, {W}) (the training frame size)",
                         tuple(movies.shape))
        if movies.is_complex() or movies.dtype == torch.bool:
            _checks.fail(fn, arg, "real-valued", movies.dtype)
        return movies if movies.is_floating_point() else movies.float()

    def encode(self, movies: torch.Tensor) -> torch.Tensor:
        """Normalised movies (B, T, H, W) → latent sequences (B, latent_dim, T)."""
        B, T, H, W = movies.shape
        z = self.encoder(movies.reshape(B * T, 1, H, W))
        return z.reshape(B, T, -1).transpose(1, 2)

    def raw(self, movies: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(D̂, σ̂) in units of ``config.d_scale_um2_s`` (what the training loss sees)."""
        movies = self.check_input(movies)
        x = self.normalize(movies.float())
        out = self.head(self.temporal(self.encode(x))).float()
        d = 1.0 + F.elu(out[:, 0])
        s = self.config.sigma_floor + 1.0 + F.elu(out[:, 1])
        return d, s

    def forward(self, movies: torch.Tensor, *, raw: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Estimate (D̂, σ̂) [µm²/s], each (B,), from movies (B, T, H, W) of any T ≥ 1.

        ``raw=True`` returns them in units of ``config.d_scale_um2_s`` (as :meth:`raw`; the
        training loop calls it this way so that a DDP wrapper sees the forward).
        """
        d, s = self.raw(movies)
        if raw:
            return d, s
        return d * self.config.d_scale_um2_s, s * self.config.d_scale_um2_s


def gaussian_nll(d_hat: torch.Tensor, sigma_hat: torch.Tensor, d_true: torch.Tensor) -> torch.Tensor:
    """Gaussian negative log-likelihood of paper eq. 2, without the constant ½·log 2π.

    ``L = mean[(D̂ − D)² / (2σ̂²) + log σ̂]``; its value depends on the unit of D (a change of
    unit by a factor a shifts it by log a).

    Args:
        d_hat, sigma_hat, d_true: tensors of one shape (σ̂ > 0), any unit as long as it is one.

    Returns:
        0-d tensor.

    Example:
        >>> float(gaussian_nll(torch.tensor([1.0]), torch.tensor([1.0]), torch.tensor([3.0])))
        2.0
    """
    fn = "gaussian_nll"
    for name, t in (("d_hat", d_hat), ("sigma_hat", sigma_hat), ("d_true", d_true)):
        if not isinstance(t, torch.Tensor):
            _checks.fail(fn, name, "a torch.Tensor", type(t).__name__)
    if sigma_hat.shape != d_hat.shape or d_true.shape != d_hat.shape:
        _checks.fail(fn, "sigma_hat, d_true", f"of the shape of d_hat {tuple(d_hat.shape)}",
                     f"{tuple(sigma_hat.shape)}, {tuple(d_true.shape)}")
    return ((d_hat - d_true) ** 2 / (2.0 * sigma_hat ** 2) + torch.log(sigma_hat)).mean()


# --------------------------------------------------------------------------------------------
# sizes


def count_parameters(config: DLEConfig) -> int:
    """Parameters of ``DLE(config)`` (built on the meta device: no memory, no time)."""
    with torch.device("meta"):
        net = DLE(config)
    return sum(p.numel() for p in net.parameters())


def count_flops(config: DLEConfig, frames: int = 400) -> int:
    """FLOPs (2 × multiply-accumulates of convolutions and linear layers) for one movie.

    Counted from the layer shapes of a forward pass on the meta device; normalisation,
    activations and pooling (O(activations), < 1 %) are not counted.
    """
    frames = _checks.positive_int("count_flops", "frames", frames)
    with torch.device("meta"):
        net = DLE(config)
    total = [0]

    def hook(mod, inp, out):
        if isinstance(mod, nn.Linear):
            total[0] += out.numel() * mod.in_features
        elif isinstance(mod, nn.ConvTranspose2d):
            total[0] += inp[0].numel() * mod.out_channels * math.prod(mod.kernel_size)
        elif isinstance(mod, (nn.Conv1d, nn.Conv2d)):
            total[0] += out.numel() * (mod.in_channels // mod.groups) * math.prod(mod.kernel_size)

    handles = [m.register_forward_hook(hook) for m in net.modules()
               if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d))]
    with torch.no_grad():
        net(torch.empty(1, frames, *config.frame_size, device="meta"))
    for h in handles:
        h.remove()
    return 2 * total[0]


# --------------------------------------------------------------------------------------------
# checkpoints


def _jsonable(obj):
    from bbbcore.io import _jsonable as j
    # the JSON round trip raises TypeError for anything that is not JSON-able and turns str/int/
    # float subclasses (e.g. torch.__version__) into plain types that torch.load(weights_only) takes
    return json.loads(json.dumps(j(obj)))


def save_dle(path, model: DLE, config: DLEConfig | None = None, metadata: dict | None = None, *,
             overwrite: bool = False) -> Path:
    """Save a DLE as ``path`` (torch.save) plus a JSON sidecar ``path.with_suffix(".json")``.

    Args:
        path: output file, conventionally ``*.pt``.
        model: the network (a DDP wrapper is unwrapped).
        config: its configuration (default ``model.config``).
        metadata: JSON-able description of the training (default ``model.metadata``): steps,
            seed, validation scores, task, d_scale, frames, scan, ...
        overwrite: replace existing files.

    Returns:
        The checkpoint's path.
    """
    fn = "save_dle"
    model = getattr(model, "module", model)
    if not isinstance(model, DLE):
        _checks.fail(fn, "model", "a DLE", type(model).__name__)
    config = model.config if config is None else config
    if not isinstance(config, DLEConfig):
        _checks.fail(fn, "config", "a DLEConfig", type(config).__name__)
    if config != model.config:
        _checks.fail(fn, "config", "the model's own config", config)
    try:
        meta = _jsonable(dict(model.metadata if metadata is None else metadata))
    except (TypeError, ValueError) as e:
        raise ValueError(f"{fn}: metadata must be JSON-able, got {e}") from None
    p = Path(path)
    side = p.with_suffix(".json")
    for q in (p, side):
        if q.exists() and not overwrite:
            raise FileExistsError(f"{fn}: {q} exists; pass overwrite=True to replace it")
    if not p.parent.exists():
        raise FileNotFoundError(f"{fn}: folder {p.parent} does not exist")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {"format": FORMAT, "state_dict": state, "config": config.to_dict(), "metadata": meta}
    _atomic_save(payload, p)
    with open(side, "w", encoding="utf-8") as fh:
        json.dump({"format": FORMAT, "weights": p.name, "config": config.to_dict(),
                   "parameters": sum(v.numel() for v in model.parameters()), "metadata": meta},
                  fh, indent=2)
        fh.write("\n")
    return p


def _atomic_save(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def shipped_weights_path(name: str) -> Path:
    """Where the package's weights for ``name`` ("low" or "high") live."""
    _checks.choice("shipped_weights_path", "name", name, tuple(SHIPPED))
    return WEIGHTS_DIR / SHIPPED[name]


def load_dle(name_or_path="low", *, device="cpu") -> DLE:
    """Load a DLE saved by :func:`save_dle` (or a ``train_dle`` checkpoint).

    Args:
        name_or_path: ``"low"`` / ``"high"`` for the package's weights
            (``bbbcore/weights/dle_low.pt`` / ``dle_high.pt``), or the path of a checkpoint.
        device: where to put the network.

    Returns:
        The network in eval mode, with ``.config`` and ``.metadata``.

    Raises:
        FileNotFoundError: no such checkpoint; for ``"low"``/``"high"`` the message says how to
            train the weights (nothing is ever downloaded).
        ValueError: the file is not a DLE checkpoint.
    """
    fn = "load_dle"
    if isinstance(name_or_path, str) and name_or_path in SHIPPED:
        p = shipped_weights_path(name_or_path)
        if not p.exists():
            task = name_or_path
            raise FileNotFoundError(
                f"{fn}: no DLE weights for the {task!r} task at {p}. bbbcore does not ship trained "
                f"weights yet and never downloads any. Train them (a GPU is advised for the paper "
                f"network) and save them there or anywhere else:\n"
                f"    from bbbcore.diffusion.train import train_dle\n"
                f"    from bbbcore.diffusion.dle import save_dle\n"
                f"    model, history = train_dle(task={task!r}, device='cuda')\n"
                f"    save_dle({str(p)!r}, model)\n"
                f"then load_dle({task!r}), or load_dle('/path/to/file.pt') for a file elsewhere.")
    elif isinstance(name_or_path, (str, os.PathLike)):
        p = Path(name_or_path)
        if not p.exists():
            raise FileNotFoundError(f"{fn}: no checkpoint at {p} (names: 'low', 'high', or a path)")
    else:
        _checks.fail(fn, "name_or_path", "'low', 'high' or a path", repr(name_or_path))
    dev = _checks.as_device(fn, device)
    try:
        payload = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 — any unpickling failure means "not a checkpoint"
        raise ValueError(f"{fn}: name_or_path must be a DLE checkpoint, got {p} ({type(e).__name__}: {e})") \
            from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        _checks.fail(fn, "name_or_path", f"a checkpoint of format {FORMAT!r}", str(p))
    net = DLE(DLEConfig.from_dict(payload["config"]))
    net.load_state_dict(payload["state_dict"])
    net.metadata = dict(payload.get("metadata") or {})
    return net.to(dev).eval()
