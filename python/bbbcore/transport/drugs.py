"""Drug library of the BBB transport model: :class:`~bbbcore.transport.Drug` objects with their BBB
membrane (passive permeability, carrier influx, efflux) and the source of every number.

The packaged library (``bbbcore/transport/data/drugs.toml``) holds L-DOPA, dopamine, fentanyl,
morphine, oxycodone, caffeine, diazepam and loperamide; :func:`load` reads a user file of the same
schema. One TOML table per drug (SI units; 1 µM = 1e-3 mol/m³)::

    [mydrug]
    aliases = ["my-drug"]                # optional, other names for get()
    mw_g_mol = 300.0                     # required
    logp = 1.5                           # required
    fu_plasma = 0.4                      # required, in (0, 1]
    fu_brain = 0.2                       # required, in (0, 1]
    permeability_m_s = 2e-6              # required, passive P ≥ 0
    # optional numbers: diffusivity_m2_s (else Stokes–Einstein from mw_g_mol), tortuosity,
    # influx_vmax_mol_m2_s, influx_km_mol_m3, competitor_mol_m3, competitor_ki_mol_m3,
    # efflux_vmax_mol_m2_s, efflux_km_mol_m3, kp_uu_reference, brain_clearance_per_s
    kp_uu_reference = 0.9
    kp_uu_species = "rat"                # required with kp_uu_reference
    kp_uu_derived = true                 # optional: the carriers were derived from kp_uu_reference
    notes = "..."                        # optional
    [mydrug.sources]                     # a source for EVERY number above
    mw_g_mol = "VERIFIED: ..."

Units of the membrane: P [m/s], Vmax [mol m⁻² s⁻¹] per barrier (capillary) area, Km, Ki and the
competitor [mol/m³]. In the linear regime the carriers are permeabilities (Vmax/Km_app,
Vmax/Km), and the steady-state Kp,uu is (P + P_in)/(P + P_eff + CL/S)
(:meth:`~bbbcore.transport.Membrane.kp_uu_linear`; :func:`table` lists it per drug).

Two library fields have no :class:`~bbbcore.transport.Drug` attribute and are kept as
``key: value`` lines in ``Drug.notes``: ``brain_clearance_per_s`` (first-order clearance of the
brain compartment, as ``Simulation(clearance_per_s={"brain": k})`` applies it; read it back with
:func:`clearance_per_s`) and ``kp_uu_derived`` (:func:`kp_uu_derived`). A drug whose carrier
parameters were derived from its literature Kp,uu reproduces that Kp,uu by construction: its
prediction is a consistency check, not an independent prediction.

Constants (see each one's comment for the source): brain capillary surface 150 cm²/g
(S_v = 1.5e4 m⁻¹ at 1 g/mL), brain ECS fraction α = 0.2, water viscosity at 37 °C 0.6925 mPa·s.

Example:
    >>> from bbbcore.transport import drugs
    >>> drugs.get("Levodopa").name
    'L-DOPA'
    >>> round(drugs.get("oxycodone").bbb.kp_uu_linear(), 2)
    3.0
"""
from __future__ import annotations

import difflib
import math
import os
import re
from functools import lru_cache
from importlib import resources
from numbers import Real
from typing import Mapping, Union

from bbbcore import _checks
from bbbcore.transport.model import Drug, Membrane

try:  # Python ≥ 3.11
    import tomllib as _toml
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    try:
        import tomli as _toml
    except ModuleNotFoundError:
        _toml = None

__all__ = ["names", "get", "load", "table", "clearance_per_s", "clearance_m_s", "kp_uu_derived",
           "stokes_einstein_diffusivity_m2_s", "BOLTZMANN_J_K", "AVOGADRO_PER_MOL",
           "WATER_VISCOSITY_37C_PA_S", "PARTIAL_SPECIFIC_VOLUME_M3_KG", "BRAIN_SURFACE_M2_PER_G",
           "BRAIN_SURFACE_PER_VOLUME_PER_M", "BRAIN_ECS_FRACTION"]

