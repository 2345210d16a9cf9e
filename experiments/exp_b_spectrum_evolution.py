"""Experiment B: how L2 and dropout change the frequency content of the first
conv layer (docs/DEFINITIONS.md sections 2, 3, 7).

Image classifiers train under four arms (baseline, L2, dropout, L2+dropout)
and several seeds. Within a seed every arm starts from the same weights and
sees the same data order and augmentation, so ``vs_baseline`` comparisons are
paired. ``conv1``'s weights are recorded at initialisation (before any step)
and after every epoch; spectra, HFF and SSR are computed from them at the end
(``experiments/exp_b_analysis.py``) and the raw weights stay in the run folder.

Presets: ``cpu`` (small CNN on a stratified subset, the default run finishes
in under 10 minutes on a 2-core CPU) and ``gpu`` (CIFAR ResNet-18 on all of
CIFAR-10, the seed's 50 epochs, bf16 autocast + channels_last). Measured
numbers are in the README ("Experiment B").
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from data.digest import check_data, data_digest
from data.images import ImageData, load_image_data
from experiments import dose
from models import build_model
from utils import checkpoints as ckpt
from utils import runs, training
from utils.config import Range, check_numbers
from utils.executor import Job, Launch, run_jobs
from utils.optim import make_optimizer, make_schedule
from utils.progress import throttle
from utils.regimen import Regimen, build_regimens, shorthand_arms, sweep_axis

NAME = "exp_b"
STABLE_FIGURES = ("exp_b_spectrum_evolution.png", "exp_b_ssr_comparison.png",
                  "exp_b_accuracy.png", "exp_b_hff.png")


@dataclass(frozen=True)
class Config:
    # --- data (docs/DEFINITIONS.md 8): "auto" = CIFAR-10 if on disk or downloadable, else synthetic
    dataset: str = "auto"                 # auto | cifar10 | cifar10-jpeg | fashion-mnist | imagefolder | synthetic
    data_root: str | None = None          # where the dataset lives (default: ~/.cache/freqreg/data)
    data_seed: int = 0                    # fixes subsets / the synthetic set across training seeds
    n_train: int | None = None            # stratified training subset (None = all)
    n_test: int | None = None             # stratified test subset (None = all)
    # --- model
    model: str = "small_cnn"              # small_cnn (CPU) | resnet18 (GPU)
    k1: int = 5                           # small_cnn first-layer kernel: 5 gives conv1 a spectrum to show
    widths: tuple[int, ...] = (16, 32, 64)  # 3,300 img/s here; 32-64-128 only 1,000
    norm: str = "batch"                   # batch | none: the no-batch-norm variant, where L2 acts
                                          # on conv1 directly (models/cnn.py, models/resnet.py)
    # --- optimisation: SGD + Nesterov momentum, warm-up then cosine, per step
    epochs: int = 10
    batch_size: int = 256
    lr: float = 0.05
    momentum: float = 0.9
    schedule: str = "cosine"              # cosine | onecycle | constant
    warmup_epochs: float = 0.5
    # --- arms: each a regimen (utils/regimen.py). The base regimen (what the
    # shorthands and a sweep start from) is augment, l2_mode, dropout_at,
    # label_smoothing and input_noise below; l2_reg and dropout are the
    # strengths of the shorthands l2, dropout, l2+dropout.
    # Default arms (docs/DEFINITIONS.md 9.5): L2 as a penalty and decoupled, each at a strength
    # that measurably changes the network, dropout before the classifier and in the conv stack.
    arms: tuple[str, ...] = ("baseline", "l2", "l2w:l2=5e-2,l2_mode=decoupled", "dropout",
                             "dropconv:dropout=0.1,dropout_at=conv")  # or NAME:knob=value,...
    l2_reg: float = 5e-3                  # lambda in lambda * sum ||W||^2 (conv + linear weights)
    l2_mode: str = "penalty"              # penalty | decoupled (SGDW: W <- W - lr*lambda*W)
    sweep: str = ""                       # one knob over values, e.g. "l2=0,1e-4,5e-4,1e-3"
    dropout: float = 0.5                  # rate of the dropout shorthands
    dropout_at: str = "classifier"        # classifier (the seed's ResNet18) | conv (Dropout2d
                                          # after every conv block / residual stage)
    augment: bool = True                  # random crop (pad 4) + flip, batched on the device
    label_smoothing: float = 0.0          # off: a regulariser of its own (arm knob)
    input_noise: float = 0.0              # sigma of Gaussian noise on [0, 1] pixels (arm knob)
    seeds: tuple[int, ...] = (0, 1, 2)
    # --- measurement
    hff_cutoff: float = 0.25              # c/p; white noise on 32x32 has HFF(0.25) ~ 0.81
    track_all_convs: bool = False         # also every conv layer's radial spectrum per epoch
    input_grad_images: int = 200          # test images (fixed by data_seed) whose input-gradient
                                          # spectrum and HFF are recorded every epoch (0 = off;
                                          # docs/DEFINITIONS.md 2.5): the primary statistic of
                                          # claims l2_lowpass and dropout_highfreq
    eval_batch_size: int = 1000
    keep_epochs: tuple[int, ...] = ()     # also keep each model after these epochs (early
                                          # stopping: experiment C evaluates them with epoch=E)
    # --- execution
    device: str = "cpu"
    compile: bool = False                 # torch.compile on CUDA
    progress: bool = True                 # per-epoch tqdm bars when stderr is a terminal (jobs in
                                          # this process); otherwise a step line every 5 s

    def quick(self) -> "Config":
        """Every axis shrunk, same code path."""
        return dataclasses.replace(self, n_train=min(self.n_train or 512, 512),
                                   n_test=min(self.n_test or 256, 256), epochs=2, batch_size=64,
                                   widths=(8, 16, 32) if self.model == "small_cnn" else self.widths,
                                   model="small_cnn", seeds=self.seeds[:2], warmup_epochs=0.0)


# Presets sized for the device (README "Experiment B" has the measured times).
PRESETS = {
    # 4 arms x 3 seeds x 8 epochs x 10k images: under 10 minutes on a 2-core CPU.
    # Evaluation in batches of 500: on the 2-core CPU a batch of 1,000 SmallCNN
    # activations falls out of cache and the 2,000 test images took 0.42 s
    # against 0.25 to 0.29 s in batches of 200 to 512 (median of 7).
    "cpu": dict(model="small_cnn", n_train=10_000, n_test=2_000, epochs=8, batch_size=256,
                lr=0.05, warmup_epochs=0.5, eval_batch_size=500),
    # The seed project's setting: CIFAR ResNet-18, all of CIFAR-10, 50 epochs.
    "gpu": dict(model="resnet18", n_train=None, n_test=None, epochs=50, batch_size=512,
                lr=0.2, warmup_epochs=2.0, eval_batch_size=1000),
}


# Named presets on top of the device's (main.py --preset NAME). "study": 10
# seeds, where effects of about one SD become detectable. At 3 seeds the paired t-test detects (power 0.8) only
# effects of 3.3 to 5.7 SDs of the paired differences (alpha 0.05 alone to
# alpha 0.05/3, Holm's first step over 3 arms; utils.stats.
# minimal_detectable_effect); at 10 seeds 1.0 to 1.2. Whether that is enough
# depends on the spread: on synthetic-v2 it decides C's claim, not B's (the
# input-gradient HFF's SESOI needs about 100-200 seeds there; every
# undetermined verdict states its own number: utils.stats.seeds_for_effect).
STUDY_SEEDS = tuple(range(10))
NAMED_PRESETS = {"study": dict(seeds=STUDY_SEEDS)}


def preset(cfg: Config, device: str, name: str | None = None) -> Config:
    """Apply the preset for ``device`` ("cuda..." -> gpu, else cpu), then the
    named one (``None`` or a key of :data:`NAMED_PRESETS`)."""
    cfg = dataclasses.replace(cfg, **PRESETS["gpu" if device.startswith("cuda") else "cpu"])
    if name is None:
        return cfg
    if name not in NAMED_PRESETS:
        raise ValueError(f"preset: expected one of {list(NAMED_PRESETS)}, got {name!r}")
    return dataclasses.replace(cfg, **NAMED_PRESETS[name])


# Ranges of the numeric fields (utils.config.check_numbers: finiteness for all).
RANGES = {"data_seed": Range(ge=0, integer=True), "n_train": Range(ge=1, integer=True),
          "n_test": Range(ge=1, integer=True), "k1": Range(ge=1, integer=True),
          "widths": Range(ge=1, integer=True), "epochs": Range(ge=1, integer=True),
          "batch_size": Range(ge=1, integer=True), "lr": Range(gt=0),
          "momentum": Range(ge=0, lt=1), "warmup_epochs": Range(ge=0),
          "l2_reg": Range(ge=0), "dropout": Range(ge=0, lt=1),
          "label_smoothing": Range(ge=0, lt=1), "input_noise": Range(ge=0, le=1),
          "seeds": Range(ge=0, integer=True), "hff_cutoff": Range(gt=0, lt=0.5 * 2 ** 0.5),
          "eval_batch_size": Range(ge=1, integer=True), "keep_epochs": Range(ge=1, integer=True),
          "input_grad_images": Range(ge=0, integer=True)}


def base_regimen(cfg: Config) -> Regimen:
    """What every arm starts from (see the Config's arms block)."""
    return Regimen(name="baseline", l2_mode=cfg.l2_mode, dropout_at=cfg.dropout_at,
                   label_smoothing=cfg.label_smoothing,
                   augment="crop_flip" if cfg.augment else "none", input_noise=cfg.input_noise)


def build_arms(cfg: Config) -> list[Regimen]:
    base = base_regimen(cfg)
    return build_regimens(cfg.arms, base, shorthand_arms(base, cfg.l2_reg, cfg.dropout),
                          cfg.sweep, placements=("classifier", "conv"))


def validate(cfg: Config) -> None:
    from data.images import DATASET_NAMES
    from models import MODELS, check_model_trusted, resolve_model_factory

    check_numbers(cfg, RANGES)
    if cfg.dataset not in DATASET_NAMES:
        raise ValueError(f"dataset: expected one of {list(DATASET_NAMES)}, got {cfg.dataset!r}")
    if ":" in cfg.model:  # bring your own: "pkg.module:factory" (models.resolve_model_factory)
        check_model_trusted(cfg.model, "the config")  # before anything is imported
        resolve_model_factory(cfg.model)
    elif cfg.model not in MODELS:
        raise ValueError(f"model: expected one of {sorted(MODELS)} or an import path "
                         f"'pkg.module:factory', got {cfg.model!r}")
    if cfg.norm not in ("batch", "none"):
        raise ValueError(f"norm: expected batch or none, got {cfg.norm!r}")
    if cfg.l2_mode not in ("penalty", "decoupled"):
        raise ValueError(f"l2_mode: expected penalty or decoupled, got {cfg.l2_mode!r}")
    if cfg.schedule not in ("cosine", "onecycle", "constant"):
        raise ValueError(f"schedule: expected cosine, onecycle or constant, got {cfg.schedule!r}")
    if not cfg.seeds or len(set(cfg.seeds)) != len(cfg.seeds):
        raise ValueError(f"seeds: expected distinct seeds, at least one, got {cfg.seeds}")
    if cfg.warmup_epochs > cfg.epochs:
        raise ValueError(f"warmup_epochs: expected <= epochs={cfg.epochs}, got {cfg.warmup_epochs}")
    if cfg.n_train is not None and cfg.batch_size > cfg.n_train:
        raise ValueError(f"batch_size: expected at most n_train={cfg.n_train}, got {cfg.batch_size}")
    if cfg.model == "small_cnn" and cfg.k1 % 2 == 0:
        raise ValueError(f"k1: expected an odd kernel size, got {cfg.k1}")
    if cfg.model == "small_cnn" and cfg.k1 > 15:
        raise ValueError(f"k1: expected a kernel of at most 15 pixels (the images are 28-32), "
                         f"got {cfg.k1}")
    if any(e > cfg.epochs for e in cfg.keep_epochs):
        raise ValueError(f"keep_epochs: expected epochs in 1..{cfg.epochs}, got {cfg.keep_epochs}")
    if cfg.compile and not cfg.device.startswith("cuda"):
        raise ValueError("compile: torch.compile is for CUDA runs; got device cpu")
    build_arms(cfg)


def model_kwargs(cfg: Config) -> dict:
    if cfg.model == "small_cnn":
        return {"k1": cfg.k1, "widths": list(cfg.widths), "norm": cfg.norm}
    if cfg.model == "resnet18":
        return {"norm": cfg.norm}
    return {}


def subset_like(cfg: Config, data: ImageData) -> ImageData:
    """Images given from Python, cut to the run's subsets exactly as a
    built-in set is (the same seeded stratified draw)."""
    from data.images import subset_image_data
    return subset_image_data(data, cfg.n_train, cfg.n_test, cfg.data_seed)


def load_data(cfg: Config) -> ImageData:
    """The dataset record (raises DatasetUnavailable with a clear message)."""
    return load_image_data(cfg.dataset, cfg.data_root, seed=cfg.data_seed,
                           n_train=cfg.n_train, n_test=cfg.n_test)


def new_model(cfg: Config, data: ImageData, arm: Regimen | None = None) -> torch.nn.Module:
    """The network of ``arm`` (its dropout and placement; None: no dropout).
    A model given as ``pkg.module:factory`` is built by the user's factory
    with ``(num_classes, in_channels, regimen)`` (models.resolve_model_factory):
    the factory decides what the regimen's dropout means for it; its
    parameter names must not depend on the regimen, since every arm of a
    seed loads the same initial weights."""
    if ":" in cfg.model:
        from models import resolve_model_factory
        return resolve_model_factory(cfg.model)(num_classes=data.num_classes,
                                                in_channels=data.image_shape[0],
                                                regimen=arm or base_regimen(cfg))
    dropout, at = (0.0, "classifier") if arm is None or arm.dropout == 0 else (arm.dropout,
                                                                             arm.dropout_at)
    return build_model(cfg.model, data.num_classes, data.image_shape[0], dropout, dropout_at=at,
                       **{k: tuple(v) if isinstance(v, list) else v
                          for k, v in model_kwargs(cfg).items()})


def initial_state(cfg: Config, data: ImageData, seed: int) -> dict:
    """The weights every arm of ``seed`` starts from (global RNG untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return new_model(cfg, data, None).state_dict()


def checkpoint_meta(cfg: Config, data: ImageData, arm: Regimen, seed: int) -> dict:
    """What a checkpoint must match to be resumed or evaluated (experiment C)."""
    return {"model": cfg.model, "model_kwargs": model_kwargs(cfg), "dataset_id": data.dataset_id,
            "data_sha256": data_digest(data), "num_classes": data.num_classes, "in_channels": data.image_shape[0],
            "mean": list(data.mean), "std": list(data.std), "arm": arm.name, "seed": seed,
            "dropout": arm.dropout, "dropout_at": arm.dropout_at, "l2": arm.l2,
            "l2_mode": arm.l2_mode, "regimen": arm.knobs(), "epochs": cfg.epochs}


def conv_layers(model: torch.nn.Module) -> dict[str, torch.nn.Conv2d]:
    from utils.frequency import conv_layers as every_conv
    return every_conv(model)


def spectrum_tracker(model: torch.nn.Module, shape, cfg: Config):
    """The library's tracker of conv1 (every conv layer that runs, with
    ``track_all_convs``), kernels padded to each layer's input size. It keeps
    only the latest weights: the job saves its own history every epoch."""
    from utils.frequency import SpectrumTracker, conv_input_resolutions
    layers = list(conv_input_resolutions(model, shape)) if cfg.track_all_convs else ["conv1"]
    return SpectrumTracker(model, layers, input_shape=shape, cutoff=cfg.hff_cutoff,
                           keep_weights=False)


def spectra_record(tracker, epoch: int, all_convs: bool) -> dict:
    """One epoch's entry of the history: conv1's weights (float32, on the
    CPU; its spectra, HFF and SSR come from them in exp_b_analysis) and,
    with ``all_convs``, every tracked layer's ring energies
    (``conv_spec/<name>``: power averaged over kernels)."""
    tracker.snapshot(epoch)
    latest = tracker.latest()
    rec = {"conv1": latest["conv1"]["weight"]}
    if all_convs:
        rec.update({f"conv_spec/{name}": v["energy"] for name, v in latest.items()})
    return rec


def input_grad_indices(cfg: Config, n_test: int) -> np.ndarray:
    """The fixed test images of the input-gradient measure: ``input_grad_images``
    of them (all when fewer exist) drawn without replacement by ``data_seed``,
    the same for every arm and seed (sorted)."""
    k = min(cfg.input_grad_images, n_test)
    return np.sort(np.random.default_rng([cfg.data_seed, 22]).choice(n_test, k, replace=False))



# Config fields that change what a job computes; with the regimen, the seed,
# the data and the thread count they are the job's key, stored in its
# checkpoint and history (a resume continues only the same computation).
JOB_FIELDS = ("dataset", "data_seed", "n_train", "n_test", "model", "k1", "widths", "norm",
              "epochs", "batch_size", "lr", "momentum", "schedule", "warmup_epochs",
              "track_all_convs", "eval_batch_size", "input_grad_images", "device", "compile")


def job_key(cfg: Config, data: ImageData, arm: Regimen, seed: int, threads: int) -> dict:
    return {"config": {f: getattr(cfg, f) for f in JOB_FIELDS}, "dataset_id": data.dataset_id,
            "data_sha256": data_digest(data), "threads": threads, "arm": arm.name,
            "regimen": arm.knobs(), "seed": seed}


_WHOSE = ("arm", "regimen", "seed")  # a file whose key differs here is another job's


def resume_point(run_dir: Path, key: dict) -> tuple[int, list[dict], str | None]:
    """Where the job of ``key`` continues: ``(epochs done, history so far,
    note)``. A checkpoint of this job computed with another config or thread
    count raises CheckpointError naming the field (the folder's config.json
    was changed: refuse). A missing, damaged or foreign (another arm's or
    seed's) checkpoint or history is a miss: ``(0, [], why)``, the job runs
    again from its initial weights, never keeps what it found."""
    from utils.jobs import key_difference
    ckpt_path, hist_path = job_paths(run_dir, key["arm"], key["seed"])
    if not ckpt_path.is_file():
        return 0, [], None
    try:
        saved = ckpt.load_checkpoint(ckpt_path)
    except ckpt.CheckpointError as e:
        return 0, [], f"{e}; the job runs again"
    skey = saved["meta"].get("job_key") if isinstance(saved["meta"], dict) else None
    if not isinstance(skey, dict) or key_difference({k: skey.get(k) for k in _WHOSE},
                                                    {k: key[k] for k in _WHOSE}):
        return 0, [], f"{ckpt_path} belongs to another job; the job runs again"
    diff = key_difference(skey, key)
    if diff:
        raise ckpt.CheckpointError(
            f"--resume: {ckpt_path} was computed with another setting ({diff}): the folder's "
            f"config.json changed since; restore it, or start a new run with --config")
    start = int(saved["epoch"])
    history = load_history(hist_path, key)[: start + 1]
    if [h["epoch"] for h in history] != list(range(start + 1)):
        return 0, [], (f"{hist_path} is missing, damaged or another job's (epochs 0..{start} "
                       f"expected); the job runs again")
    return start, history, None


def job_paths(run_dir: Path, arm: Regimen | str, seed: int) -> tuple[Path, Path]:
    arm = arm if isinstance(arm, str) else arm.name
    stem = f"{arm}_seed{seed}"
    return (run_dir / "checkpoints" / f"{stem}.pt", run_dir / "history" / f"{stem}.npz")


PROGRESS_SECONDS = 5.0        # a pool worker's progress lines on stderr (as A's): the first
FIRST_PROGRESS_SECONDS = 1.0  # this far into the job, then at most every PROGRESS_SECONDS


def step_progress(name: str, epochs: int):
    """``for_epoch(epoch)`` -> ``progress(step, steps)`` of job ``name``: a
    line on stderr (pool workers write there too) :data:`FIRST_PROGRESS_SECONDS`
    into the job, then at most every :data:`PROGRESS_SECONDS`, never for a
    finished epoch."""
    due = throttle(PROGRESS_SECONDS, FIRST_PROGRESS_SECONDS)

    def for_epoch(epoch: int):
        def progress(step: int, steps: int) -> None:
            if step < steps and due():
                print(f"  [exp B] {name}: epoch {epoch + 1}/{epochs}, step {step:,}/{steps:,}",
                      file=sys.stderr, flush=True)
        return progress
    return for_epoch


def train_job(cfg: Config, data: ImageData, arm: Regimen, seed: int, init: dict, run_dir: Path,
              tensors, metrics: runs.JsonlLogger, resume: bool) -> dict:
    """Train one (arm, seed); record conv1 at init and after every epoch.

    The history file (weights and metrics per epoch) and the checkpoint are
    both written atomically after every epoch, history first, so a resumed
    job continues from the checkpoint's epoch with an identical result."""
    from utils.frequency import input_gradient_spectrum

    device = torch.device(cfg.device)
    settings = training.device_settings(device)
    x_tr, y_tr, x_te, y_te = tensors
    model = new_model(cfg, data, arm)
    model.load_state_dict(init)
    model = training.place_model(model, device, settings["channels_last"])
    opt = make_optimizer(model, arm, lr=cfg.lr, momentum=cfg.momentum)
    steps = training.steps_per_epoch(x_tr.shape[0], cfg.batch_size)
    sched = make_schedule(opt, cfg.schedule, total_steps=steps * cfg.epochs,
                          warmup_steps=min(steps * cfg.epochs, int(round(cfg.warmup_epochs * steps))))
    key = job_key(cfg, data, arm, seed, torch.get_num_threads())
    meta = {**checkpoint_meta(cfg, data, arm, seed), "job_key": key}
    ckpt_path, hist_path = job_paths(run_dir, arm, seed)
    tracker = spectrum_tracker(model, data.image_shape, cfg)
    eval_kw = dict(mean=data.mean, std=data.std, batch_size=cfg.eval_batch_size, device=device,
                   amp_dtype=settings["amp_dtype"], channels_last=settings["channels_last"])
    ig_idx = torch.from_numpy(input_grad_indices(cfg, x_te.shape[0]))
    # the gradient is taken w.r.t. the normalised input the model sees
    shape = (1, -1, 1, 1)
    ig_x = ((x_te[ig_idx].double() - torch.tensor(data.mean, dtype=torch.float64).view(shape))
            / torch.tensor(data.std, dtype=torch.float64).view(shape)).float()
    ig_y = y_te[ig_idx]

    def snapshot(epoch: int, tr: dict | None) -> dict:
        ev = training.evaluate(model, x_te, y_te, **eval_kw)
        rec = {"epoch": epoch, "test_acc": ev["acc"], "test_loss": ev["loss"],
               "train_acc": tr["acc"] if tr else float("nan"),
               "train_loss": tr["loss"] if tr else float("nan"),
               **spectra_record(tracker, epoch, cfg.track_all_convs)}
        if len(ig_idx):
            ig = input_gradient_spectrum(model, ig_x, ig_y, cutoff=cfg.hff_cutoff,
                                         batch_size=min(cfg.eval_batch_size, 256), device=device)
            rec.update(ig_hff=ig.hff, ig_energy=ig.energy, ig_hff_images=ig.hff_per_image)
        return rec

    history: list[dict] = []
    start = 0
    if resume:
        start, history, _ = resume_point(run_dir, key)
        if start:
            ckpt.load_checkpoint(ckpt_path, model=model, optimizer=opt, scheduler=sched)
    if not history:
        history = [snapshot(0, None)]  # initialisation: before the first optimiser step
    model = training.maybe_compile(model, cfg.compile and device.type == "cuda")
    t0 = time.perf_counter()
    n_images = 0
    # a bar on this process's terminal; from a pool worker (or without a
    # terminal) a line now and then: a default epoch on a CPU takes minutes
    bar = multiprocessing.parent_process() is None and sys.stderr.isatty()
    lines = step_progress(f"{arm.name}_seed{seed}", cfg.epochs)
    for epoch in range(start, cfg.epochs):
        tr = training.train_one_epoch(
            model, x_tr, y_tr, optimizer=opt, scheduler=sched, batch_size=cfg.batch_size,
            mean=data.mean, std=data.std, epoch=epoch, seed=seed, regimen=arm, device=device,
            amp_dtype=settings["amp_dtype"], channels_last=settings["channels_last"],
            progress=cfg.progress and (True if bar else lines(epoch)))
        n_images += tr["steps"] * cfg.batch_size
        rec = snapshot(epoch + 1, tr)
        history.append(rec)
        # History, metrics, then the checkpoint: a resume continues from the
        # checkpoint and rewrites whatever of the other two came after it.
        save_history(hist_path, history, key)
        metrics.log("epoch", arm=arm.name, seed=seed, epoch=epoch + 1, train_loss=tr["loss"],
                    train_acc=tr["acc"], test_loss=rec["test_loss"], test_acc=rec["test_acc"],
                    lr=tr["lr"], images_per_s=tr["images_per_s"], seconds=tr["seconds"])
        if epoch + 1 in cfg.keep_epochs:  # before the resume point moves past it
            ckpt.save_checkpoint(ckpt_path.with_name(f"{ckpt_path.stem}_epoch{epoch + 1}.pt"),
                                 model=model, optimizer=None, scheduler=None, epoch=epoch + 1,
                                 meta=meta)
        ckpt.save_checkpoint(ckpt_path, model=model, optimizer=opt, scheduler=sched,
                             epoch=epoch + 1, meta=meta)
    seconds = time.perf_counter() - t0
    return {"history": history, "seconds": seconds, "images": n_images, "resumed_from": start}


# Data of this process, by what defines it: a pool worker loads a run's
# images once for all its jobs; the parent process puts its own copy here.
_DATA: dict[str, ImageData] = {}


def _data_key(cfg: Config) -> str:
    return json.dumps([cfg.dataset, cfg.data_root, cfg.data_seed, cfg.n_train, cfg.n_test])


def run_job(cfg: Config, arm: Regimen, seed: int, run_dir: str, resume: bool, dataset_id: str,
            digest: str, data: ImageData | None = None) -> dict:
    """One (arm, seed) as a job (utils.executor): loads the run's data in
    this process (once), trains, returns the history. ``dataset_id`` and
    ``digest`` (data.digest): what the run resolved; a worker that finds other
    data (``auto`` on another machine, other bytes) stops rather than train on it."""
    if data is None:
        key = _data_key(cfg)
        if key not in _DATA:
            _DATA[key] = load_data(cfg)
        data = _DATA[key]
    check_data(data, dataset_id, digest)
    device = torch.device(cfg.device)
    tensors = (data.train_x.to(device), data.train_y.to(device), data.test_x, data.test_y)
    metrics = runs.JsonlLogger(Path(run_dir) / "metrics.jsonl")
    return train_job(cfg, data, arm, seed, initial_state(cfg, data, seed), Path(run_dir),
                     tensors, metrics, resume)


def _headline(job, out: dict) -> str:
    h = out["history"]
    again = f"resumed after epoch {out['resumed_from']}; " if out["resumed_from"] else ""
    return (f"{again}test acc {h[-1]['test_acc']:.3f} after {h[-1]['epoch']} epochs, "
            f"{out['images'] / max(out['seconds'], 1e-9):,.0f} train images/s incl. eval")


_HISTORY_KEY = "__job_key__"


def save_history(path: Path, history: list[dict], key: dict | None = None) -> None:
    """One array per key, epochs along axis 0 (atomic), with the job's key."""
    arrays = {k: np.stack([np.asarray(h[k]) for h in history]) for k in history[0]}
    if key is not None:
        arrays[_HISTORY_KEY] = np.array(json.dumps(_plain_key(key), sort_keys=True))
    runs.save_npz(path, **arrays)


def _plain_key(key: dict):
    return json.loads(json.dumps(key, sort_keys=True, default=list))


def load_history(path: Path, key: dict | None = None) -> list[dict]:
    """Inverse of :func:`save_history`: empty when there is no readable file,
    or (with ``key``) when it was saved for another job."""
    import zipfile
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        if key is not None and (_HISTORY_KEY not in arrays or json.loads(
                str(arrays[_HISTORY_KEY])) != _plain_key(key)):
            return []
        arrays.pop(_HISTORY_KEY, None)
        return [{k: (v[i].item() if v.ndim == 1 else v[i]) for k, v in arrays.items()}
                for i in range(arrays["epoch"].shape[0])]
    except (OSError, ValueError, EOFError, KeyError, IndexError, zipfile.BadZipFile):
        return []  # missing, torn or foreign: the job runs again


def preflight(cfg: Config, data: ImageData) -> None:
    """Before any folder: the batch fits the data, and the network (built
    once aside, global RNG untouched) takes two blank images of the data's
    shape and returns one logit per class (models.check_forward)."""
    from models import check_forward
    n = data.train_x.shape[0]
    if cfg.batch_size > n:
        raise ValueError(f"batch_size: expected at most the {n} training images, got "
                         f"{cfg.batch_size}")
    with torch.random.fork_rng(devices=[]):
        model = new_model(cfg, data, None)
    check_forward(model, data.num_classes, tuple(data.image_shape), cfg.model)


def prepare(cfg: Config, data: ImageData | None = None, parts: tuple[str, ...] = ()) -> ImageData:
    """The data, before any work (main calls this to fail fast): loaded, or
    ``data`` given from Python cut as a built-in set is."""
    return load_data(cfg) if data is None else subset_like(cfg, data)


def run(cfg: Config, run_dir: Path, log=print, resume: bool = False,
        data: ImageData | None = None, launch: Launch | None = None) -> dict:
    """Train every arm and seed, save histories and checkpoints, then analyse
    and draw (``exp_b_analysis``). Returns the summary (also ``summary.json``).
    ``data``: the record from :func:`prepare` (loaded here when None)."""
    from experiments import exp_b_analysis as analysis

    validate(cfg)
    run_dir = Path(run_dir)
    (run_dir / "figures").mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    if data is None:  # given data: its notes were said where it was prepared (runner.start)
        data = load_data(cfg)
        for note in data.notes:
            log(f"NOTE: {note}")
    log(f"  [exp B] dataset {data.dataset_id}: {data.train_x.shape[0]} train / "
        f"{data.test_x.shape[0]} test images {tuple(data.image_shape)}, {data.num_classes} classes")
    arms = build_arms(cfg)
    metrics = runs.JsonlLogger(run_dir / "metrics.jsonl")
    if resume:  # lines of epochs a checkpoint does not hold are written again by its job
        threads = (launch or Launch(workers=1)).threads  # what the jobs run with (run_jobs)
        starts = {}
        for arm in arms:  # a changed config refuses here, before any work
            for seed in cfg.seeds:
                start, _, note = resume_point(run_dir, job_key(cfg, data, arm, seed,
                                                                threads))
                starts[arm.name, seed] = start
                if note:
                    log(f"NOTE: {note}")
        metrics.drop(lambda r: r.get("kind") == "epoch" and r.get("epoch", 0) > starts.get(
            (r.get("arm"), r.get("seed")), 0))
    _DATA[_data_key(cfg)] = data
    ship = data if cfg.dataset == "provided" else None  # workers cannot load the user's images
    jobs = [Job(f"{arm.name}_seed{seed}", run_job,
                (cfg, arm, seed, str(run_dir), resume, data.dataset_id, data_digest(data), ship))
            for seed in cfg.seeds for arm in arms]
    t_jobs = time.perf_counter()
    done = run_jobs(jobs, launch, device=cfg.device, label="[exp B]", log=log,
                    headline=_headline, run_dir=run_dir)
    jobs_wall = time.perf_counter() - t_jobs
    results, train_seconds, images = {}, 0.0, 0
    for job in jobs:
        arm, seed = job.args[1], job.args[2]
        results[arm.name, seed] = done[job.name]["history"]
        train_seconds += done[job.name]["seconds"]
        images += done[job.name]["images"]
    summary = analysis.analyse_and_save(cfg, data, arms, results, run_dir)
    summary["data_sha256"] = data_digest(data)
    summary["regimens"] = {a.name: a.knobs() for a in arms}
    summary["kept_epochs"] = sorted(cfg.keep_epochs)
    # training: the jobs' own seconds, summed; jobs: the wall time they took
    # together (less with jobs at once); images_per_s_all_jobs: the aggregate.
    summary["wall_seconds"] = {"training": train_seconds, "jobs": jobs_wall,
                               "train_images_per_s": images / max(train_seconds, 1e-9),
                               "train_images_per_s_all_jobs": images / max(jobs_wall, 1e-9)}
    dose.save_axis(run_dir, sweep_axis(arms, cfg.sweep, base_regimen(cfg)), [a.name for a in arms])
    with np.load(run_dir / analysis.ARRAYS) as z:
        dose_table = dose.b_table(run_dir, {k: z[k] for k in ("ssr_base_norm", "test_acc", "hff",
                                                           "ig_hff")})
    if dose_table:
        summary["tables"].append(dose_table)
        summary["figures"].append({"file": "figures/exp_b_dose_response.png",
                                   "caption": dose.CAPTIONS["exp_b_dose_response.png"]})
    render_figures(run_dir, cfg)
    render_dose(run_dir)
    summary["wall_seconds"]["total"] = time.perf_counter() - t_start
    runs.write_json(run_dir / "summary.json", summary)
    analysis.print_summary(summary, log)
    return summary


def render_figures(run_dir: Path, cfg: Config | None = None) -> list[Path]:
    """Redraw every figure of a finished B run from its saved arrays."""
    from experiments import exp_b_analysis as analysis
    return analysis.render_figures(run_dir, cfg)


def render_dose(run_dir: Path) -> list[Path]:
    """The dose-response figure of a sweep (none without one)."""
    return dose.render_b(run_dir)


def config_from_run(run_dir: Path) -> Config:
    from utils.config import config_from_fields
    return config_from_fields(Config, runs.read_json(Path(run_dir) / "config.json")["experiments"]["b"])
