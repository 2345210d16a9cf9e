"""Experiment C: how robust are experiment B's trained models to
frequency-specific perturbations (docs/DEFINITIONS.md sections 4, 5, 6, 7)?

Every (arm, seed) model that B trained is evaluated on the same images, the
same noise and the same filters, so accuracy differences are model
differences:

* noise curves (section 5): white Gaussian noise, high-pass noise (rho >=
  0.25 c/p) and its low-pass control at the same L2 norm, a band profile
  (equal-energy annuli from DC to the corner), optionally the CIFAR-10-C
  style shot / impulse / speckle levels;
* filtered test sets (section 4): low- and high-pass copies against the
  cutoff;
* Fourier heat maps (section 6, Yin et al. 2019): error rate under
  ``x + r v U_uv`` for each of the distinct bases, mirrored to P x P;
* on the synthetic set, the cue-conflict split: which band a decision follows.

The models are found in a B run folder (``b_run``, or the sibling ``exp_b/``
of an ``--experiment all`` folder, or the newest B run under
``results_root``); their test set is rebuilt exactly as B built it, so the
clean accuracy on the whole B test set equals B's final test accuracy.
Each model is one job (utils/executor.py: any launcher, resumable); its
perturbed sets are made in that job, and they are the same images for every
model because the noise depends only on the image's index in B's test set,
the level and ``noise_seed``. Figures are drawn from ``exp_c_arrays.npz`` alone
(``experiments/exp_c_analysis.py``).

Measured on the 2-core AMD EPYC test CPU (float32, torch 2.14.1, other jobs
sharing it): the ``cpu`` preset over B's default CPU run (12 small CNNs,
32-64-128, cifar10-jpeg) takes 213 s: curves at about 2,700 images/s,
heat maps 8.7 s per model (50 images x 514 bases); 334 s with
OMP_NUM_THREADS=1 (identical accuracies).
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from data.digest import data_digest
from data.images import ImageData, stratified_subset
from experiments import dose
from experiments import exp_b_spectrum_evolution as exp_b
from experiments.exp_b_analysis import ARRAYS as B_ARRAYS
from experiments.exp_c_perturbations import CORNER, Curve, fourier_heatmap, make_curves  # noqa: F401
from models import build_model
from utils import checkpoints as ckpt
from utils import frequency as fq
from utils import runs, training
from utils.executor import Job, Launch, run_jobs
from utils.jobs import JobStore
from utils.progress import throttle

NAME = "exp_c"
STABLE_FIGURES = ("exp_c_robustness.png", "exp_c_heatmaps.png")

# Per-channel L2 norms of the high-/low-pass noise on [0, 1] pixels. White
# noise of std s has a per-channel norm of about 32 s on 32x32, so 0..8
# spans the energies of the Gaussian sweep (sigma 0..0.2 -> norm 0..6.4) and
# passes the heat map's v = 4 (one Fourier basis at norm 4) by a factor 2.
NOISE_NORMS = (0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0)


class MissingModels(ValueError):
    """No experiment-B run (with its checkpoints) was found to evaluate."""


@dataclass(frozen=True)
class Config:
    # --- which models: the checkpoints of one experiment-B run
    b_run: str | None = None              # B run folder, or an "all" folder holding exp_b/;
                                          # None: sibling exp_b/ of an all-run, else newest under
    results_root: str = "results"         # ... this folder (*/summary.json with experiment B)
    train_if_missing: bool = False        # no B run found: train B's default config first
    train_quick: bool = False             # ... with B's quick config instead (set by quick())
    epoch: int | None = None              # B's models after this epoch (kept by B's keep_epochs:
                                          # early stopping); None = after the last epoch
    # --- evaluation sets (subsets of B's test set; None = all of it)
    n_eval: int | None = None             # images of every noise / filter curve
    heatmap_n: int | None = None          # images of the heat map (x 514 bases on 32x32)
    noise_seed: int = 0                   # noise = f(image index in B's test set, level, seed)
    # --- noise curves (docs/DEFINITIONS.md 5); levels ascending, the first one clean
    gaussian_sigmas: tuple[float, ...] = fq.GAUSSIAN_SIGMAS
    noise_norms: tuple[float, ...] = NOISE_NORMS  # high-pass noise and its low-pass control
    noise_cutoff: float = 0.25            # c/p between "low" and "high" (B's HFF cut)
    band_norm: float = 4.0                # per-channel norm of each band (= heat map's v)
    n_bands: int = 8                      # equal-width annuli from DC to the corner 0.707 c/p
    corruptions: bool = False             # CIFAR-10-C shot / impulse / speckle (32x32 levels)
    # --- filtered test sets (docs/DEFINITIONS.md 4), never clipped
    filter_family: str = "gaussian"       # gaussian (cutoff = f50) | radial (cutoff = r / P)
    filter_sigmas: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0, 3.0)  # px; f50 0.265 ... 0.044 c/p
    filter_radii: tuple[float, ...] = (2, 4, 6, 8, 12, 16)        # bins; r / 32 c/p
    # --- Fourier heat map (docs/DEFINITIONS.md 6)
    heatmap_v: float = 4.0                # perturbation norm on [0, 1] pixels (Yin et al., CIFAR)
    # --- execution
    device: str = "cpu"
    eval_batch_size: int = 1000           # images per forward pass (heat map: bases x images)

    def quick(self) -> "Config":
        """Every axis shrunk, same code path."""
        return dataclasses.replace(
            self, n_eval=min(self.n_eval or 128, 128), heatmap_n=min(self.heatmap_n or 16, 16),
            gaussian_sigmas=(0.0, 0.04, 0.1, 0.2), noise_norms=(0.0, 2.0, 4.0, 8.0), n_bands=4,
            filter_sigmas=(0.5, 1.0, 2.0), filter_radii=(4, 8, 16), train_quick=True)


# Presets sized for the device (README "Experiment C" has the measured times).
PRESETS = {
    # 12 small CNNs (32-64-128) at ~2,500 images/s forward on 2 cores: curves on 500
    # images (40 sets: 20,000 per model; accuracy SE <= 0.022 per model, and arms are
    # paired on the same images), heat maps on 50 (25,700 per model; per-basis SE
    # <= 0.07 per model, 0.04 per arm over 3 seeds). About 4 minutes in all.
    "cpu": dict(n_eval=500, heatmap_n=50, corruptions=False, eval_batch_size=1000),
    # 12 ResNet-18s on the whole CIFAR-10 test set (heat map: 5.1 M images per model).
    "gpu": dict(n_eval=None, heatmap_n=None, corruptions=True, eval_batch_size=4096),
}


# Named presets (main.py --preset NAME). C evaluates B's models, so "study"'s
# 10 seeds come from B (exp_b_spectrum_evolution.NAMED_PRESETS); on the CPU the
# heat map is cut to 20 images so that 10 seeds x 5 arms fit in about the time
# 3 x 4 took (per-arm SE over 10 seeds stays below the 3-seed figure).
NAMED_PRESETS = {"study": {"cpu": dict(heatmap_n=20), "gpu": {}}}


def preset(cfg: Config, device: str, name: str | None = None) -> Config:
    """Apply the preset for ``device`` ("cuda..." -> gpu, else cpu), then the
    named one (``None`` or a key of :data:`NAMED_PRESETS`)."""
    kind = "gpu" if device.startswith("cuda") else "cpu"
    cfg = dataclasses.replace(cfg, **PRESETS[kind])
    if name is None:
        return cfg
    if name not in NAMED_PRESETS:
        raise ValueError(f"preset: expected one of {list(NAMED_PRESETS)}, got {name!r}")
    return dataclasses.replace(cfg, **NAMED_PRESETS[name][kind])


def _ascending(name: str, values, minimum: float = 0.0) -> None:
    v = np.asarray(values, dtype=float)
    if v.ndim != 1 or v.size < 2 or not np.all(np.isfinite(v)) or v.min() < minimum \
            or np.any(np.diff(v) <= 0):
        raise ValueError(f"{name}: expected at least 2 strictly increasing values >= {minimum}, "
                         f"got {values!r}")


def validate(cfg: Config) -> None:
    """Raise ValueError (naming the field) for a config that cannot run."""
    for name in ("n_eval", "heatmap_n"):
        n = getattr(cfg, name)
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
            raise ValueError(f"{name}: expected a positive int or None (all), got {n!r}")
    _ascending("gaussian_sigmas", cfg.gaussian_sigmas)
    _ascending("noise_norms", cfg.noise_norms)
    _ascending("filter_sigmas", cfg.filter_sigmas, 1e-9)
    _ascending("filter_radii", cfg.filter_radii, 1e-9)
    if not 0 < cfg.noise_cutoff < CORNER:
        raise ValueError(f"noise_cutoff: expected 0 < c < 0.707 c/p, got {cfg.noise_cutoff}")
    if not cfg.band_norm > 0 or not cfg.heatmap_v > 0:
        raise ValueError(f"band_norm, heatmap_v: expected > 0, got {cfg.band_norm}, {cfg.heatmap_v}")
    if isinstance(cfg.n_bands, bool) or not isinstance(cfg.n_bands, int) or cfg.n_bands < 2:
        raise ValueError(f"n_bands: expected an int >= 2, got {cfg.n_bands!r}")
    if cfg.filter_family not in ("gaussian", "radial"):
        raise ValueError(f"filter_family: expected gaussian or radial, got {cfg.filter_family!r}")
    if cfg.epoch is not None and (isinstance(cfg.epoch, bool) or not isinstance(cfg.epoch, int)
                                  or cfg.epoch < 1):
        raise ValueError(f"epoch: expected an epoch >= 1 that B kept, or None, got {cfg.epoch!r}")
    if cfg.noise_seed < 0 or cfg.eval_batch_size < 1:
        raise ValueError(f"noise_seed, eval_batch_size: expected >= 0 and >= 1, got "
                         f"{cfg.noise_seed}, {cfg.eval_batch_size}")


# --------------------------------------------------------------------------
# finding and loading experiment B's models
# --------------------------------------------------------------------------

def _is_b_run(folder: Path) -> bool:
    path = folder / "summary.json"
    try:
        return path.is_file() and runs.read_json(path).get("experiment") == "B"
    except (OSError, ValueError, AttributeError):
        return False


def find_b_run(results_root: str | Path) -> Path | None:
    """The newest finished B run under ``results_root`` (``*/summary.json``
    or ``*/exp_b/summary.json`` with ``"experiment": "B"``), by summary time."""
    root = Path(results_root)
    found = [p.parent for pattern in ("*/summary.json", "*/exp_b/summary.json")
             for p in root.glob(pattern) if _is_b_run(p.parent)]
    return max(found, key=lambda p: (p / "summary.json").stat().st_mtime, default=None)


def missing_message(results_root) -> str:
    return (f"no experiment-B models found under {Path(results_root)}/ (looked for "
            f"*/summary.json with experiment B); run `python main.py --experiment b` first, "
            f"or pass --set train_if_missing=true")


def locate_b_run(cfg: Config, run_dir: Path, log=print) -> Path:
    """The B run folder to evaluate (see ``Config.b_run``); trains one into
    ``run_dir/exp_b`` when none exists and ``train_if_missing`` is set."""
    if cfg.b_run is not None:
        given = Path(cfg.b_run)
        for folder in (given, given / "exp_b"):
            if _is_b_run(folder):
                return folder
        raise MissingModels(f"b_run: {given} is not a finished experiment-B run folder (no "
                            f"summary.json with experiment B in it or in its exp_b/)")
    sibling = run_dir.parent / "exp_b"
    if run_dir.name == NAME and _is_b_run(sibling):  # the B part of this --experiment all run
        return sibling
    found = find_b_run(cfg.results_root)
    if found is not None:
        return found
    if not cfg.train_if_missing:
        raise MissingModels(missing_message(cfg.results_root))
    b_cfg = exp_b.preset(exp_b.Config(device=cfg.device), cfg.device)
    b_cfg = b_cfg.quick() if cfg.train_quick else b_cfg
    b_dir = run_dir / "exp_b"
    log(f"  [exp C] no B run under {cfg.results_root}: training experiment B into {b_dir}")
    runs.write_json(b_dir / "config.json", {"argv": None,
                                            "experiments": {"b": dataclasses.asdict(b_cfg)}})
    exp_b.run(b_cfg, b_dir, log=log)
    return b_dir


def prepare(cfg: Config, data: ImageData | None = None,
            parts: tuple[str, ...] = ()) -> ImageData | None:
    """Check, before any folder is made or any model evaluated, that the B
    run to evaluate exists and its summary, config, arrays and checkpoints
    can be read; returns ``data`` (B's images given from Python). In a run
    that trains B too (``"b" in parts``) C evaluates that B (:func:`in_run`):
    nothing to check yet."""
    if "b" not in parts:
        _check_input(cfg)
    return data


def in_run(cfg: Config, parts: dict[str, Path]) -> Config:
    """C's config inside a run folder whose experiments' folders are
    ``parts``: it evaluates the B of that run when there is one."""
    return dataclasses.replace(cfg, b_run=str(parts["b"])) if "b" in parts else cfg


def render_figures(run_dir: Path) -> list[Path]:
    """Every figure of C from its saved arrays (``--report``)."""
    from experiments import exp_c_analysis as analysis
    return analysis.render_figures(run_dir)


def _check_input(cfg: Config) -> None:
    if cfg.b_run is None:
        found = find_b_run(cfg.results_root)
        if found is None:
            if cfg.train_if_missing:
                return None
            raise MissingModels(missing_message(cfg.results_root))
        check_b_run(found, cfg.epoch)
        return None
    given = Path(cfg.b_run)
    for folder in (given, given / "exp_b"):
        if _is_b_run(folder):
            check_b_run(folder, cfg.epoch)
            return None
    raise MissingModels(f"b_run: {given} is not a finished experiment-B run folder (no "
                        f"summary.json with experiment B in it or in its exp_b/)")


def checkpoint_path(b_dir: Path, entry: dict, epoch: int | None) -> Path:
    """The checkpoint of one B model: after the last epoch, or after ``epoch``
    (one of B's ``keep_epochs``)."""
    path = b_dir / entry["path"]
    return path if epoch is None else path.with_name(f"{path.stem}_epoch{epoch}.pt")


def check_b_run(b_dir: Path, epoch: int | None = None) -> None:
    """Every file C will read from ``b_dir``, read now (MissingModels naming
    the file and what is wrong)."""
    reading = b_dir / "summary.json"
    try:
        summary = runs.read_json(reading)
        reading = b_dir / "config.json"
        exp_b.config_from_run(b_dir)
        reading = b_dir / B_ARRAYS
        arms, seeds = list(summary["arms"]), list(summary["seeds"])
        b_spectra(b_dir, arms, seeds)
        if epoch is not None and epoch not in summary.get("kept_epochs", []):
            raise ValueError(f"B kept no models after epoch {epoch} (kept: "
                             f"{summary.get('kept_epochs', [])}; set B's keep_epochs)")
        for entry in summary["checkpoints"]:
            reading = checkpoint_path(b_dir, entry, epoch)
            if not reading.is_file():
                raise FileNotFoundError("missing")
    except (OSError, ValueError, KeyError, TypeError, IndexError, EOFError,
            zipfile.BadZipFile) as e:
        raise MissingModels(f"b_run {b_dir}: cannot read {reading} ({type(e).__name__}: "
                            f"{' '.join(str(e).split())})") from None
    from models import check_model_trusted  # a folder is data: its model code needs consent
    check_model_trusted(exp_b.config_from_run(b_dir).model, str(b_dir / "config.json"))


def b_data(b_dir: Path, b_summary: dict) -> tuple[exp_b.Config, ImageData]:
    """B's config and its test set, rebuilt exactly (same dataset, data_seed,
    n_train, n_test). ``auto`` is pinned to what B actually used, so a
    CIFAR-10 download since then cannot swap the data under B's models."""
    b_cfg = exp_b.config_from_run(b_dir)
    used = b_summary["dataset_id"]
    if used.startswith("synthetic"):  # "synthetic" and "auto" name the newest set: pin B's own
        b_cfg = dataclasses.replace(b_cfg, dataset=used)
    elif b_cfg.dataset == "auto":
        b_cfg = dataclasses.replace(b_cfg, dataset="cifar10")
    return b_cfg, exp_b.load_data(b_cfg)


def load_model(path: Path, expect: dict, device, channels_last: bool) -> torch.nn.Module:
    """Rebuild the network a checkpoint was saved from (its meta) and load it.
    A checkpoint for another model or dataset raises CheckpointError."""
    meta = ckpt.load_checkpoint(path, expect=expect)["meta"]
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in meta["model_kwargs"].items()}
    if ":" in meta["model"]:  # the user's factory, with the arm's regimen
        from models import resolve_model_factory
        from utils.regimen import Regimen
        model = resolve_model_factory(meta["model"])(
            num_classes=meta["num_classes"], in_channels=meta["in_channels"],
            regimen=Regimen(name=meta["arm"], **meta["regimen"]))
    else:
        model = build_model(meta["model"], meta["num_classes"], meta["in_channels"],
                            meta["dropout"], dropout_at=meta.get("dropout_at", "classifier"),
                            **kwargs)
    ckpt.load_checkpoint(path, model=model, expect=expect)
    return training.place_model(model, device, channels_last).eval()


# --------------------------------------------------------------------------
# the run
# --------------------------------------------------------------------------

def _subset(y: torch.Tensor, n: int | None, seed: int) -> torch.Tensor:
    return torch.arange(y.numel()) if n is None or n >= y.numel() else stratified_subset(y, n, seed)


def b_models(b_dir: Path, b_summary: dict, epoch: int | None = None) -> tuple[dict, np.ndarray]:
    """Every (arm, seed) checkpoint of a B run: ``(paths, b_acc)`` keyed by
    ``(a, s)`` indices into B's arms and seeds; ``b_acc`` (A, S) is B's test
    accuracy after the last epoch (or after ``epoch``)."""
    arms, seeds = list(b_summary["arms"]), list(b_summary["seeds"])
    paths, b_acc = {}, np.full((len(arms), len(seeds)), np.nan)
    if epoch is not None:
        with np.load(b_dir / B_ARRAYS) as z:
            acc_at = z["test_acc"][:, :, epoch]
    for entry in b_summary["checkpoints"]:
        a, s = arms.index(entry["arm"]), seeds.index(entry["seed"])
        paths[a, s] = checkpoint_path(b_dir, entry, epoch)
        b_acc[a, s] = entry["final_test_acc"] if epoch is None else float(acc_at[a, s])
    grid = [(a, s) for a in range(len(arms)) for s in range(len(seeds))]
    if sorted(paths) != grid:
        raise MissingModels(f"{b_dir}/summary.json lists checkpoints for {sorted(paths)}, "
                            f"expected every (arm, seed) of {arms} x {seeds}")
    return paths, b_acc


# --------------------------------------------------------------------------
# one model: the job (utils.executor)
# --------------------------------------------------------------------------

_DATA: dict[str, tuple] = {}  # B's data of this process, by B folder: loaded once per worker


def _b_inputs(b_dir: Path, data: ImageData | None) -> tuple:
    """B's summary, config and data (the data given from Python, cut as B
    cut it, or rebuilt from B's config), once per process."""
    key = str(Path(b_dir).resolve())
    if key not in _DATA:
        b_summary = runs.read_json(b_dir / "summary.json")
        if data is None:
            b_cfg, data = b_data(b_dir, b_summary)
        else:
            b_cfg = exp_b.config_from_run(b_dir)
            if data.dataset_id != b_summary["dataset_id"]:
                raise MissingModels(f"data: B's models were trained on "
                                    f"{b_summary['dataset_id']!r}, the images given are "
                                    f"{data.dataset_id!r}")
            data = exp_b.subset_like(b_cfg, data)
        _DATA[key] = (b_summary, b_cfg, data)
    return _DATA[key]


PROGRESS_SECONDS = 5.0        # a job's progress lines on stderr (as A's steps): the first
FIRST_PROGRESS_SECONDS = 1.0  # this far into the job, then at most every PROGRESS_SECONDS


def job_progress(name: str):
    """``stage(what)`` -> ``progress(done, total)`` for the library's
    evaluations of job ``name``: a line on stderr (pool workers write there
    too) :data:`FIRST_PROGRESS_SECONDS` into the job, then at most every
    :data:`PROGRESS_SECONDS` over all its stages."""
    due = throttle(PROGRESS_SECONDS, FIRST_PROGRESS_SECONDS)

    def stage(what: str):
        def progress(done: int, total: int) -> None:
            if done < total and due():
                print(f"  [exp C] {name}: {what} {done:,}/{total:,} images", file=sys.stderr,
                      flush=True)
        return progress
    return stage


def evaluate_model(cfg: Config, b_dir: str, arm: str, seed: int,
                   data: ImageData | None = None) -> dict:
    """Everything C measures on one of B's models: clean accuracy on B's
    whole test set, every curve, the heat map, the cue conflict. The
    perturbed images depend only on image index, level and ``noise_seed``,
    so every model sees the same ones whatever process makes them."""
    t_job = time.perf_counter()
    stage = job_progress(f"{arm}_seed{seed}")
    b_dir = Path(b_dir)
    b_summary, b_cfg, data = _b_inputs(b_dir, data)
    entry = next(e for e in b_summary["checkpoints"] if e["arm"] == arm and e["seed"] == seed)
    device = torch.device(cfg.device)
    settings = training.device_settings(device)
    ev = dict(mean=data.mean, std=data.std, device=device, amp_dtype=settings["amp_dtype"],
              channels_last=settings["channels_last"])
    expect = {"model": b_cfg.model, "dataset_id": data.dataset_id,
              "data_sha256": data_digest(data), "arm": arm, "seed": seed}
    model = load_model(checkpoint_path(b_dir, entry, cfg.epoch), expect, device,
                       settings["channels_last"])
    out: dict = {}
    # B's whole test set with B's batch size: the same number B reported.
    out["clean"] = training.evaluate(model, data.test_x, data.test_y,
                                     batch_size=b_cfg.eval_batch_size, **ev)["acc"]
    idx = _subset(data.test_y, cfg.n_eval, cfg.noise_seed)
    out.update(evaluate_curves(model, make_curves(cfg, data.image_shape[-1]),
                               data.test_x[idx].to(device).float().div_(255.0), data.test_y[idx],
                               idx, batch_size=cfg.eval_batch_size, ev=ev,
                               progress=stage("noise and filter curves")))
    hidx = _subset(data.test_y, cfg.heatmap_n, cfg.noise_seed)  # same draw: inside idx
    t0 = time.perf_counter()
    out["heat"] = fourier_heatmap(model, data.test_x[hidx].to(device).float().div_(255.0),
                                  data.test_y[hidx], indices=hidx, v=cfg.heatmap_v,
                                  seed=cfg.noise_seed, batch_size=cfg.eval_batch_size,
                                  progress=stage("Fourier heat map"), **ev)
    out["heat_seconds"] = time.perf_counter() - t0
    if data.dataset_id.startswith("synthetic") and "conflict_x" in data.extra:
        pred = training.predict(model, data.extra["conflict_x"], batch_size=cfg.eval_batch_size,
                                **ev)
        for key in ("low", "high"):
            out[f"cue_{key}"] = float((pred == data.extra[f"conflict_y_{key}"]).double().mean())
    out["seconds"] = time.perf_counter() - t_job
    return out


def evaluate_curves(model, curves: list[Curve], x01, y, idx, *, batch_size: int,
                    ev: dict, progress=False) -> dict:
    """One model on the clean images and on every level of every curve,
    through :func:`utils.frequency.robustness_curves`: ``acc_<curve>``,
    ``loss_<curve>`` (L,), ``clean_eval``, the images evaluated and the
    seconds the call took (perturbing included). ``progress``: as the
    library's (``progress(done, total)`` in images)."""
    clean = Curve("clean", "clean images", "", (0.0,), (0.0,), lambda x, i, j: x, True)
    t0 = time.perf_counter()
    res = fq.robustness_curves(model, x01, y, [clean, *curves], indices=idx,
                               batch_size=batch_size, progress=progress, **ev)
    out = {"eval_seconds": time.perf_counter() - t0, "clean_eval": float(res["clean"]["acc"][0]),
           "images": len(idx) * (1 + sum(len(c.levels) - c.clean_first for c in curves))}
    for c in curves:
        out[f"acc_{c.name}"], out[f"loss_{c.name}"] = res[c.name]["acc"], res[c.name]["loss"]
    return out


# What a stored model evaluation depends on besides its checkpoint's bytes.
JOB_FIELDS = ("epoch", "n_eval", "heatmap_n", "noise_seed", "gaussian_sigmas", "noise_norms",
              "noise_cutoff", "band_norm", "n_bands", "corruptions", "filter_family",
              "filter_sigmas", "filter_radii", "heatmap_v", "device", "eval_batch_size")


def job_key(cfg: Config, path: Path, arm: str, seed: int, data: ImageData) -> dict:
    import hashlib
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return {"config": {f: getattr(cfg, f) for f in JOB_FIELDS}, "arm": arm, "seed": seed,
            "checkpoint_sha256": digest, "dataset_id": data.dataset_id,
            "data_sha256": data_digest(data)}


def _headline(job, r: dict) -> str:
    return (f"clean acc {float(r['clean']):.3f}, heat map {float(r['heat_seconds']):.1f} s, "
            f"curves {int(r['images']) / max(float(r['eval_seconds']), 1e-9):,.0f} images/s")


def b_spectra(b_dir: Path, arms: list[str], seeds: list[int]) -> dict:
    """B's conv1 HFF and normalized SSR vs baseline at the last epoch, (A, S)."""
    with np.load(b_dir / B_ARRAYS) as z:
        a = [list(map(str, z["arms"])).index(n) for n in arms]
        s = [list(map(int, z["seeds"])).index(v) for v in seeds]
        return {"b_hff_final": z["hff"][a][:, s, -1],
                "b_ssr_base_norm_final": z["ssr_base_norm"][a][:, s, -1]}


def render_dose(run_dir: Path) -> list[Path]:
    """The dose-response figure of B's sweep (none without one)."""
    return dose.render_c(run_dir)


def run(cfg: Config, run_dir: Path, log=print, data: ImageData | None = None,
        resume: bool = False, launch: Launch | None = None) -> dict:
    """Evaluate every model of a B run; save arrays, figures and the summary.
    Returns the summary dict (also written to ``summary.json``). ``data``:
    B's images when they were provided from Python (B's config then says
    ``provided``); it must carry B's dataset id."""
    from experiments import exp_c_analysis as analysis

    validate(cfg)
    run_dir = Path(run_dir)
    (run_dir / "figures").mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    b_dir = locate_b_run(cfg, run_dir, log)
    check_b_run(b_dir, cfg.epoch)  # every input read now, before the long part
    given = data
    _DATA.pop(str(b_dir.resolve()), None)  # read afresh: the folder may have changed
    b_summary, b_cfg, data = _b_inputs(b_dir, given)
    arms, seeds = list(b_summary["arms"]), list(b_summary["seeds"])
    log(f"  [exp C] models of {b_dir} ({data.dataset_id}): arms {', '.join(arms)}; seeds {seeds}")
    device = torch.device(cfg.device)
    paths, b_acc = b_models(b_dir, b_summary, cfg.epoch)
    grid = sorted(paths)
    A, S, P = len(arms), len(seeds), data.image_shape[-1]
    metrics = runs.JsonlLogger(run_dir / "metrics.jsonl")
    if resume:  # the per-model records are written again below, from every job
        metrics.drop(lambda r: r.get("kind") in ("curve", "heatmap"))
    ship = given if b_cfg.dataset == "provided" else None  # workers cannot load the user's images
    jobs = {(a, s): Job(f"{arms[a]}_seed{seeds[s]}", evaluate_model,
                        (cfg, str(b_dir), arms[a], seeds[s], ship),
                        job_key(cfg, paths[a, s], arms[a], seeds[s], data))
            for a, s in grid}
    done = run_jobs(list(jobs.values()), launch, device=cfg.device,
                    store=JobStore(run_dir / "jobs"), label="[exp C]", log=log,
                    headline=_headline, run_dir=run_dir)
    res = {g: done[jobs[g].name] for g in grid}

    idx = _subset(data.test_y, cfg.n_eval, cfg.noise_seed)
    hidx = _subset(data.test_y, cfg.heatmap_n, cfg.noise_seed)
    curves = make_curves(cfg, P)
    clean, clean_eval = np.empty((A, S)), np.empty((A, S))
    heat, heat_seconds = np.empty((A, S, P, P)), np.empty((A, S))
    cur = {"acc": {}, "loss": {}}
    for a, s in grid:
        r = res[a, s]
        clean[a, s], clean_eval[a, s] = float(r["clean"]), float(r["clean_eval"])
        heat[a, s], heat_seconds[a, s] = r["heat"], float(r["heat_seconds"])
    for c in curves:
        for what in ("acc", "loss"):
            cur[what][c.name] = np.stack([np.stack([np.asarray(res[a, s][f"{what}_{c.name}"],
                                                               dtype=np.float64)
                                                    for s in range(S)]) for a in range(A)])
        for a, s in grid:
            for j, level in enumerate(c.levels):
                metrics.log("curve", curve=c.name, level=level, x=c.x[j], arm=arms[a],
                            seed=seeds[s], acc=cur["acc"][c.name][a, s, j],
                            loss=cur["loss"][c.name][a, s, j])
        acc = cur["acc"][c.name]
        log(f"  [exp C] {c.name:>11s}: {len(c.levels)} levels x {len(grid)} models, "
            f"accuracy {acc[..., 0].mean():.3f} -> {acc[..., -1].mean():.3f} (mean over models)")
    for a, s in grid:
        metrics.log("heatmap", arm=arms[a], seed=seeds[s], seconds=heat_seconds[a, s],
                    mean_error=float(heat[a, s].mean()))
    cue = {}
    if "cue_low" in res[grid[0]]:
        cue = {k: np.array([[float(res[a, s][f"cue_{k}"]) for s in range(S)] for a in range(A)])
               for k in ("low", "high")}
    cur["seconds"] = sum(float(r["eval_seconds"]) for r in res.values())
    cur["images"] = sum(int(r["images"]) for r in res.values())

    arrays = dict(
        arms=np.array(arms), seeds=np.array(seeds),
        arm_labels=np.array([b_summary["arms"][n].get("label", n) for n in arms]),
        dataset_id=np.array(data.dataset_id), num_classes=np.array(data.num_classes),
        curves=np.array([c.name for c in curves]), curve_titles=np.array([c.title for c in curves]),
        curve_xlabels=np.array([c.xlabel for c in curves]),
        clean_acc=clean, clean_acc_eval=clean_eval, b_final_test_acc=b_acc,
        heatmap=heat, heat_freq=(np.arange(P) - P // 2) / P, heatmap_seconds=heat_seconds,
        hff_cutoff=np.array(b_summary.get("hff_cutoff", cfg.noise_cutoff)),
        noise_cutoff=np.array(cfg.noise_cutoff), heatmap_v=np.array(cfg.heatmap_v),
        eval_indices=idx.numpy(), heat_indices=hidx.numpy(), **b_spectra(b_dir, arms, seeds),
        **{f"cue_{k}": v for k, v in cue.items()},
        **{f"x_{c.name}": np.array(c.x) for c in curves},
        **{f"level_{c.name}": np.array(c.levels) for c in curves},
        **{f"acc_{k}": v for k, v in cur["acc"].items()},
        **{f"loss_{k}": v for k, v in cur["loss"].items()})
    runs.save_npz(run_dir / analysis.ARRAYS, **arrays)
    analysis.write_tidy(run_dir)  # exp_c_tidy.csv: the per-seed arrays in long form

    summary = analysis.summarise(arrays)
    summary.update({
        "b_run": str(b_dir), "b_epoch": cfg.epoch or b_summary.get("epochs"),
        "dataset": b_summary.get("dataset"),
        "dataset_notes": list(dict.fromkeys([*b_summary.get("dataset_notes", []), *data.notes])),
        "evaluation": {"n_eval": len(idx), "heatmap_n": len(hidx), "noise_seed": cfg.noise_seed,
                       "heatmap_v": cfg.heatmap_v, "filter_family": cfg.filter_family,
                       "device": str(device)},
        "models": [{"arm": arms[a], "seed": seeds[s], "checkpoint": str(paths[a, s]),
                    "clean_acc": clean[a, s], "b_final_test_acc": b_acc[a, s]} for a, s in grid]})
    mismatch = [(arms[a], seeds[s]) for a, s in grid if abs(clean[a, s] - b_acc[a, s]) > 1e-9]
    if mismatch:
        summary["warnings"].append(f"clean accuracy differs from B's final test accuracy for "
                                   f"{mismatch}: the test set or the weights are not B's")
    if (b_dir / dose.SWEEP).is_file():  # B's sweep: C's arms are B's, in B's order
        shutil.copyfile(b_dir / dose.SWEEP, run_dir / dose.SWEEP)
        summary["figures"].append({"file": "figures/exp_c_dose_response.png",
                                   "caption": dose.CAPTIONS["exp_c_dose_response.png"]})
    analysis.render_figures(run_dir)
    render_dose(run_dir)
    n_heat = len(hidx) * len(fq.distinct_positions(P))
    summary["wall_seconds"] = {
        "total": time.perf_counter() - t_start,
        "curves": cur["seconds"], "eval_images_per_s": cur["images"] / max(cur["seconds"], 1e-9),
        "heatmap_per_model": float(heat_seconds.mean()), "heatmap_total": float(heat_seconds.sum()),
        "heatmap_images_per_s": n_heat / float(heat_seconds.mean())}
    runs.write_json(run_dir / "summary.json", summary)
    analysis.print_summary(summary, log)
    return summary
