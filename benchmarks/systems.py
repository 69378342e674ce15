"""The liquids the benchmarks run on, and each one's settings, in one place.

``md_physics.py``, ``md_speed.py`` and ``train_models.py`` take ``--system NAME``. A
system names its bundled data and pretrained models (``nequip_mts.resources``), the
temperature of its runs and how its liquid is analysed (the ``nequip-mts analyze``
options that give the same numbers).
"""

from __future__ import annotations

import dataclasses
import pathlib

#: the repository root: the benchmarks are run from there, so reports name paths relative to it
ROOT = pathlib.Path(__file__).resolve().parents[1]


def shown(path) -> str:
    """``path`` as a report names it: relative to the repository root when inside it."""
    path = pathlib.Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


@dataclasses.dataclass(frozen=True)
class System:
    """One benchmark liquid.

    Attributes
    ----------
    name : str
        ``nequip_mts.resources.BUNDLED_SYSTEMS`` entry.
    formula : str
        Hill formula of its molecule.
    type_names : tuple of str
        The models' type names.
    temperature_K : float
        Temperature of the NVT runs (K).
    pairs : tuple of (str, str)
        Intermolecular RDF pairs.
    bands : dict
        VDOS windows (cm^-1) whose peak is reported, by name.
    diffusion_group : str
        Atoms whose self-diffusion is reported.
    train : dict
        ``nequip-train`` config (``-cn``) and overrides of its two models, by model name.
    intermolecular : bool
        RDFs of intermolecular pairs only.
    compare_rmin : float, optional
        Also compare the RDFs beyond this distance (A); for RDFs with intramolecular pairs.
    """

    name: str
    formula: str
    type_names: tuple
    temperature_K: float
    pairs: tuple
    bands: dict
    diffusion_group: str
    train: dict
    intermolecular: bool = True
    compare_rmin: float | None = None

    def data(self):
        from nequip_mts.resources import bundled_data

        return bundled_data(self.name)

    def model(self, kind):
        from nequip_mts.resources import bundled_model

        return bundled_model(kind, self.name)

    def analysis_options(self, rmax=6.0, nbins=120):
        """The :class:`~nequip_mts.analysis.report.AnalysisOptions` equal to :meth:`analyze_args`."""
        from nequip_mts.analysis.report import AnalysisOptions

        return AnalysisOptions(
            pairs=list(self.pairs),
            rmax=rmax,
            nbins=nbins,
            intermolecular=self.intermolecular,
            compare_rmin=self.compare_rmin,
            bands=list(self.bands.values()),
            diffusion_groups=[self.diffusion_group],
        )

    def analyze_args(self, rmax=6.0, nbins=120):
        """The ``nequip-mts analyze`` options of :meth:`analysis_options`."""
        bands = " ".join(f"--band {lo:g} {hi:g}" for lo, hi in self.bands.values())
        pairs = " ".join(f"{a}-{b}" for a, b in self.pairs)
        inter = " --intermolecular" if self.intermolecular else ""
        rmin = f" --compare-rmin {self.compare_rmin:g}" if self.compare_rmin else ""
        return (
            f"--pairs {pairs}{inter} --rmax {rmax:g} --nbins {nbins}{rmin} {bands} "
            f"--diffusion-groups {self.diffusion_group}"
        )


# the data files default to the bundled ones; the paths are relative to the repository root
# so that the packaged configs name no path of the training machine
SYSTEMS = {
    "water": System(
        name="water",
        formula="H2O",
        type_names=("H", "O"),
        temperature_K=350.0,
        pairs=(("O", "O"), ("O", "H"), ("H", "H")),
        bands={"O-H stretch peak (cm^-1)": (2800.0, 4200.0), "H-O-H bend peak (cm^-1)": (1300.0, 1900.0)},
        diffusion_group="O",
        # all pairs, compared also past the intramolecular peaks (as md_physics.md was made)
        intermolecular=False,
        compare_rmin=1.7,
        train={
            "baseline": ("water_baseline", ["data_file=nequip_mts/data/water_gfn1.extxyz.gz"]),
            "multiscale": ("water_multiscale", ["data_file=nequip_mts/data/water_gfn1.extxyz.gz"]),
        },
    ),
    # the templates with only the data file and the type names set (issue: the user's own system)
    "methanol": System(
        name="methanol",
        formula="CH4O",
        type_names=("C", "H", "O"),
        temperature_K=300.0,
        pairs=(("O", "O"), ("O", "H"), ("C", "C")),
        bands={"C-H stretch peak (cm^-1)": (2700.0, 3300.0), "C-O stretch peak (cm^-1)": (900.0, 1250.0)},
        diffusion_group="C",
        train={
            kind: (
                kind,
                ["data_file=nequip_mts/data/methanol_gfn1.extxyz.gz", "model_type_names=[C,H,O]"],
            )
            for kind in ("baseline", "multiscale")
        },
    ),
}