# --- constants -----------------------------------------------------------------------------------
#: Boltzmann constant [J/K], exact in the SI since 2019 (CODATA 2018).
BOLTZMANN_J_K = 1.380649e-23
#: Avogadro constant [1/mol], exact in the SI since 2019 (CODATA 2018).
AVOGADRO_PER_MOL = 6.02214076e23
#: Dynamic viscosity of water at 37 °C [Pa s]: 0.6925 cP (International Critical Tables, as
#: tabulated in e.g. https://issuhub.com/view/index/3879?pageIndex=1357).
WATER_VISCOSITY_37C_PA_S = 6.925e-4
#: Partial specific volume [m³/kg] for the molecular radius: 0.73 cm³/g, the protein value behind
#: R_min = 0.066·M^(1/3) nm (Erickson 2009, Biol Proced Online 11:32, doi:10.1007/s12575-009-9008-x;
#: textbook value, not verified against a retrieved page).
PARTIAL_SPECIFIC_VOLUME_M3_KG = 0.73e-3
#: Brain capillary surface per gram of brain [m²/g]: 150 cm²/g (SCIENCE.md, "Transport across
#: the BBB"; commonly quoted value, not verified against a retrieved page).
BRAIN_SURFACE_M2_PER_G = 0.015
#: Capillary surface per brain volume [1/m] at a brain density of 1 g/mL.
BRAIN_SURFACE_PER_VOLUME_PER_M = 1.5e4
#: Brain extracellular-space volume fraction α (SCIENCE.md; the Simulation default).
BRAIN_ECS_FRACTION = 0.2

_DATA = "data/drugs.toml"


def stokes_einstein_diffusivity_m2_s(mw_g_mol: float, temperature_k: float = 310.15,
                                     viscosity_pa_s: float = WATER_VISCOSITY_37C_PA_S,
                                     partial_specific_volume_m3_kg: float = PARTIAL_SPECIFIC_VOLUME_M3_KG) -> float:
    """Free diffusivity [m²/s] of a molecule of molar mass ``mw_g_mol`` in water by Stokes–Einstein,
    D = k_B·T/(6π·η·r), with the radius of a sphere of the molecule's volume,
    r = (3·M·v̄/(4π·N_A))^(1/3) (M in kg/mol; v̄ = 0.73 cm³/g gives r = 0.066·M^(1/3) nm with M in
    g/mol, Erickson 2009). Defaults: 37 °C and the viscosity of water at 37 °C (0.6925 mPa·s);
    pass the viscosity that belongs to ``temperature_k``. An estimate (a sphere of the dry molecular
    volume, stick boundary); as a check, glucose (MW 180) at 25 °C gives 6.5e-10 m²/s against
    ≈ 6.7e-10 m²/s measured (textbook value, not verified against a retrieved page).

    Example:
        >>> from bbbcore.transport.drugs import stokes_einstein_diffusivity_m2_s
        >>> f"{stokes_einstein_diffusivity_m2_s(194.19):.2e}"
        '8.56e-10'
    """
    fn = "stokes_einstein_diffusivity_m2_s"
    m = _checks.positive(fn, "mw_g_mol", mw_g_mol, "g/mol")
    t = _checks.positive(fn, "temperature_k", temperature_k, "K")
    eta = _checks.positive(fn, "viscosity_pa_s", viscosity_pa_s, "Pa s")
    v = _checks.positive(fn, "partial_specific_volume_m3_kg", partial_specific_volume_m3_kg, "m³/kg")
    r = (3.0 * (m * 1e-3) * v / (4.0 * math.pi * AVOGADRO_PER_MOL)) ** (1.0 / 3.0)
    return BOLTZMANN_J_K * t / (6.0 * math.pi * eta * r)


