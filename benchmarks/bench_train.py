"""Question 1, training loop against bare step: how much does experiment B's
training loop cost beyond the bare network step, and where does its epoch
go? Prints images/s and ratios; asserts nothing. (Its data pipeline against
torchvision's DataLoader: ``bench_data.py``.)

Variants, each on the same 10,000 training images (a stratified subset of
the JPEG copy of CIFAR-10, or the synthetic set where that is missing), the
same SmallCNN (16-32-64, k1=5, the CPU preset's), the same initial weights,
batch 256, channels_last, float32:

* ``B train_job (l2 arm)``: ``experiments.exp_b_spectrum_evolution.train_job``
  as the CPU preset runs it: uint8 data in memory, batched crop + flip,
  the L2 penalty in the loss, per-step metrics, and after every epoch the
  evaluation on 2,000 test images, the conv1 snapshot, the history ``.npz``
  and the checkpoint (written to a temporary folder). Its own timer covers
  the epoch loop (what B logs); the whole call also includes building the
  model and the snapshot at initialisation.
* ``bare step``: forward, cross-entropy, backward, SGD step on slices of one
  pre-normalised float tensor: no augmentation, no penalty, no metrics.
* ``engine ...``: ``utils.training.train_one_epoch`` alone, with and without
  crop + flip and the penalty, to show where the difference goes.

Then where B's epoch goes (training, test evaluation, spectrum tracking,
input-gradient spectrum, history, checkpoint, metrics), each call timed in
place inside ``train_job``.

Targets: B's loop >= 0.90 x the bare step; spectrum tracking < 1% of an epoch.

Run from the repository root: ``python benchmarks/bench_train.py``
(``--smoke``: one round of one epoch on 512 images).
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from pathlib import Path

from common import (add_b_flags, b_model_factory, base_parser, engine_rate, interleave, load_b_cpu,
                    print_ratio, print_table, round_ratios, setup, spread)

import torch  # noqa: E402  (common puts the repository root on sys.path first)
import torch.nn.functional as F  # noqa: E402

from experiments import exp_b_spectrum_evolution as exp_b  # noqa: E402
from utils import frequency as fq  # noqa: E402
from utils import runs, training  # noqa: E402
from utils.regimen import Regimen  # noqa: E402

TARGET_VS_BARE = 0.90


# Where B's epoch loop spends its time: (owner, attribute) of every call that
# train_job makes once per epoch, timed by wrapping it for one call. The
# snapshot's three (evaluation and the two spectra) also run once at init.
PHASES = {
    "train_one_epoch": (training, "train_one_epoch"),
    "test evaluation": (training, "evaluate"),
    "spectrum tracking": (exp_b, "spectra_record"),
    "input-gradient spectrum": (fq, "input_gradient_spectrum"),
    "history .npz": (exp_b, "save_history"),
    "checkpoint": (exp_b.ckpt, "save_checkpoint"),
    "metrics.jsonl": (runs.JsonlLogger, "log"),
}


SNAPSHOT = ("test evaluation", "spectrum tracking", "input-gradient spectrum")
TARGET_TRACKING = 0.01   # spectrum tracking: under 1% of an epoch


@contextlib.contextmanager
def timed_phases(totals: dict[str, float]):
    """Wrap every function of :data:`PHASES` so that its wall time adds to
    ``totals[name]``; the originals are restored on exit."""
    originals = {name: getattr(owner, attr) for name, (owner, attr) in PHASES.items()}

    def wrap(name, fn):
        def timed(*a, **kw):
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                totals[name] = totals.get(name, 0.0) + time.perf_counter() - t0
        return timed

    try:
        for name, (owner, attr) in PHASES.items():
            setattr(owner, attr, wrap(name, originals[name]))
        yield totals
    finally:
        for name, (owner, attr) in PHASES.items():
            setattr(owner, attr, originals[name])


def main(argv=None) -> None:
    p = base_parser(__doc__.splitlines()[0], repeats=5)
    add_b_flags(p)
    p.add_argument("--no-breakdown", action="store_true",
                   help="skip the train_one_epoch-only variants (default: run them)")
    args = p.parse_args(argv)
    if args.smoke:
        args.repeats = 1
    setup(args)
    cfg, data = load_b_cpu(args)
    arm = next(a for a in exp_b.build_arms(cfg) if a.name == "l2")
    init = exp_b.initial_state(cfg, data, 0)
    fresh = b_model_factory(cfg, data, init)
    x_tr, y_tr = data.train_x, data.train_y
    tensors = (x_tr, y_tr, data.test_x, data.test_y)
    bs, epochs = cfg.batch_size, cfg.epochs
    steps = training.steps_per_epoch(x_tr.shape[0], bs)
    images = steps * bs * epochs
    mean = torch.tensor(data.mean).view(1, -1, 1, 1)
    std = torch.tensor(data.std).view(1, -1, 1, 1)
    print(f"# data {data.dataset_id}: {x_tr.shape[0]} train / {data.test_x.shape[0]} test; "
          f"SmallCNN {cfg.widths}, k1={cfg.k1}; batch {bs}; {epochs} epoch(s) = {images} images "
          f"per measurement; B arm {arm.label()}")

    loop_rate: list[float] = []
    phase_rounds: list[dict[str, float]] = []

    def b_train_job() -> float:
        with tempfile.TemporaryDirectory(prefix="bench_train_") as tmp:
            metrics = runs.JsonlLogger(Path(tmp) / "metrics.jsonl")
            t0 = time.perf_counter()
            with timed_phases({}) as phases:
                out = exp_b.train_job(cfg, data, arm, 0, init, Path(tmp), tensors, metrics,
                                      resume=False)
            wall = time.perf_counter() - t0
        # The snapshot at initialisation is outside the epoch loop.
        for name in SNAPSHOT:
            phases[name] *= cfg.epochs / (cfg.epochs + 1)
        phases["other"] = out["seconds"] - sum(phases.values())
        phase_rounds.append({k: v / cfg.epochs for k, v in phases.items()})
        loop_rate.append(out["images"] / out["seconds"])
        return out["images"] / wall

    xn = ((x_tr.float() / 255 - mean) / std).contiguous(memory_format=torch.channels_last)

    def bare(n_images: int = images) -> float:
        model = fresh()
        opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, nesterov=True)
        n_steps = n_images // bs
        t0 = time.perf_counter()
        for i in range(n_steps):
            j = (i % steps) * bs
            loss = F.cross_entropy(model(xn[j:j + bs]), y_tr[j:j + bs])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return n_steps * bs / (time.perf_counter() - t0)

    def engine(augment: bool, l2: float):
        arm = Regimen(name="arm", l2=l2, augment="crop_flip" if augment else "none")
        return lambda: engine_rate(cfg, data, fresh(), arm, epochs)

    variants = {"B train_job (l2 arm), whole call": b_train_job, "bare step": bare}
    if not args.no_breakdown:
        variants["engine: crop+flip, L2 penalty"] = engine(True, cfg.l2_reg)
        variants["engine: no augmentation, no L2"] = engine(False, 0.0)

    bare(4 * bs)  # warm-up: oneDNN primitives and the allocator
    engine(True, cfg.l2_reg)()
    loop_rate.clear()
    res = interleave(variants, args.repeats)
    res = {"B train_job (l2 arm), epoch loop": loop_rate, **res}

    rows = [[name, spread(v).format(), round_ratios(v, res["bare step"]).format(".3f")]
            for name, v in res.items()]
    print_table(f"images/s, median [q1, q3] over {args.repeats} interleaved rounds "
                f"(ratio to the bare step taken per round)", ["variant", "images/s", "/ bare step"], rows)

    per_epoch = {k: spread([r[k] for r in phase_rounds]) for k in phase_rounds[0]}
    total = sum(v.median for v in per_epoch.values())
    print_table("Where B's epoch loop spends its time: seconds per epoch, median [q1, q3]",
                ["phase", "s / epoch", "share"],
                [[k, v.format(".4f"), f"{v.median / total:.1%}"] for k, v in per_epoch.items()])
    no_eval = [r * (1 / (1 - p["test evaluation"] / sum(p.values())))
               for r, p in zip(loop_rate, phase_rounds)]

    loop = round_ratios(res["B train_job (l2 arm), epoch loop"], res["bare step"])
    whole = round_ratios(res["B train_job (l2 arm), whole call"], res["bare step"])
    print()
    print_ratio("B whole call / bare step", whole, note="(includes the snapshot at init)")
    print_ratio("B epoch loop without its per-epoch test evaluation / bare step",
                round_ratios(no_eval, res["bare step"]), TARGET_VS_BARE)
    print_ratio("spectrum tracking (conv1 spectrum + SSR, per epoch) / B epoch",
                spread([p["spectrum tracking"] / sum(p.values()) for p in phase_rounds]),
                TARGET_TRACKING, higher_is_better=False, fmt=".4f")
    print_ratio("B epoch loop / bare step", loop, TARGET_VS_BARE)


if __name__ == "__main__":
    main()
