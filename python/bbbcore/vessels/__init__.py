"""3D vessel segmentation: tUbe net, out-of-core inference, fine-tuning, metrics and analysis.

Implements Holroyd et al., "tUbe net: a generalisable deep learning tool for 3D vessel
segmentation" (``shared/seeds/tubenet-vessel-segmentation.md``) in PyTorch, without the public
code's bugs (a Dice term without gradient, the highest-loss checkpoint kept, the threshold chosen
on the test set, only the first dataset sampled, silent empty patches, the whole encoder frozen).

Example:
    >>> from bbbcore import vessels as V
    >>> image, mask = V.phantoms.vessel_phantom((32, 48, 48), seed=1, modality="twophoton")
    >>> net = V.TubeNet(depth=3, width=4)
    >>> prob = V.segment(net, image, patch=(32, 32, 32), progress=False)
    >>> prob.shape, prob.dtype.name
    ((32, 48, 48), 'float32')
"""
from bbbcore.vessels import analysis, data, metrics, phantoms, volumes
from bbbcore.vessels.checkpoints import load_model, load_pretrained, save_model
from bbbcore.vessels.data import PatchSampler, VolumePair
from bbbcore.vessels.inference import segment
from bbbcore.vessels.losses import make_loss
from bbbcore.vessels.model import TubeNet
from bbbcore.vessels.train import TrainResult, finetune, train

__all__ = ["TubeNet", "train", "finetune", "TrainResult", "segment", "load_pretrained", "load_model",
           "save_model", "make_loss", "VolumePair", "PatchSampler", "metrics", "analysis", "phantoms",
           "data", "volumes"]
