"""The README's main job: ``bbbcore simulate-2pm`` writes a TIFF, the ground truth and a PNG."""
import json
import subprocess
import sys

import numpy as np
import pytest
import tifffile
import torch

from bbbcore.cli import main


def test_simulate_2pm_writes_outputs(tmp_path):
    out = tmp_path / "movies.tif"
    rc = main(["simulate-2pm", "--batch", "3", "--diffusivity", "0.5", "--frames", "6",
               "--rows", "10", "--cols", "12", "--out", str(out), "--trajectories", "--chunk", "2"])
    assert rc == 0
    movies = tifffile.imread(out)
    assert movies.shape == (3, 6, 10, 12) and movies.dtype == np.float32
    assert 80 < movies.mean() < 140  # background 100 + particles, noisy
    truth = json.loads((tmp_path / "movies.truth.json").read_text())
    assert truth["movies"] == 3 and truth["diffusivity_um2_s"] == [0.5, 0.5, 0.5]
    assert len(truth["n_particles"]) == 3 and truth["config"]["scan"]["frames"] == 6
    npz = np.load(tmp_path / "movies.truth.npz")
    n_max = max(truth["n_particles"])
    assert npz["trajectories_um"].shape == (3, n_max, 6, 3)
    for b, n in enumerate(truth["n_particles"]):      # padded slots are NaN, particles finite
        assert np.isfinite(npz["trajectories_um"][b, :n]).all()
        assert np.isnan(npz["trajectories_um"][b, n:]).all()
    png = (tmp_path / "movies.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_chunking_does_not_change_the_movies(tmp_path):
    a, b = tmp_path / "a.tif", tmp_path / "b.tif"
    common = ["--batch", "5", "--diffusivity", "0.2", "1.0", "--frames", "4", "--rows", "8",
              "--cols", "8", "--seed", "7", "--no-montage"]
    assert main(["simulate-2pm", *common, "--out", str(a), "--chunk", "5"]) == 0
    assert main(["simulate-2pm", *common, "--out", str(b), "--chunk", "2"]) == 0
    np.testing.assert_array_equal(tifffile.imread(a), tifffile.imread(b))


def test_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "movies.tif"
    out.write_bytes(b"user data")
    rc = main(["simulate-2pm", "--batch", "1", "--frames", "2", "--rows", "4", "--cols", "4",
               "--out", str(out)])
    assert rc == 2
    assert "--overwrite" in capsys.readouterr().err
    assert out.read_bytes() == b"user data"


@pytest.mark.parametrize("argv, match", [
    (["--batch", "0"], "--batch must be"),
    (["--diffusivity", "1", "0.5"], "lo <= hi"),
    (["--frames", "0"], "frames must be"),
    (["--dwell-us", "0"], "dwell_us must be"),
])
def test_bad_arguments(tmp_path, capsys, argv, match):
    rc = main(["simulate-2pm", "--out", str(tmp_path / "m.tif"), "--rows", "4", "--cols", "4",
               "--no-montage", *argv])
    assert rc == 2
    assert match in capsys.readouterr().err


def test_info_and_module_entry_point():
    r = subprocess.run([sys.executable, "-m", "bbbcore", "info", "--json"], capture_output=True,
                       text=True, check=True)
    info = json.loads(r.stdout)
    assert {"version", "with_cuda", "cuda_archs", "openmp", "has_cuda"} <= set(info)


def test_train_dle_then_estimate_diffusion(tmp_path, capsys):
    """train-dle writes weights + a JSON record; estimate-diffusion reads a movie and prints D ± σ."""
    weights = tmp_path / "tiny.pt"
    rc = main(["train-dle", "--out", str(weights), "--preset", "small", "--steps", "2",
               "--batch-size", "2", "--pretrain-steps", "0", "--frames", "4", "--val-size", "2",
               "--device", "cpu"])
    assert rc == 0
    record = json.loads(weights.with_suffix(".json").read_text())["metadata"]
    assert record["task"] == "low" and record["steps"] == 2
    assert record["command"].startswith("bbbcore train-dle --out")

    # --init-from fine-tunes it: same network, lineage recorded, no pre-training by default
    tuned = tmp_path / "tuned.pt"
    rc = main(["train-dle", "--out", str(tuned), "--init-from", str(weights), "--steps", "1",
               "--batch-size", "2", "--frames", "4", "--val-size", "2", "--device", "cpu", "--seed", "1"])
    assert rc == 0
    # --freeze-encoder keeps the parent's encoder; the predictor still moves
    frozen = tmp_path / "frozen.pt"
    rc = main(["train-dle", "--out", str(frozen), "--init-from", str(weights), "--steps", "2",
               "--batch-size", "2", "--frames", "4", "--val-size", "2", "--device", "cpu", "--seed", "1",
               "--freeze-encoder", "--warmup-steps", "0", "--lr", "0.01"])
    assert rc == 0
    from bbbcore.diffusion import load_dle
    parent, child = load_dle(weights), load_dle(frozen)
    for (name, a), b in zip(parent.encoder.state_dict().items(), child.encoder.state_dict().values()):
        assert torch.equal(a, b), name
    assert not all(torch.equal(a, b) for a, b in zip(parent.state_dict().values(), child.state_dict().values()))
    assert json.loads(frozen.with_suffix(".json").read_text())["metadata"]["freeze_encoder"] is True
    tuned_record = json.loads(tuned.with_suffix(".json").read_text())
    assert tuned_record["config"] == json.loads(weights.with_suffix(".json").read_text())["config"]
    meta = tuned_record["metadata"]
    assert meta["init_from"]["source"] == str(weights) and meta["init_from"]["metadata"]["steps"] == 2
    assert meta["pretrain_steps"] == 0 and meta["preset"] == "small"

    from bbbcore.twophoton import ScanConfig, simulate_movies
    scan = ScanConfig(frames=6, rows=30, cols=30)
    movies, _ = simulate_movies(1, 0.5, scan=scan, seed=2)
    movie = tmp_path / "movie.npy"
    np.save(movie, movies[0].numpy())
    out_json, out_png = tmp_path / "d.json", tmp_path / "map.png"
    # a 30×30 acquisition has longer lines and frames than the 20×20 training scan: warned
    with pytest.warns(UserWarning, match="line_period_s"):
        rc = main(["estimate-diffusion", str(movie), "--model", str(weights), "--pixel-size-um",
                   "0.2", "--dwell-us", "8", "--line-retrace-ms", "1.348", "--frame-retrace-ms",
                   "33", "--stride", "10", "--json", str(out_json), "--map", str(out_png)])
    assert rc == 0
    assert "D = " in capsys.readouterr().out
    res = json.loads(out_json.read_text())
    assert np.isfinite(res["d_um2_s"]) and res["sigma_um2_s"] > 0 and res["n_crops"] == 4
    assert out_png.read_bytes()[:4] == b"\x89PNG"


def test_estimate_diffusion_bad_movie(tmp_path, capsys):
    movie = tmp_path / "flat.npy"
    np.save(movie, np.zeros((4, 8)))
    rc = main(["estimate-diffusion", str(movie), "--pixel-size-um", "0.2", "--dwell-us", "8",
               "--line-retrace-ms", "1.348"])
    assert rc == 2
    assert "movie must be (T, Y, X)" in capsys.readouterr().err


def test_eval_diffusion_writes_table_and_plot(tmp_path, capsys):
    """eval-diffusion end to end on a tiny set (mean guess and an untrained small DLE)."""
    import torch

    from bbbcore.diffusion import DLE, DLEConfig, save_dle

    weights = tmp_path / "untrained.pt"
    torch.manual_seed(0)
    save_dle(weights, DLE(DLEConfig.small()), DLEConfig.small(), {"task": "low"})
    out = tmp_path / "results"
    out.mkdir()
    rc = main(["eval-diffusion", "--out", str(out), "--movies", "4", "--frames", "8",
               "--methods", "mean,dle", "--model", str(weights), "--seed", "11"])
    assert rc == 0, capsys.readouterr().err
    written = sorted(p.suffix for p in out.iterdir())
    assert written == [".json", ".png"]
    result = json.loads(next(out.glob("*.json")).read_text())
    assert "0.375" in capsys.readouterr().out        # the paper's mean-guess L1 printed beside ours
    assert result["n_movies"] == 4 and len(result["d_true"]) == 4
    assert set(result["methods"]) == {"mean", "dle"}
