"""``bbbcore vessels …``: every command end to end on a small phantom, --help, and no silent
overwrite or half-written output."""
from __future__ import annotations

import json

import pytest
import zarr

from bbbcore.cli import main

COMMANDS = ("phantom", "train", "finetune", "segment", "evaluate", "analyze")


@pytest.mark.parametrize("cmd", COMMANDS)
def test_help(cmd, capsys):
    with pytest.raises(SystemExit) as e:
        main(["vessels", cmd, "--help"])
    assert e.value.code == 0
    assert "usage: bbbcore vessels " + cmd in capsys.readouterr().out


def test_workflow(tmp_path, capsys):
    img = tmp_path / "ph.tif"
    assert main(["vessels", "phantom", "--out", str(img), "--shape", "24", "48", "48", "--seed", "3",
                 "--modality", "ct"]) == 0
    mask = tmp_path / "ph.mask.tif"
    assert mask.exists() and (tmp_path / "ph.preview.png").exists()
    assert main(["vessels", "phantom", "--out", str(img), "--shape", "24", "48", "48"]) == 2   # no overwrite
    assert "--overwrite" in capsys.readouterr().err

    run = tmp_path / "run"
    assert main(["vessels", "train", "--image", str(img), "--label", str(mask), "--out", str(run),
                 "--steps", "2", "--batch-size", "1", "--patch", "16", "--val-every", "1", "--depth", "2",
                 "--width", "4"]) == 0
    assert (run / "best.pt").exists() and (run / "training.png").exists()
    assert main(["vessels", "train", "--image", str(img), "--label", str(mask), "--out", str(run),
                 "--steps", "2", "--patch", "16", "--depth", "2", "--width", "4"]) == 2
    assert "resume=True" in capsys.readouterr().err

    ft = tmp_path / "ft"
    assert main(["vessels", "finetune", "--model", str(run / "best.pt"), "--image", str(img), "--label",
                 str(mask), "--out", str(ft), "--steps", "1", "--batch-size", "1", "--patch", "16",
                 "--val-every", "1", "--freeze-levels", "1", "--region", "0:24,0:32,0:32"]) == 0
    meta = json.loads((ft / "history.json").read_text())["metadata"]
    assert meta["training"]["freeze_levels"] == 1 and meta["finetuned_from"]

    seg = tmp_path / "seg.zarr"
    assert main(["vessels", "segment", str(img), "--out", str(seg), "--model", str(ft / "best.pt"),
                 "--patch", "16", "--tta"]) == 0
    g = zarr.open_group(str(seg), mode="r")
    assert g["prob"].shape == (24, 48, 48) and g.attrs["complete"] is True and "uncertainty" in g
    assert (tmp_path / "seg.preview.png").exists()

    out_json = tmp_path / "m.json"
    assert main(["vessels", "evaluate", str(seg), str(mask), "--out", str(out_json), "--plot",
                 str(tmp_path / "curves.png")]) == 0
    res = json.loads(out_json.read_text())
    for k in ("auroc", "ap", "dice", "cldice", "centreline_sensitivity", "hausdorff95"):
        assert k in res
    assert (tmp_path / "curves.png").exists()

    an = tmp_path / "an"
    assert main(["vessels", "analyze", str(mask), "--out", str(an), "--voxel-size-um", "2,1,1"]) == 0
    stats = json.loads((an / "vessel_stats.json").read_text())
    assert stats["volume_fraction"] > 0 and stats["total_length_um"] > 0
    assert (an / "segments.csv").exists() and (an / "vessel_stats.png").exists()


def test_missing_input_leaves_nothing(tmp_path, capsys):
    out = tmp_path / "seg.zarr"
    assert main(["vessels", "segment", str(tmp_path / "nope.tif"), "--out", str(out)]) == 2
    assert "nope.tif" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.iterdir())
    assert main(["vessels", "analyze", str(tmp_path / "nope.npy"), "--out", str(tmp_path / "an")]) == 2
    assert not (tmp_path / "an").exists()
