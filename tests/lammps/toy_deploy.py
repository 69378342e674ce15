"""Small stand-in models for the LAMMPS plugin tests (tests only).

Trains two small independent Allegro models with different cutoffs on EMT data of a binary
fcc alloy (``emt_data.write_random_alloys``) with ``nequip-train``, compiles them with
``nequip-compile`` and lays them out like a deploy directory, as the FAST and SLOW parts.
Faster to make than a co-trained multiscale model, and enough to test the pair style.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Optional, Sequence

from emt_data import write_random_alloys

from nequip_mts.manifest import part_filename, write_manifest

_CONFIG = """\
run: [train]
seed: {seed}
cutoff_radius: {r_max}
model_type_names: {type_names}
chemical_species: ${{model_type_names}}

dataloader:
  _target_: torch.utils.data.DataLoader
  batch_size: 4

data:
  _target_: nequip.data.datamodule.ASEDataModule
  seed: ${{seed}}
  split_dataset:
    file_path: {dataset}
    train: {n_train}
    val: {n_val}
  transforms:
    - _target_: nequip.data.transforms.ChemicalSpeciesToAtomTypeMapper
      model_type_names: ${{model_type_names}}
      chemical_species_to_atom_type_map: ${{list_to_identity_dict:${{chemical_species}}}}
    - _target_: nequip.data.transforms.NeighborListTransform
      r_max: ${{cutoff_radius}}
  train_dataloader: ${{dataloader}}
  val_dataloader: ${{dataloader}}
  stats_manager:
    _target_: nequip.data.CommonDataStatisticsManager
    type_names: ${{model_type_names}}

trainer:
  _target_: lightning.Trainer
  max_epochs: {max_epochs}
  enable_progress_bar: false
  logger: false
  enable_model_summary: false
  callbacks:
    - _target_: lightning.pytorch.callbacks.ModelCheckpoint
      dirpath: ${{hydra:runtime.output_dir}}
      filename: last
      save_top_k: 1
      save_last: false

