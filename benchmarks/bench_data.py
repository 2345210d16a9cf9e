"""Question 3, the data pipeline: experiment B feeds its network from uint8
images held in memory, cropped and flipped a whole batch at a time on the
device; how does that compare with the usual torchvision ``DataLoader``
pipeline for the same training work? Prints images/s and ratios; asserts
nothing.

Variants, each on the same training images (a stratified subset of the JPEG
copy of CIFAR-10, or the synthetic set where that is missing), the same
SmallCNN (16-32-64, k1=5, the CPU preset's), the same initial weights,
batch 256, channels_last, float32:

* ``B pipeline``: ``utils.training.train_one_epoch`` with B's l2 arm (batched
  crop + flip, the L2 penalty), as B's CPU preset runs it.
* ``DataLoader, k workers``: a ``torchvision.datasets.CIFAR10``-style dataset
  of PIL images built from the same uint8 arrays, per-image
  ``RandomCrop(32, padding=4)``, ``RandomHorizontalFlip``, ``ToTensor``,
  ``Normalize``, through ``torch.utils.data.DataLoader`` (shuffle,
  drop_last, persistent workers), k in {0, 1, 2}; the best k is compared.

Target: B's pipeline >= 2 x the best DataLoader.

Run from the repository root: ``python benchmarks/bench_data.py``
(``--smoke``: one round of one epoch on 512 images, 0 workers).
"""

from __future__ import annotations

import time

from common import (add_b_flags, b_model_factory, base_parser, engine_rate, interleave, load_b_cpu,
                    print_ratio, print_table, round_ratios, setup, spread)

import torch  # noqa: E402  (common puts the repository root on sys.path first)
import torch.nn.functional as F  # noqa: E402

from experiments import exp_b_spectrum_evolution as exp_b  # noqa: E402

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


def main(argv=None) -> None:
    p = base_parser(__doc__.splitlines()[0], repeats=5)
    add_b_flags(p)
    p.add_argument("--workers", default="0,1,2",
                   help="DataLoader num_workers values to try (default 0,1,2)")
    args = p.parse_args(argv)
    if args.smoke:
        args.repeats, args.workers = 1, "0"
    setup(args)
    cfg, data = load_b_cpu(args)
    arm = next(a for a in exp_b.build_arms(cfg) if a.name == "l2")
    fresh = b_model_factory(cfg, data, exp_b.initial_state(cfg, data, 0))
    x_tr, y_tr, bs, epochs = data.train_x, data.train_y, cfg.batch_size, cfg.epochs
    print(f"# data {data.dataset_id}: {x_tr.shape[0]} train images; SmallCNN {cfg.widths}, "
          f"k1={cfg.k1}; batch {bs}; {epochs} epoch(s) per measurement; B arm {arm.label()}")

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

    pipeline = "B pipeline (crop+flip, L2 penalty)"
    variants = {pipeline: lambda: engine_rate(cfg, data, fresh(), arm, epochs)}
    for k in [int(k) for k in args.workers.split(",") if k.strip()]:
        variants[f"DataLoader, {k} workers"] = dataloader(k)
    variants[pipeline]()  # warm-up: oneDNN primitives and the allocator
    res = interleave(variants, args.repeats)
    rows = [[name, spread(v).format(), round_ratios(res[pipeline], v).format(".2f")]
            for name, v in res.items()]
    print_table(f"images/s, median [q1, q3] over {args.repeats} interleaved rounds",
                ["variant", "images/s", "B / this"], rows)
    best = max((n for n in res if n.startswith("DataLoader")), key=lambda n: spread(res[n]).median)
    print()
    print_ratio(f"B pipeline / {best} (the same training work)",
                round_ratios(res[pipeline], res[best]), TARGET_VS_DATALOADER, fmt=".2f")


if __name__ == "__main__":
    main()
