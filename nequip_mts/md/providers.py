"""Force providers for multiple-time-step MD: one ASE calculator exposing fast and slow forces.

The integrators in :mod:`nequip_mts.md` need the fast and the slow force separately. They get
them from :class:`MTSCalculator`, attached as ``atoms.calc``. To the rest of ASE (loggers,
trajectories, optimisers) it looks like an ordinary calculator whose energy and forces are the
sums ``E_fast + E_slow`` and ``F_fast + F_slow``.

Nothing here imports nequip at module level: the nequip loaders are imported only by the
classmethods that need them, so the integrators run on any ASE calculator.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from nequip_mts.errors import InputError, reading_model
from nequip_mts.manifest import (
    FAST,
    FAST_KEY,
    FILENAME,
    FULL,
    FULL_MINUS_FAST,
    SLOW,
    SLOW_KEY,
    SPLITS,
    SUM_KEY,
    read_manifest,
    split_of,
)
from nequip_mts.md.settings import DEFAULT_NEIGHBOR_SKIN


class MTSCalculator(Calculator):
    """Fast and slow forces for MTS molecular dynamics, from two ASE calculators.

    Either ``slow`` or ``full`` is given. With ``full``, the slow part is the
    difference ``full - fast`` (as i-PI's MTS weights do), which makes MTS work
    with any existing model plus a cheap fast one.

    Use the classmethods rather than the constructor:
    :meth:`from_calculators`, :meth:`from_full_and_fast`, :meth:`from_deployed`,
    :meth:`from_checkpoint`.

    Parameters
    ----------
    fast : ase.calculators.calculator.Calculator
        Calculator of the fast (cheap, short-ranged) part.
    slow : ase.calculators.calculator.Calculator, optional
        Calculator of the slow part.
    full : ase.calculators.calculator.Calculator, optional
        Calculator of the whole potential; the slow part is ``full - fast``.
    type_names : list of str, optional
        Model type names, when known; used for error messages.
    species : iterable of str, optional
        Chemical symbols the models can evaluate. ``None`` accepts any.
    """

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, fast, slow=None, *, full=None, type_names=None, species=None, **kwargs):
        if (slow is None) == (full is None):
            raise ValueError("give exactly one of `slow` and `full`")
        for role, calc in (("fast", fast), ("slow", slow), ("full", full)):
            if calc is not None or role == "fast":
                _check_calculator(role, calc)
        super().__init__(**kwargs)
        self.fast_calc = fast
        self.slow_calc = slow
        self.full_calc = full
        self.type_names = None if type_names is None else list(type_names)
        self.species = None if species is None else frozenset(species)
        self._checked_numbers = None
        self._cache = {}

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_calculators(cls, fast, slow, **kwargs):
        """Provider (c): any two ASE calculators, ``E = E_fast + E_slow``.

        If both calculators are NequIP calculators, their type names must agree.
        """
        type_names = _common_type_names(fast, slow)
        return cls(fast, slow, type_names=type_names, species=_common_species(fast, slow), **kwargs)

    @classmethod
    def from_full_and_fast(cls, full, fast, **kwargs):
        """Provider (d): a full calculator and a fast one; ``slow = full - fast``.

        Each outer step then costs one evaluation of ``full``; the fast part at the
        same positions is already known from the last inner step.
        """
        type_names = _common_type_names(fast, full)
        return cls(fast, full=full, type_names=type_names, species=_common_species(fast, full), **kwargs)

    @classmethod
    def from_deployed(cls, path, device="cpu", chemical_species_to_atom_type_map=True):
        """Provider (a): the compiled models of a deploy directory.

        A co-trained deploy (``nequip-mts deploy``) gives the fast and slow parts; a
        distilled one (``nequip-mts distill``, manifest ``split: full-fast``) gives the
        fast part and the full model, with ``slow = full - fast``
        (:meth:`from_full_and_fast`).

        Parameters
        ----------
        path : str or Path
            The deploy directory, or its manifest ``mts_deploy.json``.
        device : str
            Torch device the models run on.
        chemical_species_to_atom_type_map : dict or True
            Passed to nequip; ``True`` means the type names are chemical symbols.
        """
        if str(path).endswith((".ckpt", ".nequip.zip")):
            raise InputError(
                f"{path} is a checkpoint or package, not a deploy directory: use "
                "MTSCalculator.from_checkpoint, or deploy it first with `nequip-mts deploy`"
            )
        manifest = read_manifest(path, target="ase")
        split = split_of(manifest)
        calcs = {}
        stress = bool(manifest.get("stress", True))
        for part in SPLITS[split]:
            if manifest[part].get("calculator"):
                from nequip_mts.calculators import reference_calculator

                calcs[part] = reference_calculator(manifest[part]["calculator"], manifest[part].get("kwargs"))
                continue
            calcs[part] = compiled_model_calculator(
                Path(manifest[part]["path"]), device, chemical_species_to_atom_type_map, stress=stress
            )
            names = _nequip_type_names(calcs[part])
            if names is not None and names != manifest["type_names"]:
                raise ValueError(
                    f"the {part} model in {manifest['root']} has type names {names}, but its "
                    f"{FILENAME} says {manifest['type_names']}; redeploy the models together"
                )
        if split == FULL_MINUS_FAST:
            calc = cls.from_full_and_fast(calcs[FULL], calcs[FAST])
        else:
            calc = cls.from_calculators(calcs[FAST], calcs[SLOW])
        if calc.type_names is None:
            calc.type_names = list(manifest["type_names"])
        if calc.species is None and chemical_species_to_atom_type_map is True:
            calc.species = frozenset(manifest["type_names"])
        return calc

    @classmethod
    def from_checkpoint(
        cls, path, device="cpu", chemical_species_to_atom_type_map=True, *, compiled=False, cache_dir=None
    ):
        """Provider (b): a trained checkpoint or ``.nequip.zip`` package.

        The file holds the ``ModuleDict`` written by training; its fast and slow
        entries (:data:`nequip_mts.manifest.MODEL_KEYS`) become the two calculators, each
        with the cutoff in its own metadata.

        By default the models are evaluated eagerly. ``compiled=True`` deploys them
        first (energies and forces, no stress) through the model cache
        (:mod:`nequip_mts.deploy.cache`, in ``cache_dir`` if given): the first call for a
        file compiles it (about a minute per part), later ones reuse it, and the
        compiled models are about twice as fast on CPU
        (``benchmarks/results/compiled_vs_eager.md``).
        """
        if compiled:
            from nequip_mts.deploy.cache import deployed

            if not Path(path).is_file():
                raise FileNotFoundError(f"no model file at {path}")
            directory = deployed(path, (FAST, SLOW), device=device, cache_dir=cache_dir)
            return cls.from_deployed(directory, device, chemical_species_to_atom_type_map)
        fast, slow = (
            saved_model_calculator(path, key, device, chemical_species_to_atom_type_map)
            for key in (FAST_KEY, SLOW_KEY)
        )
        return cls.from_calculators(fast, slow)

    # ------------------------------------------------------------------ evaluation
    def check_species(self, atoms):
        """Raise ``ValueError`` if ``atoms`` holds a species the models do not know."""
        if self.species is None:
            return
        numbers = atoms.numbers
        if self._checked_numbers is not None and np.array_equal(numbers, self._checked_numbers):
            return
        unknown = sorted(set(atoms.get_chemical_symbols()) - self.species)
        if unknown:
            raise ValueError(
                f"the structure contains {unknown}, which the models do not know; "
                f"model type names: {self.type_names or sorted(self.species)}"
            )
        self._checked_numbers = numbers.copy()

    def _evaluate(self, part, atoms):
        """Energy and forces of ``part`` ('fast', 'slow' or 'full'), at most once per state.

        ASE's own state check costs about as much as a small analytic potential;
        inner steps ask for the same forces more than once, so keep a cheap copy.
        """
        self.check_species(atoms)
        cached = self._cache.get(part)
        if cached is not None and _same_state(cached[0], atoms):
            return cached[1], cached[2]
        calc = {"fast": self.fast_calc, "slow": self.slow_calc, "full": self.full_calc}[part]
        forces = np.asarray(calc.get_forces(atoms), dtype=float)
        # energies come with forces from any ML calculator; avoid a second state check
        energy = calc.results.get("energy") if hasattr(calc, "results") else None
        if energy is None:
            energy = calc.get_potential_energy(atoms)
        self._cache[part] = (_snapshot(atoms), float(energy), forces)
        return float(energy), forces

    def get_fast_forces(self, atoms):
        """Raw (unconstrained) forces of the fast part, in eV/A."""
        return self._evaluate("fast", atoms)[1].copy()

    def get_slow_forces(self, atoms):
        """Raw (unconstrained) forces of the slow part, in eV/A."""
        if self.slow_calc is not None:
            return self._evaluate("slow", atoms)[1].copy()
        return self._evaluate("full", atoms)[1] - self._evaluate("fast", atoms)[1]

    def get_fast_energy(self, atoms):
        """Energy of the fast part, in eV."""
        return self._evaluate("fast", atoms)[0]

    def get_slow_energy(self, atoms):
        """Energy of the slow part, in eV."""
        if self.slow_calc is not None:
            return self._evaluate("slow", atoms)[0]
        return self._evaluate("full", atoms)[0] - self._evaluate("fast", atoms)[0]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        # After an MTS step both parts are cached at these positions, so the
        # sums below reuse the forces the integrator already paid for.
        energy = self.get_fast_energy(self.atoms) + self.get_slow_energy(self.atoms)
        forces = self.get_fast_forces(self.atoms) + self.get_slow_forces(self.atoms)
        self.results = {"energy": energy, "free_energy": energy, "forces": forces}

    def todict(self):
        return {
            "fast": type(self.fast_calc).__name__,
            "slow": None if self.slow_calc is None else type(self.slow_calc).__name__,
            "full": None if self.full_calc is None else type(self.full_calc).__name__,
        }


def _snapshot(atoms):
    return (atoms.positions.copy(), atoms.numbers.copy(), atoms.cell.array.copy(), atoms.pbc.copy())


def _same_state(snapshot, atoms):
    positions, numbers, cell, pbc = snapshot
    return (
        np.array_equal(positions, atoms.positions)
        and np.array_equal(numbers, atoms.numbers)
        and np.array_equal(cell, atoms.cell.array)
        and np.array_equal(pbc, atoms.pbc)
    )


# ---------------------------------------------------------------------- saved models
def check_device(device):
    """Raise :class:`InputError` unless ``device`` names a torch device this machine has.

    ``'cpu'`` is accepted without importing torch.
    """
    if device == "cpu":
        return
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise InputError(f"--device {device!r} is not a torch device ({err}); use cpu or cuda") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"--device {device}: CUDA is not available on this machine; use --device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise InputError(
                f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s); "
                f"use cuda:0 ... cuda:{torch.cuda.device_count() - 1}"
            )
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise InputError(f"--device {device}: MPS is not available on this machine; use --device cpu")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise InputError(f"--device {device}: nequip-mts runs on cpu or cuda")


def compiled_model_calculator(
    path,
    device="cpu",
    chemical_species_to_atom_type_map=True,
    stress=True,
    neighbor_skin=DEFAULT_NEIGHBOR_SKIN,
):
    """An ASE calculator for one compiled model (``.nequip.pt2``, ``nequip-compile --target ase``).

    ``stress=False`` loads a model compiled without the stress output (the target
    :data:`nequip_mts.deploy.split.ASE_NO_STRESS_TARGET`, as the deploy step writes with
    ``stress=False``); its calculator gives energies and forces only.

    ``neighbor_skin`` (A): the calculator keeps its neighbour list across calls while no
    atom has moved more than half of it (:class:`nequip_mts.md.neighbors.SkinNeighborList`);
    ``0`` or ``None`` builds a new list at every call, as nequip's calculator does.

    This is the one place that calls nequip's compiled-model loader for ASE,
    ``NequIPCalculator.from_compiled_model``.
    """
    check_device(device)
    cls = _nequip_calculator_class(stress)
    with reading_model(
        path,
        "a compiled model (.nequip.pt2)",
        fix="redeploy with `nequip-mts deploy ... --target ase`",
    ):
        calc = cls.from_compiled_model(
            str(path), device=device, chemical_species_to_atom_type_map=chemical_species_to_atom_type_map
        )
    return _with_skin(calc, neighbor_skin)


_CALCULATOR_CLASSES = {}


def _nequip_calculator_class(stress):
    """``NequIPCalculator``, or (``stress=False``) its subclass for models without stress."""
    from nequip.integrations.ase import NequIPCalculator

    if stress:
        return NequIPCalculator
    if False not in _CALCULATOR_CLASSES:
        from nequip_mts.deploy.split import register_compile_targets

        target = register_compile_targets()

        class EnergyForcesNequIPCalculator(NequIPCalculator):
            """A NequIP calculator for models compiled without the stress output."""

            implemented_properties = ["energy", "energies", "forces", "free_energy"]

            @classmethod
            def _get_aoti_compile_target(cls):
                return target

        _CALCULATOR_CLASSES[False] = EnergyForcesNequIPCalculator
    return _CALCULATOR_CLASSES[False]


def model_calculator(
    path, device="cpu", *, compiled=False, cache_dir=None, chemical_species_to_atom_type_map=True
):
    """An ASE calculator for a single model file (a baseline, or a multiscale model's sum).

    ``compiled=False``: :func:`saved_model_calculator`, eager. ``compiled=True``: its
    ``sole_model`` compiled (energies and forces, no stress) through the model cache
    (:func:`nequip_mts.deploy.cache.compiled_single`) and loaded by
    :func:`compiled_model_calculator`.
    """
    if not compiled:
        return saved_model_calculator(
            path, device=device, chemical_species_to_atom_type_map=chemical_species_to_atom_type_map
        )
    from nequip_mts.deploy.cache import compiled_single

    check_device(device)
    compiled_path = compiled_single(path, stress=False, device=device, cache_dir=cache_dir)
    return compiled_model_calculator(compiled_path, device, chemical_species_to_atom_type_map, stress=False)


def saved_model_calculator(
    path,
    model_key=SUM_KEY,
    device="cpu",
    chemical_species_to_atom_type_map=True,
    neighbor_skin=DEFAULT_NEIGHBOR_SKIN,
):
    """An ASE calculator for one model of a nequip checkpoint or package, evaluated eagerly.

    Parameters
    ----------
    path : str or Path
        A ``.ckpt`` checkpoint or ``.nequip.zip`` package.
    model_key : str
        The model of the file: ``sole_model`` (a single model, or a multiscale sum),
        ``fast`` or ``slow``.
    neighbor_skin : float or None
        As in :func:`compiled_model_calculator`.

    This is the one place that calls nequip's saved-model loader for ASE, which nequip
    0.19 names ``NequIPCalculator._from_saved_model``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}")
    check_device(device)
    if not _looks_like_zip(path):
        # checkpoints and packages are zip archives; anything else fails deep in torch
        raise InputError(
            f"{path} is not a nequip checkpoint (.ckpt) or package (.nequip.zip): it is no zip "
            "archive; give the file nequip-train wrote"
        )
    from nequip.integrations.ase import NequIPCalculator

    with reading_model(path, "a nequip checkpoint or package", fix="give the file nequip-train wrote"):
        try:
            calc = NequIPCalculator._from_saved_model(
                str(path),
                device=device,
                model_name=model_key,
                chemical_species_to_atom_type_map=chemical_species_to_atom_type_map,
            )
            return _with_skin(calc, neighbor_skin)
        except KeyError:
            raise InputError(
                f"{path} holds no model {model_key!r}; MTS needs the '{FAST_KEY}' and "
                f"'{SLOW_KEY}' entries of a multiscale checkpoint or package"
            ) from None


def _with_skin(calc, neighbor_skin):
    if not neighbor_skin:
        return calc
    from nequip_mts.md.neighbors import use_skin_neighbor_list

    return use_skin_neighbor_list(calc, neighbor_skin)


def _looks_like_zip(path) -> bool:
    import zipfile

    return zipfile.is_zipfile(path)


def _check_calculator(role, calc):
    """Raise ``TypeError`` unless ``calc`` can give forces like an ASE calculator."""
    if not callable(getattr(calc, "get_forces", None)):
        hint = (
            "; for model files use MTSCalculator.from_deployed or from_checkpoint"
            if isinstance(calc, (str, Path))
            else ""
        )
        raise TypeError(
            f"the {role} part must be an ASE calculator (with get_forces), got "
            f"{type(calc).__name__} {calc!r}"[:200]
            + hint
        )


# ---------------------------------------------------------------------- type names
def _type_mapper(calc):
    # NequIP calculators carry a ChemicalSpeciesToAtomTypeMapper among their transforms.
    for t in getattr(calc, "transforms", None) or ():
        if hasattr(t, "model_type_names"):
            return t
    return None


def _nequip_type_names(calc):
    mapper = _type_mapper(calc)
    if mapper is not None:
        return list(mapper.model_type_names)
    names = getattr(calc, "type_names", None)
    return None if names is None else list(names)


def _common_type_names(a, b):
    names_a, names_b = _nequip_type_names(a), _nequip_type_names(b)
    if names_a is not None and names_b is not None and names_a != names_b:
        raise ValueError(
            f"the models have different type names: {names_a} and {names_b}; MTS needs two parts of one model"
        )
    return names_a if names_a is not None else names_b


def _known_species(calc):
    mapper = _type_mapper(calc)
    if mapper is not None and hasattr(mapper, "lookup_table"):
        # lookup_table[Z] is the model type of atomic number Z, or -1 if unmapped
        from ase.data import chemical_symbols

        known = np.flatnonzero(np.asarray(mapper.lookup_table) >= 0)
        return frozenset(chemical_symbols[z] for z in known)
    species = getattr(calc, "species", None)
    if species is not None:
        return frozenset(species)
    names = _nequip_type_names(calc)
    return None if names is None else frozenset(names)


def _common_species(a, b):
    sa, sb = _known_species(a), _known_species(b)
    if sa is None:
        return sb
    if sb is None:
        return sa
    return sa & sb
