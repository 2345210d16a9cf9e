"""How much does experiment B's training loop cost beyond the bare network
step, and how does it compare with the usual torchvision DataLoader pipeline?
Prints images/s and ratios; asserts nothing.

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
* ``DataLoader, k workers``: a ``torchvision.datasets.CIFAR10``-style dataset
  of PIL images built from the same uint8 arrays, per-image
  ``RandomCrop(32, padding=4)``, ``RandomHorizontalFlip``, ``ToTensor``,
  ``Normalize``, through ``torch.utils.data.DataLoader`` (shuffle,
  drop_last, persistent workers), k in {0, 1, 2}; the best k is compared.

Targets: B's loop >= 0.90 x the bare step; B's loop >= 2 x the best DataLoader.

Run from the repository root: ``python benchmarks/bench_train.py``
(``--repeats 1 --epochs 1 --n-train 2048`` for a smoke run).
"""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
import time
from pathlib import Path

from common import (base_parser, interleave, load_b_data, print_table, round_ratios, setup,
                    spread, verdict)

import torch  # noqa: E402  (common puts the repository root on sys.path first)
import torch.nn.functional as F  # noqa: E402

from experiments import exp_b_spectrum_evolution as exp_b  # noqa: E402
from utils import runs, training  # noqa: E402
from utils.optim import make_optimizer, make_schedule  # noqa: E402
from utils.regimen import Regimen  # noqa: E402

TARGET_VS_BARE = 0.90
TARGET_VS_DATALOADER = 2.0


class PILDataset(torch.utils.data.Dataset):
    """What ``torchvision.datasets.CIFAR10`` does per item: an (H, W, C)
    uint8 array turned into a PIL image, then the transform."""

    def __init__(self, x_uint8: torch.Tensor, y: torch.Tensor, transform):
        self.data = x_uint8.permute(0, 2, 3, 1).contiguous().numpy()
        self.targets = y.tolist()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int):
        from PIL import Image
        mode = "L" if self.data.shape[-1] == 1 else "RGB"
        img = Image.fromarray(self.data[i].squeeze(-1) if mode == "L" else self.data[i], mode=mode)
        return self.transform(img), self.targets[i]


# Where B's epoch loop spends its time: (owner, attribute) of every call that
# train_job makes once per epoch, timed by wrapping it for one call.
PHASES = {
    "train_one_epoch": (training, "train_one_epoch"),
    "test evaluation": (training, "evaluate"),
    "history .npz": (exp_b, "save_history"),
    "checkpoint": (exp_b.ckpt, "save_checkpoint"),
    "metrics.jsonl": (runs.JsonlLogger, "log"),
}


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


def load(args) -> tuple[exp_b.Config, object]:
    base = exp_b.Config(dataset=args.dataset, device="cpu", progress=False, arms=("l2",), seeds=(0,))
    cfg = dataclasses.replace(exp_b.preset(base, "cpu"), epochs=args.epochs, n_train=args.n_train)
    return load_b_data(cfg)


