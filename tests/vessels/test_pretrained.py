"""The shipped foundation model and model files: loading, round trips, bad files, and that the
shipped weights still segment a phantom (a check on the file, not a benchmark)."""
from __future__ import annotations

import json

import pytest
import torch

from bbbcore import vessels as V
from bbbcore.vessels import checkpoints


def test_foundation_loads_with_its_record():
    model = V.load_pretrained("foundation")
    assert isinstance(model, V.TubeNet) and not model.training
    assert model.config == V.TubeNet.compact().config
    rec = json.loads((checkpoints.WEIGHTS_DIR / "tubenet_foundation.json").read_text())
    assert rec["config"] == model.config and rec["best_step"] == model.metadata["best_step"]
    assert rec["training"]["seed"] == 0 and rec["data"]["held_out_modality"] == "hrem"


def test_foundation_segments_a_phantom():
    image, mask = V.phantoms.vessel_phantom((32, 64, 64), seed=11, modality="twophoton")
    prob = V.segment("foundation", image, patch=(32, 48, 48), progress=False)
    res = V.metrics.evaluate(prob, mask, threshold=0.5)
    assert res["dice"] > 0.75 and res["auroc"] > 0.98


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(0)
    net = V.TubeNet(depth=2, width=4, pool=(1, 2, 2))
    path = V.save_model(net, tmp_path / "m.pt", metadata={"note": "x"})
    back = V.load_model(path)
    x = torch.rand(1, 1, 8, 16, 16)
    net.eval()
    with torch.no_grad():
        torch.testing.assert_close(back(x), net(x))
    assert back.metadata == {"note": "x"}
    with pytest.raises(FileExistsError, match="overwrite=True"):
        V.save_model(net, path)


def test_bad_model_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        V.load_model(tmp_path / "nope.pt")
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="load_model: path must be a bbbcore vessel model file"):
        V.load_model(tmp_path / "other.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="load_model: path must be a bbbcore vessel model file"):
        V.load_model(tmp_path / "junk.pt")
    with pytest.raises(ValueError, match="load_pretrained: name must be one of 'foundation'"):
        V.load_pretrained("paper")
