"""Saving and loading tUbe net models, and the shipped pre-trained ("foundation") weights.

A model file is a ``torch.save`` dict ``{"format", "config", "state_dict", "metadata"}``: the
network is rebuilt from its JSON-able config (:meth:`TubeNet.from_config`), so loading needs no
pickled code (``torch.load(weights_only=True)``). ``train`` writes its best model in this format
(``best.pt``), and its resumable training state beside it (``last.pt``).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from bbbcore import _checks

FORMAT = "bbbcore.vessels.model/1"
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
SHIPPED = {"foundation": "tubenet_foundation.pt"}


def atomic_save(obj, path: Path) -> None:
    """``torch.save`` to a temporary name, then rename: never a half-written file."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def save_model(model, path, *, metadata: dict | None = None, overwrite: bool = False) -> Path:
    """Write a model file (config + weights + metadata) loadable by :func:`load_model`.

    Args:
        model: a :class:`~bbbcore.vessels.model.TubeNet` (anything with ``config`` and
            ``state_dict``).
        path: file to write (``.pt``); its folder must exist.
        metadata: JSON-able dict stored with it (how it was trained).
        overwrite: replace an existing file.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is False.
    """
    fn = "save_model"
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{fn}: {path} exists; pass overwrite=True to replace it")
    if not path.parent.exists():
        raise FileNotFoundError(f"{fn}: folder {path.parent} does not exist")
    if not hasattr(model, "config"):
        _checks.fail(fn, "model", "a TubeNet (with a config)", type(model).__name__)
    payload = {"format": FORMAT, "config": model.config,
               "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
               "metadata": json.loads(json.dumps(metadata or {}, default=str))}
    atomic_save(payload, path)
    return path


def read_model_file(fn: str, path) -> dict:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{fn}: {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises several kinds for a foreign file
        _checks.fail(fn, "path", "a bbbcore vessel model file", f"{str(path)!r} ({type(e).__name__})")
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        _checks.fail(fn, "path", f"a bbbcore vessel model file (format {FORMAT!r})", str(path))
    return payload


def load_model(path, *, device="cpu"):
    """Load a model written by :func:`save_model` or ``train`` (``best.pt``), in eval mode.

    The file's metadata is attached as ``model.metadata``.
    """
    from bbbcore.vessels.model import TubeNet

    fn = "load_model"
    dev = _checks.as_device(fn, device)
    payload = read_model_file(fn, path)
    model = TubeNet.from_config(payload["config"])
    model.load_state_dict(payload["state_dict"])
    model.metadata = payload.get("metadata", {})
    return model.to(dev).eval()


def load_pretrained(name: str = "foundation", *, device="cpu"):
    """The pre-trained model shipped in the package (no network access).

    ``"foundation"``: a compact tUbe net trained on mixed-modality vessel phantoms
    (:mod:`bbbcore.vessels.phantoms`); how it was trained is in ``model.metadata`` and in the
    JSON beside the weights. Fine-tune it on your data with :func:`bbbcore.vessels.finetune`.
    """
    fn = "load_pretrained"
    _checks.choice(fn, "name", name, tuple(SHIPPED))
    path = WEIGHTS_DIR / SHIPPED[name]
    if not path.exists():
        raise FileNotFoundError(f"{fn}: the shipped weights {path} are missing from this installation")
    return load_model(path, device=device)