# --- schema --------------------------------------------------------------------------------------
# numeric field → (check, unit, required)
_NUMERIC = {
    "mw_g_mol": ("positive", "g/mol", True),
    "logp": ("finite", "", True),
    "fu_plasma": ("fraction", "", True),
    "fu_brain": ("fraction", "", True),
    "permeability_m_s": ("non_negative", "m/s", True),
    "diffusivity_m2_s": ("positive", "m²/s", False),
    "tortuosity": ("at_least_one", "", False),
    "influx_vmax_mol_m2_s": ("non_negative", "mol m⁻² s⁻¹", False),
    "influx_km_mol_m3": ("positive", "mol/m³", False),
    "competitor_mol_m3": ("non_negative", "mol/m³", False),
    "competitor_ki_mol_m3": ("positive", "mol/m³", False),
    "efflux_vmax_mol_m2_s": ("non_negative", "mol m⁻² s⁻¹", False),
    "efflux_km_mol_m3": ("positive", "mol/m³", False),
    "kp_uu_reference": ("positive", "", False),
    "brain_clearance_per_s": ("non_negative", "1/s", False),
}
_OTHER = {"aliases", "kp_uu_species", "kp_uu_derived", "notes", "sources"}
_FIELDS = sorted(_NUMERIC) + sorted(_OTHER)
_NOTE_KEYS = ("brain_clearance_per_s", "kp_uu_derived")

PathLike = Union[str, "os.PathLike[str]"]


def _key(name: str) -> str:
    """Lookup key: case-insensitive, ignoring spaces, hyphens and underscores."""
    return re.sub(r"[\s_\-]+", "", str(name).strip().lower())


def _read_toml(fn: str, text: str, where: str) -> dict:
    if _toml is None:  # pragma: no cover - Python 3.10 without tomli
        raise ImportError(f"{fn}: reading {where} needs Python >= 3.11 (tomllib) or the 'tomli' "
                          "package on Python 3.10 (pip install tomli)")
    try:
        return _toml.loads(text)
    except _toml.TOMLDecodeError as e:
        _checks.fail(fn, where, "valid TOML", f"a parse error ({e})")


def _check_number(fn: str, arg: str, value, kind: str, unit: str) -> float:
    u = f" {unit}" if unit else ""
    ok = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
    if kind == "positive":
        ok, want = ok and value > 0, f"a finite number > 0{u}"
    elif kind == "non_negative":
        ok, want = ok and value >= 0, f"a finite number >= 0{u}"
    elif kind == "fraction":
        ok, want = ok and 0 < value <= 1, "a number in (0, 1]"
    elif kind == "at_least_one":
        ok, want = ok and value >= 1, "a finite number >= 1"
    else:
        want = f"a finite number{u}"
    if not ok:
        _checks.fail(fn, arg, want, repr(value))
    return float(value)