training_module:
  _target_: nequip.train.NequIPLightningModule
  loss:
    _target_: nequip.train.EnergyForceLoss
    per_atom_energy: true
    coeffs:
      total_energy: 1.0
      forces: 1.0
  val_metrics:
    _target_: nequip.train.EnergyForceMetrics
    coeffs:
      total_energy_mae: 1.0
      forces_mae: 1.0
  optimizer:
    _target_: torch.optim.Adam
    lr: 0.005
  model:
    _target_: allegro.model.AllegroModel
    seed: ${{seed}}
    model_dtype: {model_dtype}
    type_names: ${{model_type_names}}
    r_max: ${{cutoff_radius}}
    l_max: 1
    radial_chemical_embed:
      _target_: allegro.nn.TwoBodyBesselScalarEmbed
      num_bessels: 8
    radial_chemical_embed_dim: {width}
    scalar_embed_mlp_hidden_layers_width: {width}
    num_layers: {num_layers}
    num_scalar_features: {width}
    num_tensor_features: 4
    allegro_mlp_hidden_layers_width: {width}
    readout_mlp_hidden_layers_width: {width}
    avg_num_neighbors: ${{training_data_stats:num_neighbors_mean}}
    per_type_energy_shifts: ${{training_data_stats:per_atom_energy_mean}}
    per_type_energy_scales: ${{training_data_stats:forces_rms}}
{extra_model}"""


def _per_type_yaml(per_edge_type_cutoff) -> str:
    if not per_edge_type_cutoff:
        return ""
    inner = ", ".join(
        f"{a}: "
        + ("{" + ", ".join(f"{b}: {r}" for b, r in v.items()) + "}" if isinstance(v, dict) else str(v))
        for a, v in per_edge_type_cutoff.items()
    )
    return f"    per_edge_type_cutoff: {{{inner}}}\n"


def _tool(name: str) -> str:
    """Path of a console script living next to the running interpreter."""
    cand = Path(sys.executable).parent / name
    return str(cand) if cand.exists() else name


def _run(cmd, cwd=None, env=None):
    res = subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    if res.returncode != 0:
        raise RuntimeError(
            f"command failed ({res.returncode}): {' '.join(map(str, cmd))}\n" + res.stdout[-4000:]
        )
    return res.stdout


def train_toy_allegro(
    workdir: os.PathLike,
    dataset: os.PathLike,
    r_max: float,
    type_names: Sequence[str] = ("Cu", "Ag"),
    model_dtype: str = "float32",
    max_epochs: int = 2,
    width: int = 16,
    num_layers: int = 1,
    seed: int = 1,
    n_train: Optional[int] = None,
    per_edge_type_cutoff: Optional[dict] = None,
) -> Path:
    """Train a small Allegro model with ``nequip-train``; return the checkpoint path.

    ``per_edge_type_cutoff`` (nequip's format) gives the model per-edge-type cutoffs."""
    import ase.io

    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    n_frames = len(ase.io.read(dataset, index=":"))
    n_train = n_train or max(1, n_frames - max(1, n_frames // 6))
    cfg = _CONFIG.format(
        seed=seed,
        r_max=float(r_max),
        type_names="[" + ", ".join(type_names) + "]",
        dataset=str(Path(dataset).resolve()),
        n_train=n_train,
        n_val=n_frames - n_train,
        max_epochs=max_epochs,
        model_dtype=model_dtype,
        width=width,
        num_layers=num_layers,
        extra_model=_per_type_yaml(per_edge_type_cutoff),
    )
    (workdir / "config.yaml").write_text(cfg)
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    _run(
        [
            _tool("nequip-train"),
            "-cp",
            workdir,
            "-cn",
            "config",
            f"hydra.run.dir={workdir / 'run'}",
        ],
        cwd=workdir,
        env=env,
    )
    ckpt = workdir / "run" / "last.ckpt"
    if not ckpt.exists():
        raise RuntimeError(f"training finished but {ckpt} is missing")
    return ckpt


def compile_model(
    ckpt: os.PathLike,
    out: os.PathLike,
    target: str,
    model: str = "sole_model",
) -> Path:
    """``nequip-compile --mode aotinductor --device cpu --target <target>``."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    _run(
        [
            _tool("nequip-compile"),
            ckpt,
            out,
            "--mode",
            "aotinductor",
            "--device",
            "cpu",
            "--target",
            target,
            "--model",
            model,
        ],
        env=env,
    )
    return out


def make_toy_deploy(
    outdir: os.PathLike,
    r_fast: float = 3.0,
    r_slow: float = 4.5,
    type_names: Sequence[str] = ("Cu", "Ag"),
    targets: Sequence[str] = ("pair_allegro", "ase"),
    max_epochs: int = 2,
    slow_width: int = 16,
    slow_layers: int = 1,
    parallel: int = 1,
    fast_per_edge_type_cutoff: Optional[dict] = None,
) -> Path:
    """Train two independent toy models and lay them out like the deploy step would.

    ``fast_per_edge_type_cutoff`` gives the fast model per-edge-type cutoffs (recorded in
    the manifest's provenance).

    Writes ``<outdir>/<target>/mts_deploy.json`` plus compiled files for every target.
    There is no real "sum" model for independent toys; ``sum`` is left out.
    ``parallel`` compiles run at once (each ``nequip-compile`` is mostly one core).
    """
    from concurrent.futures import ThreadPoolExecutor

    outdir = Path(outdir).resolve()
    data = write_random_alloys(outdir / "work" / "emt.xyz", species=type_names)
    ckpts = {
        "fast": train_toy_allegro(
            outdir / "work" / "fast",
            data,
            r_fast,
            type_names,
            max_epochs=max_epochs,
            per_edge_type_cutoff=fast_per_edge_type_cutoff,
        ),
        "slow": train_toy_allegro(
            outdir / "work" / "slow",
            data,
            r_slow,
            type_names,
            max_epochs=max_epochs,
            width=slow_width,
            num_layers=slow_layers,
            seed=2,
        ),
    }
    r_max = {"fast": float(r_fast), "slow": float(r_slow)}
    jobs = []
    for target in targets:
        for part, ckpt in ckpts.items():
            out = outdir / target / part_filename(part)
            if not out.exists():
                jobs.append((ckpt, out, target))
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        for fut in [pool.submit(compile_model, *job) for job in jobs]:
            fut.result()
    for target in targets:
        write_manifest(
            outdir / target,
            target=target,
            type_names=type_names,
            parts={part: {"file": part_filename(part), "r_max": r_max[part]} for part in ckpts},
            model_dtype="float32",
            provenance={
                "source": "tests/lammps/toy_deploy.py",
                "fast_per_edge_type_cutoff": fast_per_edge_type_cutoff,
            },
        )
    shutil.copy(data, outdir / "emt.xyz")
    return outdir
