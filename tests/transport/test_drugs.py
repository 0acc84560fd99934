"""The drug library (bbbcore.transport.drugs): names, lookup and aliases, the packaged data's
provenance (a tagged source for every number), user files and their errors, Stokes–Einstein, and
the linear Kp,uu of the library against the literature values."""
from __future__ import annotations

import math
import re
import shutil
from importlib import resources

import pytest

from bbbcore import transport as T
from bbbcore.transport import drugs

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

EIGHT = {"L-DOPA", "dopamine", "fentanyl", "morphine", "oxycodone", "caffeine", "diazepam", "loperamide"}
NUMERIC = ["mw_g_mol", "logp", "fu_plasma", "fu_brain", "permeability_m_s", "diffusivity_m2_s", "tortuosity",
           "influx_vmax_mol_m2_s", "influx_km_mol_m3", "competitor_mol_m3", "competitor_ki_mol_m3",
           "efflux_vmax_mol_m2_s", "efflux_km_mol_m3", "kp_uu_reference", "brain_clearance_per_s"]
TAGS = ("VERIFIED", "NOT VERIFIED", "DERIVED", "ESTIMATE", "ASSUMPTION")
S_M2_PER_G = 0.015          # brain capillary surface 150 cm²/g
UL_MIN_G = 1e-9 / 60 / S_M2_PER_G   # 1 µL/min/g as a permeability [m/s]


