"""MONAI-style dictionary wrapper: drop a :class:`~bbbcore.augment.Compose` into MONAI or plain
torch data pipelines that pass samples as dicts."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from bbbcore import _checks
from bbbcore.augment import functional as F
from bbbcore.augment.transforms import Compose

__all__ = ["AugmentDict"]


class AugmentDict:
    """Apply ``transform`` to the entries ``keys`` (images) and ``mask_keys`` (labels) of a dict,
    all with the same random draw: images channel-first (C, Z, Y, X) as MONAI loads them (or
    (Z, Y, X)), NumPy or torch; a batch key holding (B, C, Z, Y, X) tensors goes through
    :meth:`Compose.batch`. Other entries are passed through; the input dict is not modified.

    Example:
        >>> import numpy as np
        >>> from bbbcore import augment as A
        >>> t = A.AugmentDict(A.Compose([A.Flip(axis=1, p=1.0)]), keys="image", mask_keys="label")
        >>> d = t({"image": np.random.rand(1, 4, 5, 6).astype(np.float32),
        ...        "label": np.zeros((1, 4, 5, 6), np.uint8), "id": 7})
        >>> d["image"].shape, d["label"].dtype, d["id"]
        ((1, 4, 5, 6), dtype('uint8'), 7)
    """

    def __init__(self, transform: Compose, keys: str | Sequence[str] = ("image",),
                 mask_keys: str | Sequence[str] = (), allow_missing_keys: bool = False):
        if not isinstance(transform, Compose):
            _checks.fail("AugmentDict", "transform", "a bbbcore.augment.Compose", type(transform).__name__)
        self.transform = transform
        self.keys = (keys,) if isinstance(keys, str) else tuple(keys)
        self.mask_keys = (mask_keys,) if isinstance(mask_keys, str) else tuple(mask_keys)
        if not self.keys:
            _checks.fail("AugmentDict", "keys", "at least one image key", keys)
        self.allow_missing_keys = bool(allow_missing_keys)

    def _present(self, data, keys):
        out = []
        for k in keys:
            if k in data:
                out.append(k)
            elif not self.allow_missing_keys:
                _checks.fail("AugmentDict", "data", f"a dict with key {k!r} (or allow_missing_keys=True)",
                             sorted(map(str, data)))
        return out

    def __call__(self, data: dict) -> dict:
        keys = self._present(data, self.keys)
        mkeys = self._present(data, self.mask_keys)
        if not keys:
            return dict(data)
        # one draw for every key: stack the images' channels, and the masks' channels
        batch = all(isinstance(data[k], torch.Tensor) and data[k].dim() == 5 for k in keys)
        imgs = [F._as_batch("AugmentDict", data[k])[0] for k in keys]
        masks = [F._as_batch("AugmentDict", data[k], "mask")[0] for k in mkeys]
        shape = imgs[0].shape[2:]
        for k, t in zip(list(keys) + list(mkeys), imgs + masks):
            if t.shape[2:] != shape or t.shape[0] != imgs[0].shape[0]:
                _checks.fail("AugmentDict", f"data[{k!r}]", f"of the spatial shape {tuple(shape)} of "
                             f"data[{keys[0]!r}]", tuple(t.shape))
        dev = imgs[0].device
        xs = [F._image_tensor("AugmentDict", t.to(dev)) for t in imgs]
        if len({t.dtype for t in xs}) > 1:     # mixed image dtypes: one float32 stack
            xs = [t.float() for t in xs]
        x = torch.cat(xs, dim=1)
        m = None
        if masks:
            mdt = masks[0].dtype
            m = torch.cat([t.to(device=dev, dtype=mdt) for t in masks], dim=1)
        if batch:
            res = self.transform.batch(x, m)
            out, mout = (res, None) if m is None else res
        else:
            outs = [self.transform(image=x[b], mask=None if m is None else m[b]) for b in range(x.shape[0])]
            out = torch.stack([torch.as_tensor(o["image"]) for o in outs])
            mout = None if m is None else torch.stack([torch.as_tensor(o["mask"]) for o in outs])
        result = dict(data)
        c0 = 0
        for k, t in zip(keys, imgs):
            piece = out[:, c0:c0 + t.shape[1]]
            c0 += t.shape[1]
            result[k] = _like(data[k], piece)
        c0 = 0
        for k, t in zip(mkeys, masks):
            piece = mout[:, c0:c0 + t.shape[1]]
            c0 += t.shape[1]
            result[k] = _like(data[k], piece.to(t.dtype) if data[k].dtype != torch.bool and
                              not isinstance(data[k], np.ndarray) else piece, mask=True)
        return result


def _like(orig, y: torch.Tensor, mask: bool = False):
    """Reshape y (B, C, *out) to orig's rank and kind (NumPy / torch); masks keep their dtype."""
    nd = orig.ndim
    y = y.reshape(tuple(y.shape[5 - nd:])) if nd < 5 else y
    if isinstance(orig, torch.Tensor):
        return y.to(orig.dtype) if mask else y
    a = y.cpu().numpy()
    return a.astype(orig.dtype) if mask else a