def main(argv=None) -> None:
    p = base_parser(__doc__.splitlines()[0], repeats=5)
    p.add_argument("--epochs", type=int, default=2, help="epochs per measurement (default 2)")
    p.add_argument("--n-train", type=int, default=10_000, help="training images (default 10000)")
    p.add_argument("--dataset", default="cifar10-jpeg",
                   help="cifar10-jpeg, falling back to synthetic when missing (default cifar10-jpeg)")
    p.add_argument("--workers", default="0,1,2",
                   help="DataLoader num_workers values to try (default 0,1,2)")
    p.add_argument("--no-breakdown", action="store_true",
                   help="skip the train_one_epoch-only variants (default: run them)")
    args = p.parse_args(argv)
    setup(args)
    cfg, data = load(args)
    arm = next(a for a in exp_b.build_arms(cfg) if a.name == "l2")
    init = exp_b.initial_state(cfg, data, 0)
    device = torch.device("cpu")
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

    def fresh(dropout: float = 0.0) -> torch.nn.Module:
        m = exp_b.new_model(cfg, data, dropout)
        m.load_state_dict(init)
        return training.place_model(m, device, channels_last=True).train()

    loop_rate: list[float] = []
    phase_rounds: list[dict[str, float]] = []

    def b_train_job() -> float:
        with tempfile.TemporaryDirectory(prefix="bench_train_") as tmp:
            metrics = runs.JsonlLogger(Path(tmp) / "metrics.jsonl")
            t0 = time.perf_counter()
            with timed_phases({}) as phases:
                out = exp_b.train_job(cfg, data, arm, 0, init, Path(tmp), tensors, metrics,
                                      resume=False, log=lambda s: None)
            wall = time.perf_counter() - t0
        # The snapshot at initialisation (one evaluation) is outside the epoch loop.
        phases["test evaluation"] *= cfg.epochs / (cfg.epochs + 1)
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
        def run() -> float:
            model = fresh()
            arm = Regimen(name="arm", l2=l2, augment="crop_flip" if augment else "none")
            opt = make_optimizer(model, arm, lr=cfg.lr, momentum=cfg.momentum)
            sched = make_schedule(opt, cfg.schedule, total_steps=steps * epochs)
            t0 = time.perf_counter()
            for e in range(epochs):
                training.train_one_epoch(model, x_tr, y_tr, optimizer=opt, scheduler=sched,
                                         batch_size=bs, mean=data.mean, std=data.std, epoch=e,
                                         seed=0, regimen=arm, device=device, channels_last=True)
            return images / (time.perf_counter() - t0)
        return run

    def dataloader(workers: int):
        import torchvision.transforms as T

        transform = T.Compose([T.RandomCrop(x_tr.shape[-1], padding=4), T.RandomHorizontalFlip(),
                               T.ToTensor(), T.Normalize(data.mean, data.std)])
        dataset = PILDataset(x_tr, y_tr, transform)

        def run() -> float:
            model = fresh()
            opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                                  nesterov=True)
            t0 = time.perf_counter()
            loader = torch.utils.data.DataLoader(dataset, batch_size=bs, shuffle=True,
                                                 drop_last=True, num_workers=workers,
                                                 persistent_workers=workers > 0)
            n = 0
            for _ in range(epochs):
                for xb, yb in loader:
                    xb = xb.contiguous(memory_format=torch.channels_last)
                    loss = F.cross_entropy(model(xb), yb)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    n += xb.shape[0]
            rate = n / (time.perf_counter() - t0)
            del loader  # stops the persistent workers
            return rate
        return run

    variants = {"B train_job (l2 arm), whole call": b_train_job, "bare step": bare}
    if not args.no_breakdown:
        variants["engine: crop+flip, L2 penalty"] = engine(True, cfg.l2_reg)
        variants["engine: no augmentation, no L2"] = engine(False, 0.0)
    worker_counts = [int(k) for k in args.workers.split(",") if k.strip()]
    for k in worker_counts:
        variants[f"DataLoader, {k} workers"] = dataloader(k)

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
    dl_names = [n for n in res if n.startswith("DataLoader")]
    print()
    print(f"B epoch loop / bare step:  {loop.format('.3f')}  {verdict(loop.median, TARGET_VS_BARE)}")
    print(f"B whole call / bare step:  {whole.format('.3f')}  (includes the snapshot at init)")
    bare_no_eval = round_ratios(no_eval, res["bare step"])
    print(f"B epoch loop without its per-epoch test evaluation / bare step:  "
          f"{bare_no_eval.format('.3f')}  {verdict(bare_no_eval.median, TARGET_VS_BARE)}")
    if dl_names:
        best = max(dl_names, key=lambda n: spread(res[n]).median)
        vs_dl = round_ratios(res["B train_job (l2 arm), epoch loop"], res[best])
        print(f"B epoch loop / {best}:  {vs_dl.format('.2f')}  "
              f"{verdict(vs_dl.median, TARGET_VS_DATALOADER)}  (B also evaluates 2,000 test "
              f"images per epoch; the DataLoader loop evaluates nothing)")
        engine_name = "engine: crop+flip, L2 penalty"
        if engine_name in res:
            like = round_ratios(res[engine_name], res[best])
            print(f"{engine_name} / {best} (the same training work):  {like.format('.2f')}  "
                  f"{verdict(like.median, TARGET_VS_DATALOADER)}")


if __name__ == "__main__":
    main()