def add_argument(parser):
    parser.add_argument(
        "--system", choices=sorted(SYSTEMS), default="water", help="benchmark liquid (default water)"
    )


def get(name) -> System:
    return SYSTEMS[name]


def add_model_arguments(parser):
    """``--eager`` and ``--cache-dir``: compiled models (the default) or eager ones."""
    parser.add_argument(
        "--eager",
        action="store_true",
        help="eager models; by default they are compiled (AOTInductor) once into the model cache",
    )
    parser.add_argument(
        "--cache-dir", type=pathlib.Path, help="model cache directory (default: see nequip_mts.deploy.cache)"
    )
    parser.add_argument(
        "--mts-deploy",
        type=pathlib.Path,
        help="MTS on this distilled deploy directory (nequip-mts distill); the baseline is then its "
        "full model (the teacher), compiled as MTS uses it",
    )
    parser.add_argument(
        "--models-dir",
        type=pathlib.Path,
        help="the packages <system>_baseline.nequip.zip and <system>_multiscale.nequip.zip of this "
        "folder (train_models.py --out-dir) instead of the bundled ones",
    )


def calculators(system: System, args, kinds=("baseline", "MTS")):
    """The ASE calculators of ``kinds`` (``baseline``, ``MTS``, ``sum``), compiled unless ``--eager``.

    Also keeps glibc's freed memory in the process (``nequip_mts.md.memory``) before
    the models allocate, as ``nequip-mts md`` does.
    """
    from nequip_mts.md import MTSCalculator
    from nequip_mts.md.memory import tune_malloc
    from nequip_mts.md.providers import model_calculator

    tune_malloc()
    options = dict(compiled=not args.eager, cache_dir=args.cache_dir)
    if getattr(args, "mts_deploy", None) is not None:
        return _deployed_calculators(args.mts_deploy, kinds)
    make = {
        "baseline": lambda: model_calculator(model_path(system, args, "baseline"), **options),
        "MTS": lambda: MTSCalculator.from_checkpoint(model_path(system, args, "multiscale"), **options),
        "sum": lambda: model_calculator(model_path(system, args, "multiscale"), **options),
    }
    return {kind: make[kind]() for kind in kinds}


def model_path(system: System, args, kind) -> pathlib.Path:
    """The ``kind`` package (``baseline``, ``multiscale``): from ``--models-dir`` if given
    (as ``train_models.py --out-dir`` names them), else the bundled one."""
    models_dir = getattr(args, "models_dir", None)
    if models_dir is None:
        return system.model(kind)
    path = models_dir / f"{system.name}_{kind}.nequip.zip"
    if not path.is_file():
        raise SystemExit(
            f"--models-dir {models_dir}: no {path.name}; train it with "
            f"benchmarks/train_models.py --out-dir {models_dir}"
        )
    return path


def _deployed_calculators(path, kinds):
    """MTS from a deploy directory; for a distilled one (split full-fast) the baseline and
    the sum are its ``full`` model, the very compiled file MTS evaluates."""
    from nequip_mts.manifest import FULL, FULL_MINUS_FAST, read_manifest, split_of
    from nequip_mts.md import MTSCalculator
    from nequip_mts.md.providers import compiled_model_calculator

    manifest = read_manifest(path, target="ase")
    if split_of(manifest) != FULL_MINUS_FAST:
        raise SystemExit(f"--mts-deploy {path}: a distilled deploy (split full-fast) is needed")
    stress = bool(manifest.get("stress", True))
    make = {
        "MTS": lambda: MTSCalculator.from_deployed(path),
        "baseline": lambda: compiled_model_calculator(manifest[FULL]["path"], stress=stress),
        "sum": lambda: compiled_model_calculator(manifest[FULL]["path"], stress=stress),
    }
    return {kind: make[kind]() for kind in kinds}


def results_stem(system, args, name):
    """Default report stem: ``results/<name>`` for water's bundled models,
    ``results/<system>/<name>`` for another system's, ``results/distill_<system>/<name>``
    for a distilled deploy (``--mts-deploy``), ``results/<folder>/<name>`` for the
    models of ``--models-dir <folder>``."""
    from pathlib import Path

    results = Path(__file__).resolve().parent / "results"
    if getattr(args, "mts_deploy", None) is not None:
        return results / f"distill_{system.name}" / name
    if getattr(args, "models_dir", None) is not None:
        return results / args.models_dir.name / name
    return results / name if system.name == "water" else results / system.name / name


def model_mode(args) -> str:
    """How the benchmark's models ran, for its report."""
    if getattr(args, "mts_deploy", None) is not None:
        return f"the distilled deploy {args.mts_deploy} (compiled; MTS slow = full - fast, baseline = its full model)"
    mode = "eager models" if args.eager else "compiled models (AOTInductor, no stress output)"
    if getattr(args, "models_dir", None) is not None:
        mode += f", the packages of {args.models_dir}"
    return mode