def _packaged_raw() -> dict:
    text = resources.files("bbbcore.transport").joinpath("data/drugs.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def _entry(**over) -> str:
    """A valid user drug table [x] with its sources, fields overridable (None drops one)."""
    fields = dict(mw_g_mol="300.0", logp="1.5", fu_plasma="0.4", fu_brain="0.2", permeability_m_s="2e-6")
    fields.update(over)
    body = "".join(f"{k} = {v}\n" for k, v in fields.items() if v is not None)
    src = "".join(f'{k} = "test value"\n' for k, v in fields.items()
                  if v is not None and not k.startswith(("kp_uu_species", "kp_uu_derived", "aliases", "notes")))
    return f"[x]\n{body}[x.sources]\n{src}"


def _write(tmp_path, text, name="user.toml"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


# --- names, lookup ---------------------------------------------------------------------------------
def test_names_holds_the_eight_drugs_sorted():
    n = drugs.names()
    assert EIGHT <= set(n)
    assert n == sorted(n, key=str.lower)
    assert all(isinstance(drugs.get(x), T.Drug) and drugs.get(x).name == x for x in n)


def test_get_is_case_insensitive_and_knows_aliases():
    ldopa = drugs.get("L-DOPA")
    for alias in ("levodopa", "LEVODOPA", "l-dopa", "L_DOPA", "l dopa", " ldopa "):
        assert drugs.get(alias) is ldopa
    assert drugs.get("MorPhine").name == "morphine"
    assert drugs.get("Valium").name == "diazepam"
    assert drugs.get("imodium").name == "loperamide"


def test_unknown_drug_lists_the_names_and_the_value():
    with pytest.raises(ValueError, match=r"drugs\.get: name must be one of \[") as e:
        drugs.get("aspirin")
    msg = str(e.value)
    assert "'aspirin'" in msg
    assert all(n in msg for n in EIGHT)
    assert "levodopa" in msg            # the aliases are listed too
    with pytest.raises(ValueError, match=r"drugs\.get: name must be a drug name"):
        drugs.get(3)
    with pytest.raises(ValueError, match=r"drugs\.get: library must be None, a path"):
        drugs.get("caffeine", library=42)


# --- provenance of the packaged data -----------------------------------------------------------------
def test_every_number_of_the_library_has_a_tagged_source():
    raw = _packaged_raw()
    assert EIGHT <= set(raw)
    for name, entry in raw.items():
        src = entry["sources"]
        for k, v in entry.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                assert k in NUMERIC, (name, k)
                assert k in src, f"[{name}] {k} has no source"
        for k, s in src.items():
            assert k in entry, f"[{name}.sources] {k} names no field"
            assert s.strip().startswith(TAGS), f"[{name}.sources] {k} is not tagged {TAGS}: {s[:40]!r}"
            if s.startswith("VERIFIED"):
                assert "http" in s, f"[{name}.sources] {k}: a VERIFIED value must give its URL"
        d = drugs.get(name)
        numbers = {"mw_g_mol": d.mw_g_mol, "logp": d.logp, "fu_plasma": d.fu_plasma, "fu_brain": d.fu_brain,
                   "diffusivity_m2_s": d.diffusivity_m2_s, "permeability_m_s": d.bbb.permeability_m_s}
        for k in numbers:
            assert d.sources.get(k, "").strip(), f"{name}: Drug.sources lacks {k}"
        if d.kp_uu_reference is not None:
            assert d.sources["kp_uu_reference"] and d.kp_uu_species


def test_library_drugs_are_complete_model_drugs():
    for name in drugs.names():
        d = drugs.get(name)
        assert d.mw_g_mol > 0 and math.isfinite(d.logp)
        assert 0 < d.fu_plasma <= 1 and 0 < d.fu_brain <= 1
        assert isinstance(d.bbb, T.Membrane)
        assert 5e-10 < d.diffusivity_m2_s < 1e-9
        assert drugs.clearance_per_s(name) == 0.0      # no library drug has a brain clearance yet


# --- user files ----------------------------------------------------------------------------------------
def test_load_user_file_round_trips(tmp_path):
    text = _entry(aliases='["my drug"]', diffusivity_m2_s="6e-10", influx_vmax_mol_m2_s="1e-8",
                  influx_km_mol_m3="0.2", competitor_mol_m3="0.4", competitor_ki_mol_m3="0.1",
                  efflux_vmax_mol_m2_s="4e-9", efflux_km_mol_m3="0.5", kp_uu_reference="0.9",
                  kp_uu_species='"rat"', brain_clearance_per_s="1e-4", tortuosity="1.7", notes='"hello"')
    text += '\n[Other]\nmw_g_mol = 150\nlogp = -1\nfu_plasma = 1\nfu_brain = 1\npermeability_m_s = 0\n' \
            '[Other.sources]\nmw_g_mol = "a"\nlogp = "b"\nfu_plasma = "c"\nfu_brain = "d"\npermeability_m_s = "e"\n'
    p = _write(tmp_path, text)
    lib = drugs.load(p)
    assert set(lib) == {"x", "Other"}
    x = lib["x"]
    assert (x.mw_g_mol, x.logp, x.fu_plasma, x.fu_brain, x.diffusivity_m2_s, x.tortuosity) == (300.0, 1.5, 0.4, 0.2, 6e-10, 1.7)
    m = x.bbb
    assert (m.permeability_m_s, m.influx_vmax_mol_m2_s, m.influx_km_mol_m3, m.competitor_mol_m3,
            m.competitor_ki_mol_m3, m.efflux_vmax_mol_m2_s, m.efflux_km_mol_m3) == (2e-6, 1e-8, 0.2, 0.4, 0.1, 4e-9, 0.5)
    assert m.influx_km_apparent_mol_m3 == pytest.approx(0.2 * (1 + 0.4 / 0.1))
    assert (x.kp_uu_reference, x.kp_uu_species) == (0.9, "rat")
    assert x.notes.startswith("hello") and x.sources["mw_g_mol"] == "test value"
    # computed diffusivity, with its derivation as the source
    o = lib["Other"]
    assert o.diffusivity_m2_s == pytest.approx(drugs.stokes_einstein_diffusivity_m2_s(150.0))
    assert "Stokes" in o.sources["diffusivity_m2_s"]
    # library = path or dict; names, aliases, clearance, table
    assert drugs.get("MY-DRUG", library=p) == x and drugs.get("other", library=lib) is o
    assert drugs.names(p) == ["Other", "x"]
    assert drugs.clearance_per_s("x", library=p) == 1e-4 and drugs.clearance_per_s(o) == 0.0
    assert drugs.clearance_m_s(x) == pytest.approx(1e-4 * 0.2 / (1.5e4 * 0.2))
    rows = {r["name"]: r for r in drugs.table(library=lib)}
    cl = 1e-4 * 0.2 / (1.5e4 * 0.2)
    expect = (2e-6 + 1e-8 / 1.0) / (2e-6 + 4e-9 / 0.5 + cl)
    assert rows["x"]["kp_uu_predicted"] == pytest.approx(expect)
    assert math.isnan(rows["Other"]["kp_uu_predicted"])      # P = 0, no efflux, no clearance


def test_the_packaged_file_round_trips_through_load(tmp_path):
    with resources.as_file(resources.files("bbbcore.transport").joinpath("data/drugs.toml")) as src:
        p = shutil.copy(src, tmp_path / "copy.toml")
    lib = drugs.load(p)
    assert set(lib) == set(drugs.names())
    for name, d in lib.items():
        assert d == drugs.get(name)


@pytest.mark.parametrize("over, pattern", [
    (dict(fu_brain=None), r"\[x\]\.fu_brain must be given \(required field"),
    (dict(permeability_m_s="-1e-6"), r"\[x\]\.permeability_m_s must be a finite number >= 0 m/s, got -1e-06"),
    (dict(fu_plasma="0"), r"\[x\]\.fu_plasma must be a number in \(0, 1\], got 0"),
    (dict(fu_brain="1.5"), r"\[x\]\.fu_brain must be a number in \(0, 1\], got 1\.5"),
    (dict(mw_g_mol="true"), r"\[x\]\.mw_g_mol must be a finite number > 0 g/mol, got True"),
    (dict(mw_g_mol="nan"), r"\[x\]\.mw_g_mol must be a finite number > 0 g/mol, got nan"),
    (dict(permeabilty_m_s="1e-6"), r"\[x\] field name must be one of .*did you mean 'permeability_m_s'.*got 'permeabilty_m_s'"),
    (dict(kp_uu_reference="0.5"), r"\[x\]\.kp_uu_species must be given with kp_uu_reference"),
    (dict(efflux_vmax_mol_m2_s="1e-8"), r"\[x\]\.efflux_km_mol_m3 must be given when efflux_vmax_mol_m2_s > 0"),
    (dict(influx_vmax_mol_m2_s="1e-8", influx_km_mol_m3="0.1", competitor_mol_m3="0.5"),
     r"\[x\]\.competitor_ki_mol_m3 must be given when competitor_mol_m3 > 0"),
    (dict(kp_uu_derived='"yes"'), r"\[x\]\.kp_uu_derived must be true or false, got 'yes'"),
    (dict(aliases='"levodopa"'), r"\[x\]\.aliases must be a list of non-empty strings"),
])
def test_bad_user_files_name_file_drug_field_and_value(tmp_path, over, pattern):
    p = _write(tmp_path, _entry(**over))
    with pytest.raises(ValueError, match=r"drugs\.load: ") as e:
        drugs.load(p)
    assert re.search(pattern, str(e.value)), str(e.value)
    assert str(p) in str(e.value)


def test_bad_user_files_sources_syntax_and_missing_file(tmp_path):
    p = _write(tmp_path, _entry().replace('logp = "test value"\n', ""))
    with pytest.raises(ValueError, match=r"\[x\]\.sources\.logp must be a citation or derivation for logp = 1\.5, got nothing"):
        drugs.load(p)
    p = _write(tmp_path, _entry() + 'permeability = "typo"\n')
    with pytest.raises(ValueError, match=r"\[x\]\.sources field name must be one of the numeric fields .*got 'permeability'"):
        drugs.load(p)
    p = _write(tmp_path, _entry().replace("[x.sources]\n", "").split('mw_g_mol = "test value"')[0])
    with pytest.raises(ValueError, match=r"\[x\]\.sources must be a table giving the source of every number"):
        drugs.load(p)
    p = _write(tmp_path, "[x]\nmw_g_mol = = 3\n")
    with pytest.raises(ValueError, match=r"drugs\.load: .*user\.toml must be valid TOML, got a parse error"):
        drugs.load(p)
    p = _write(tmp_path, _entry(aliases='["caffeine"]') + "\n" + _entry().replace("[x", "[caffeine"))
    with pytest.raises(ValueError, match=r"name or alias 'caffeine' must be unique"):
        drugs.load(p)
    missing = tmp_path / "nope.toml"
    with pytest.raises(ValueError, match=r"drugs\.load: path must be an existing TOML file, got '.*nope\.toml'"):
        drugs.load(missing)
    with pytest.raises(ValueError, match=r"drugs\.get: path must be an existing TOML file"):
        drugs.get("x", library=str(missing))


# --- Stokes–Einstein ---------------------------------------------------------------------------------------
def test_stokes_einstein_against_a_hand_computation():
    kB, NA, T37, eta = 1.380649e-23, 6.02214076e23, 310.15, 0.6925e-3
    M = 0.19419                                     # caffeine, kg/mol
    r = (3 * M * 0.73e-3 / (4 * math.pi * NA)) ** (1 / 3)
    assert r == pytest.approx(0.066e-9 * 194.19 ** (1 / 3), rel=0.01)   # Erickson's R_min = 0.066 M^(1/3) nm
    assert drugs.stokes_einstein_diffusivity_m2_s(194.19) == pytest.approx(kB * T37 / (6 * math.pi * eta * r), rel=1e-12)
    # D ∝ T/η and ∝ M^(-1/3)
    d37 = drugs.stokes_einstein_diffusivity_m2_s(300.0)
    assert drugs.stokes_einstein_diffusivity_m2_s(300.0, 298.15, 0.8949e-3) == pytest.approx(
        d37 * (298.15 / 310.15) * (0.6925e-3 / 0.8949e-3))
    assert drugs.stokes_einstein_diffusivity_m2_s(8 * 300.0) == pytest.approx(d37 / 2)


def test_stokes_einstein_order_of_magnitude_and_errors():
    for mw in (150.0, 200.0, 300.0, 400.0, 500.0):
        assert 5e-10 < drugs.stokes_einstein_diffusivity_m2_s(mw) < 1e-9
    with pytest.raises(ValueError, match=r"stokes_einstein_diffusivity_m2_s: mw_g_mol must be a finite number > 0 g/mol, got -5"):
        drugs.stokes_einstein_diffusivity_m2_s(-5)
    with pytest.raises(ValueError, match=r"temperature_k must be a finite number > 0 K"):
        drugs.stokes_einstein_diffusivity_m2_s(200.0, temperature_k=0.0)


# --- the library's Kp,uu ---------------------------------------------------------------------------------------
def _kp(name):
    return drugs.get(name).bbb.kp_uu_linear(drugs.clearance_m_s(name))


def test_predicted_kp_uu_is_ordered_as_the_literature():
    assert _kp("loperamide") < 0.2                    # strong P-gp efflux (mdr1a knock-out ratio 7)
    assert _kp("morphine") < 1.0                       # net efflux (rat Kp,uu 0.56)
    assert _kp("oxycodone") > 2.0                      # active influx (rat Kp,uu 3.0)
    assert _kp("loperamide") < _kp("morphine") < _kp("caffeine") < _kp("oxycodone")
    assert _kp("caffeine") == pytest.approx(1.0) and _kp("diazepam") == pytest.approx(1.0)
    # L-DOPA: LAT1 with LNAA competition, not fitted to the reference: within a factor 1.5 of CSF:plasma 0.17
    ldopa = drugs.get("L-DOPA")
    assert not drugs.kp_uu_derived(ldopa)
    assert ldopa.kp_uu_reference / 1.5 < _kp("L-DOPA") < ldopa.kp_uu_reference * 1.5
    # dopamine is essentially impermeant: P tiny, no carrier, hours-long exchange against seconds-minutes
    dop = drugs.get("dopamine").bbb
    assert dop.permeability_m_s < 1e-8 and dop.influx_vmax_mol_m2_s == 0 and dop.efflux_vmax_mol_m2_s == 0
    tau = lambda n: 0.2 / (1.5e4 * (drugs.get(n).bbb.permeability_m_s + drugs.get(n).bbb.efflux_permeability_m_s))
    assert tau("dopamine") > 3600 * 6 > 600 > tau("caffeine")
    assert drugs.get("dopamine").bbb.permeability_m_s < drugs.get("caffeine").bbb.permeability_m_s / 100


def test_kp_uu_derived_drugs_reproduce_their_reference():
    derived = [n for n in drugs.names() if drugs.kp_uu_derived(n)]
    assert {"oxycodone", "morphine", "loperamide"} <= set(derived)
    for n in derived:
        ref = drugs.get(n).kp_uu_reference
        assert _kp(n) == pytest.approx(ref, rel=0.10), n


def test_derivations_reproduce_their_sourced_numbers():
    # oxycodone: CL_in = 1910 µL/min/g over S = 150 cm²/g, Kp,uu 3.0 (Boström 2006)
    ox = drugs.get("oxycodone").bbb
    assert ox.permeability_m_s + ox.influx_permeability_m_s == pytest.approx(1910 * UL_MIN_G, rel=1e-3)
    # L-DOPA: Km_app = Km (1 + LNAA/Ki); efflux Km with brain ECF LNAA at 10 % of plasma
    ld = drugs.get("L-DOPA").bbb
    assert ld.influx_km_apparent_mol_m3 == pytest.approx(0.5 * (1 + 0.43 / 0.05))
    assert ld.efflux_km_mol_m3 == pytest.approx(0.5 * (1 + 0.043 / 0.05), rel=1e-3)
    assert ld.influx_vmax_mol_m2_s == pytest.approx(35e-9 / 60 / S_M2_PER_G, rel=1e-3)
    # loperamide: P_eff = 6 P from the 7-fold knock-out brain:plasma ratio
    lo = drugs.get("loperamide").bbb
    assert lo.efflux_permeability_m_s == pytest.approx(6 * lo.permeability_m_s)
    # morphine: P + P_eff from the ECF rate constants (0.0014 + 0.0195)/min with α = 0.2, S_v = 1.5e4 /m
    mo = drugs.get("morphine").bbb
    assert mo.permeability_m_s + mo.efflux_permeability_m_s == pytest.approx(0.0209 / 60 * 0.2 / 1.5e4, rel=1e-3)


def test_table_has_one_row_per_drug():
    rows = drugs.table()
    assert [r["name"] for r in rows] == drugs.names()
    keys = {"name", "mw_g_mol", "logp", "fu_plasma", "fu_brain", "diffusivity_m2_s", "permeability_m_s",
            "influx_permeability_m_s", "efflux_permeability_m_s", "clearance_m_s", "kp_uu_predicted",
            "kp_uu_reference", "kp_uu_species", "kp_uu_derived"}
    for r in rows:
        assert set(r) == keys
        d = drugs.get(r["name"])
        assert r["kp_uu_predicted"] == pytest.approx(d.bbb.kp_uu_linear(r["clearance_m_s"]))
        assert (r["kp_uu_reference"], r["kp_uu_species"]) == (d.kp_uu_reference, d.kp_uu_species)
    with pytest.raises(ValueError, match=r"drugs\.clearance_m_s: brain_accessible_fraction must be in \(0, 1\]"):
        drugs.table(brain_accessible_fraction=0.0)


def test_a_library_drug_runs_in_the_simulation_at_its_linear_kp_uu():
    """Loperamide (P + P-gp efflux) in a well-mixed brain slab at a plasma level far below the
    efflux Km reaches the closed-form linear Kp,uu."""
    d = drugs.get("loperamide")
    geom = T.slab_geometry([("blood", 1.0), ("brain", 10.0)], voxel_size_um=1.0, cross_section=(1, 1))
    sim = T.Simulation(geom, d, {("blood", "brain"): d.bbb}, plasma=T.Plasma.constant(1e-6),
                       stepper="adi", dt_s=1.0)
    res = sim.run(t_end_s=300.0, record_every_s=100.0)
    assert res.kp_uu() == pytest.approx(d.bbb.kp_uu_linear(), rel=0.02)
