"""The ready-made studies and the command line: bbbcore transport / transport-panel."""
import json

import numpy as np
import pytest

from bbbcore import cli
from bbbcore import transport as T
from bbbcore.transport import study

pytest.importorskip("scipy")
FAST = dict(geometry="slab", voxel_size_um=2.0, hours=0.02)


def test_simulate_drug_uses_the_library_membrane_and_reaches_the_linear_kp_uu():
    sim, res = study.simulate_drug("caffeine", **FAST)
    drug = T.drugs.get("caffeine")
    assert sim.mem_list[0][2] == drug.bbb
    assert res.snapshots and res.times_s[-1] == pytest.approx(72.0, rel=1e-6)
    # caffeine is fast (P = 1e-6 m/s across a 40 µm slab): at steady state within the run
    assert res.kp_uu() == pytest.approx(drug.bbb.kp_uu_linear(), rel=0.02)


def test_write_run_files_and_no_silent_overwrite(tmp_path):
    sim, res = study.simulate_drug("loperamide", **FAST)
    s = study.write_run(sim, res, tmp_path)
    for k in ("csv", "json", "timecourse", "slice", "mip"):
        assert (tmp_path / s["files"][k].split("/")[-1]).stat().st_size > 0
    summary = json.loads((tmp_path / "loperamide.json").read_text())
    assert summary["kp_uu_reference"] == pytest.approx(T.drugs.get("loperamide").kp_uu_reference)
    assert summary["sources"] and 0 < summary["kp_uu_linear_steady_state"] < 0.3
    data = np.genfromtxt(tmp_path / "loperamide.csv", delimiter=",", names=True)
    assert data["brain_unbound_mol_m3"][-1] > 0
    before = (tmp_path / "loperamide.csv").read_bytes()
    with pytest.raises(FileExistsError, match="overwrite"):
        study.write_run(sim, res, tmp_path)
    assert (tmp_path / "loperamide.csv").read_bytes() == before


def test_panel_table_and_pair_figure(tmp_path):
    rows = study.panel(["L-DOPA", "dopamine"], out_dir=tmp_path, **FAST)
    assert [r["drug"] for r in rows] == ["L-DOPA", "dopamine"]
    md = (tmp_path / "panel.md").read_text()
    assert "L-DOPA" in md and "dopamine" in md and "literature" in md
    assert (tmp_path / "ldopa_vs_dopamine.png").stat().st_size > 0
    assert (tmp_path / "panel_timecourses.png").stat().st_size > 0
    ldopa = rows[0]
    assert ldopa["influx_permeability_m_s"] > 10 * ldopa["permeability_m_s"]       # the LAT1 carrier
    assert rows[1]["equilibration_time_s"] > 3600                                   # dopamine: hours


def test_cli_transport_and_errors(tmp_path, capsys):
    out = tmp_path / "res"
    assert cli.main(["transport", "--drug", "Oxycodone", "--geometry", "slab", "--voxel-size-um", "2",
                     "--hours", "0.02", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "oxycodone: Kp,uu" in text and "literature 3" in text
    assert (out / "oxycodone_mip.png").exists()
    assert json.loads((out / "oxycodone.json").read_text())["dtype"] == "float32"
    # --dtype float64 runs the fields in double and says so in the summary
    out64 = tmp_path / "res64"
    assert cli.main(["transport", "--drug", "oxycodone", "--geometry", "slab", "--voxel-size-um", "2",
                     "--hours", "0.02", "--dtype", "float64", "--out", str(out64)]) == 0
    assert json.loads((out64 / "oxycodone.json").read_text())["dtype"] == "float64"
    capsys.readouterr()
    # unknown drug: a clear error naming the valid ones, exit code 2
    assert cli.main(["transport", "--drug", "aspirin", "--hours", "0.01", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "aspirin" in err and "morphine" in err
    # existing outputs are not replaced without --overwrite
    assert cli.main(["transport", "--drug", "oxycodone", "--geometry", "slab", "--voxel-size-um", "2",
                     "--hours", "0.02", "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_study_bad_input():
    with pytest.raises(ValueError, match="kind"):
        study.make_geometry("torus")
    with pytest.raises(ValueError, match="hours"):
        study.simulate_drug("caffeine", hours=0.0)
    with pytest.raises(ValueError, match="drug.bbb"):
        study.simulate_drug(T.Drug("x", 5e-10), **FAST)