def _parse_entry(fn: str, where: str, name: str, raw) -> tuple[Drug, list[str]]:
    """One TOML table → (Drug, aliases); every error names the file/origin, the drug and the field."""
    at = f"{where} [{name}]"
    if not isinstance(raw, dict):
        _checks.fail(fn, at, "a table of drug fields ([name] with mw_g_mol = ..., ...)", type(raw).__name__)
    for k in raw:
        if k not in _NUMERIC and k not in _OTHER:
            close = difflib.get_close_matches(k, _FIELDS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            _checks.fail(fn, f"{at} field name", f"one of {_FIELDS}{hint}", repr(k))
    vals: dict[str, float] = {}
    for k, (kind, unit, required) in _NUMERIC.items():
        if k not in raw:
            if required:
                _checks.fail(fn, f"{at}.{k}", f"given (required field; {unit or 'dimensionless'})", "nothing")
            continue
        vals[k] = _check_number(fn, f"{at}.{k}", raw[k], kind, unit)
    for k in ("kp_uu_species", "notes"):
        if k in raw and not isinstance(raw[k], str):
            _checks.fail(fn, f"{at}.{k}", "a string", repr(raw[k]))
    derived = raw.get("kp_uu_derived", False)
    if not isinstance(derived, bool):
        _checks.fail(fn, f"{at}.kp_uu_derived", "true or false", repr(derived))
    aliases = raw.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) and _key(a) for a in aliases):
        _checks.fail(fn, f"{at}.aliases", "a list of non-empty strings", repr(aliases))
    # dependencies between fields
    if "kp_uu_reference" in vals and not raw.get("kp_uu_species"):
        _checks.fail(fn, f"{at}.kp_uu_species", "given with kp_uu_reference (the species of the measurement)", "nothing")
    if derived and "kp_uu_reference" not in vals:
        _checks.fail(fn, f"{at}.kp_uu_derived", "false unless kp_uu_reference is given", "true")
    for vmax, km in (("influx_vmax_mol_m2_s", "influx_km_mol_m3"), ("efflux_vmax_mol_m2_s", "efflux_km_mol_m3")):
        if vals.get(vmax, 0.0) > 0 and km not in vals:
            _checks.fail(fn, f"{at}.{km}", f"given when {vmax} > 0", "nothing")
    if vals.get("competitor_mol_m3", 0.0) > 0:
        if "competitor_ki_mol_m3" not in vals:
            _checks.fail(fn, f"{at}.competitor_ki_mol_m3", "given when competitor_mol_m3 > 0", "nothing")
        if vals.get("influx_vmax_mol_m2_s", 0.0) <= 0:
            _checks.fail(fn, f"{at}.competitor_mol_m3", "0 unless there is a carrier influx (influx_vmax_mol_m2_s > 0)",
                         repr(vals["competitor_mol_m3"]))
    # sources: a non-empty string for every number, no sources for unknown fields
    src = raw.get("sources")
    if not isinstance(src, dict):
        _checks.fail(fn, f"{at}.sources", "a table giving the source of every number ([name.sources])",
                     "nothing" if src is None else type(src).__name__)
    for k, s in src.items():
        if k not in _NUMERIC:
            close = difflib.get_close_matches(k, list(_NUMERIC), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            _checks.fail(fn, f"{at}.sources field name", f"one of the numeric fields {sorted(_NUMERIC)}{hint}", repr(k))
        if not isinstance(s, str) or not s.strip():
            _checks.fail(fn, f"{at}.sources.{k}", "a non-empty citation or derivation string", repr(s))
    for k in vals:
        if k not in src:
            _checks.fail(fn, f"{at}.sources.{k}", f"a citation or derivation for {k} = {vals[k]!r}", "nothing")
    sources = dict(src)
    if "diffusivity_m2_s" not in vals:
        vals["diffusivity_m2_s"] = stokes_einstein_diffusivity_m2_s(vals["mw_g_mol"])
        sources.setdefault("diffusivity_m2_s", "DERIVED: Stokes–Einstein at 37 °C from mw_g_mol "
                           "(bbbcore.transport.drugs.stokes_einstein_diffusivity_m2_s)")
    mem_args = {k: vals[k] for k in ("efflux_vmax_mol_m2_s", "efflux_km_mol_m3", "influx_vmax_mol_m2_s",
                                      "influx_km_mol_m3", "competitor_mol_m3", "competitor_ki_mol_m3") if k in vals}
    notes = [raw.get("notes", "").strip()] if raw.get("notes", "").strip() else []
    if "brain_clearance_per_s" in vals:
        notes.append(f"brain_clearance_per_s: {vals['brain_clearance_per_s']!r}")
    notes.append(f"kp_uu_derived: {'true' if derived else 'false'}")
    try:
        drug = Drug(name=name, diffusivity_m2_s=vals["diffusivity_m2_s"], fu_plasma=vals["fu_plasma"],
                    fu_brain=vals["fu_brain"], tortuosity=vals.get("tortuosity", 1.6), mw_g_mol=vals["mw_g_mol"],
                    logp=vals["logp"], bbb=Membrane(permeability_m_s=vals["permeability_m_s"], **mem_args),
                    kp_uu_reference=vals.get("kp_uu_reference"), kp_uu_species=raw.get("kp_uu_species"),
                    sources=sources, notes="\n".join(notes))
    except ValueError as e:  # pragma: no cover - the checks above catch what Drug/Membrane reject
        _checks.fail(fn, at, "a valid drug", str(e))
    return drug, list(aliases)


def _parse_library(fn: str, text: str, where: str) -> dict[str, tuple[Drug, list[str]]]:
    data = _read_toml(fn, text, where)
    if not data:
        _checks.fail(fn, where, "at least one [drug] table", "an empty file")
    out: dict[str, tuple[Drug, list[str]]] = {}
    seen: dict[str, str] = {}
    for name, raw in data.items():
        if not _key(name):
            _checks.fail(fn, f"{where} drug name", "a non-empty name", repr(name))
        drug, aliases = _parse_entry(fn, where, name, raw)
        for label in [name] + aliases:
            k = _key(label)
            if k in seen and seen[k] != name:
                _checks.fail(fn, f"{where} [{name}] name or alias {label!r}",
                             "unique (case-, space- and hyphen-insensitive)", f"a clash with [{seen[k]}]")
            seen[k] = name
        out[name] = (drug, aliases)
    return out


def _read_path(fn: str, path: PathLike) -> dict[str, tuple[Drug, list[str]]]:
    try:
        p = os.fspath(path)
    except TypeError:
        _checks.fail(fn, "path", "a str or os.PathLike to a TOML file", type(path).__name__)
    if not os.path.isfile(p):
        _checks.fail(fn, "path", "an existing TOML file", repr(str(p)))
    with open(p, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        _checks.fail(fn, "path", "a UTF-8 TOML file", f"{p!r} ({e})")
    return _parse_library(fn, text, p)


@lru_cache(maxsize=1)
def _packaged() -> dict[str, tuple[Drug, list[str]]]:
    text = resources.files("bbbcore.transport").joinpath(_DATA).read_text(encoding="utf-8")
    return _parse_library("bbbcore.transport.drugs", text, f"bbbcore/transport/{_DATA}")


def _entries(fn: str, library) -> dict[str, tuple[Drug, list[str]]]:
    if library is None:
        return _packaged()
    if isinstance(library, Mapping):
        out = {}
        for k, d in library.items():
            if not isinstance(d, Drug):
                _checks.fail(fn, f"library[{k!r}]", "a bbbcore.transport.Drug", type(d).__name__)
            out[str(k)] = (d, [d.name] if _key(d.name) != _key(k) else [])
        return out
    if isinstance(library, (str, os.PathLike)):
        return _read_path(fn, library)
    _checks.fail(fn, "library", "None, a path to a drug TOML file or a dict name → Drug", type(library).__name__)


# --- public API ----------------------------------------------------------------------------------
def load(path: PathLike) -> dict[str, Drug]:
    """Read a user drug file of the library's schema (see the module docstring) → {name: Drug}.

    Errors (ValueError) name the file, the drug, the field and the bad value: a missing file,
    invalid TOML, a missing required field, an unknown field name (with the closest known name),
    a negative or non-finite number, fu outside (0, 1], a number without a source.

    Example:
        >>> import pathlib, tempfile
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "my.toml"
        >>> _ = p.write_text('[x]\\nmw_g_mol = 300.0\\nlogp = 1.0\\nfu_plasma = 0.5\\nfu_brain = 0.2\\n'
        ...                  'permeability_m_s = 1e-6\\n[x.sources]\\nmw_g_mol = "a"\\nlogp = "b"\\n'
        ...                  'fu_plasma = "c"\\nfu_brain = "d"\\npermeability_m_s = "e"\\n')
        >>> d = load(p)["x"]
        >>> d.bbb.permeability_m_s, round(d.diffusivity_m2_s * 1e10, 2)
        (1e-06, 7.41)
    """
    return {name: drug for name, (drug, _) in _read_path("drugs.load", path).items()}


def names(library=None) -> list[str]:
    """The drug names of the packaged library (or of ``library``: a path or a dict), sorted
    case-insensitively."""
    return sorted(_entries("drugs.names", library), key=str.lower)


def get(name: str, library=None) -> Drug:
    """The drug ``name`` (case-, space- and hyphen-insensitive; aliases such as "levodopa"
    work) from the packaged library, or from ``library`` (a path to a TOML file of the same schema,
    or a dict name → Drug as returned by :func:`load`).

    Example:
        >>> from bbbcore.transport import drugs
        >>> d = drugs.get("MORPHINE")
        >>> d.name, d.fu_plasma, d.kp_uu_reference
        ('morphine', 0.65, 0.56)
    """
    fn = "drugs.get"
    entries = _entries(fn, library)
    if not isinstance(name, str):
        _checks.fail(fn, "name", "a drug name (str)", repr(name))
    k = _key(name)
    for canonical, (drug, aliases) in entries.items():
        if k and k in {_key(canonical)} | {_key(a) for a in aliases}:
            return drug
    valid = sorted(entries, key=str.lower)
    alias_list = sorted({a for _, (_, al) in entries.items() for a in al}, key=str.lower)
    extra = f" (or an alias: {alias_list})" if alias_list else ""
    _checks.fail(fn, "name", f"one of {valid}{extra}", repr(name))


def _resolve(fn: str, drug_or_name, library) -> Drug:
    if isinstance(drug_or_name, Drug):
        return drug_or_name
    return get(drug_or_name, library=library)


def _note(drug: Drug, key: str):
    m = re.search(rf"^{key}: (\S+)$", drug.notes or "", flags=re.M)
    return m.group(1) if m else None


def clearance_per_s(drug, library=None) -> float:
    """First-order brain clearance k [1/s] of a library drug (``brain_clearance_per_s``; 0 when
    the library gives none), for ``Simulation(..., clearance_per_s={"brain": k})``. ``drug``: a
    name or a Drug."""
    v = _note(_resolve("drugs.clearance_per_s", drug, library), "brain_clearance_per_s")
    return float(v) if v is not None else 0.0


def clearance_m_s(drug, brain_accessible_fraction: float = BRAIN_ECS_FRACTION, library=None) -> float:
    """The brain clearance as a permeability per barrier area, CL/S = k·α/(S_v·fu_brain) [m/s]:
    the Simulation's clearance k acts on the (total) ECS concentration of volume fraction α while
    the membrane fluxes act on its unbound part, so at steady state it adds k·α/(S_v·fu_brain) to
    the denominator of Kp,uu (S_v = :data:`BRAIN_SURFACE_PER_VOLUME_PER_M`)."""
    fn = "drugs.clearance_m_s"
    d = _resolve(fn, drug, library)
    a = float(brain_accessible_fraction)
    if not 0.0 < a <= 1.0:
        _checks.fail(fn, "brain_accessible_fraction", "in (0, 1]", brain_accessible_fraction)
    return clearance_per_s(d) * a / (BRAIN_SURFACE_PER_VOLUME_PER_M * d.fu_brain)


def kp_uu_derived(drug, library=None) -> bool:
    """True when the drug's carrier parameters were derived from its literature Kp,uu (so the
    predicted Kp,uu is a consistency check, not an independent prediction)."""
    return _note(_resolve("drugs.kp_uu_derived", drug, library), "kp_uu_derived") == "true"


def table(library=None, brain_accessible_fraction: float = BRAIN_ECS_FRACTION) -> list[dict]:
    """One row per drug (sorted by name): name, mw_g_mol, logp, fu_plasma, fu_brain,
    diffusivity_m2_s, permeability_m_s, influx_permeability_m_s and efflux_permeability_m_s
    (linear regime, competitor included), clearance_m_s (:func:`clearance_m_s`), kp_uu_predicted
    (:meth:`~bbbcore.transport.Membrane.kp_uu_linear` with that clearance), kp_uu_reference,
    kp_uu_species and kp_uu_derived.

    Example:
        >>> from bbbcore.transport import drugs
        >>> rows = {r["name"]: r for r in drugs.table()}
        >>> rows["loperamide"]["kp_uu_predicted"] < 0.2 < 2.0 < rows["oxycodone"]["kp_uu_predicted"]
        True
    """
    rows = []
    entries = _entries("drugs.table", library)
    for name in sorted(entries, key=str.lower):
        d = entries[name][0]
        mem = d.bbb if d.bbb is not None else Membrane(0.0)
        cl = clearance_m_s(d, brain_accessible_fraction)
        try:
            kp = mem.kp_uu_linear(cl)
        except ValueError:
            kp = float("nan")
        rows.append(dict(name=d.name, mw_g_mol=d.mw_g_mol, logp=d.logp, fu_plasma=d.fu_plasma,
                         fu_brain=d.fu_brain, diffusivity_m2_s=d.diffusivity_m2_s,
                         permeability_m_s=mem.permeability_m_s, influx_permeability_m_s=mem.influx_permeability_m_s,
                         efflux_permeability_m_s=mem.efflux_permeability_m_s, clearance_m_s=cl,
                         kp_uu_predicted=kp, kp_uu_reference=d.kp_uu_reference, kp_uu_species=d.kp_uu_species,
                         kp_uu_derived=kp_uu_derived(d)))
    return rows
