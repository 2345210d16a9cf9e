"""Question 7, the GPU: ResNet-18 CIFAR training speed on one GPU: our engine against a bare loop
and against the card's own matmul speed. Prints images/s and ratios and
writes them to ``<out>/bench_gpu.json``; asserts nothing.

1. The physical reference: bf16 matmul TFLOP/s (``n x n`` by ``n x n``,
   n = 8192), and the model's FLOPs per training image (3 x the forward
   FLOPs counted by ``torch.utils.flop_counter``), so images/s can be read
   as a fraction of what the card could do.
2. ResNet-18 (CIFAR form), batch 512, bf16 autocast, channels_last, on
   50,000 random CIFAR-shaped uint8 images already on the GPU:
   * ``engine``: ``utils.training.train_one_epoch`` as experiment B's gpu
     preset runs it (crop + flip on the device, L2 penalty arm, per-step
     metrics without host syncs, one-cycle/cosine schedule);
   * ``bare``: forward under autocast, cross-entropy, backward, SGD step on
     slices of one pre-normalised float tensor; nothing else;
   each eager and, unless ``--no-compile``, under ``torch.compile``
   (compile time reported apart). Variants are interleaved over rounds.

Target: engine >= 20,000 images/s on an H100; engine / bare reported.
Sized to finish in under 10 minutes on an H100 (``--budget-s`` stops
starting new rounds after that many seconds).

Run from the repository root on the GPU machine:
``timeout 600 python benchmarks/bench_gpu.py --out results/bench_gpu``.
On a machine without CUDA it prints a message and exits 0; ``--smoke``
runs the same code with tiny sizes on whatever device there is (float32 on
a CPU) to check it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from common import base_parser, print_ratio, round_ratios, setup, spread

import torch  # noqa: E402  (common puts the repository root on sys.path first)
import torch.nn.functional as F  # noqa: E402

from models.resnet import ResNet18  # noqa: E402
from utils import training  # noqa: E402
from utils.optim import make_optimizer, make_schedule  # noqa: E402
from utils.regimen import Regimen  # noqa: E402

TARGET_IMAGES_PER_S = 20_000
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)  # any per-channel values do; CIFAR-10's for realism
CIFAR_STD = (0.2470, 0.2435, 0.2616)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_tflops(device: torch.device, n: int, iters: int, dtype: torch.dtype) -> float:
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    sync(device)
    t0 = time.perf_counter()
    for _ in range(iters):
        a @ b
    sync(device)
    return 2 * n ** 3 * iters / (time.perf_counter() - t0) / 1e12


def train_flops_per_image(device: torch.device) -> float:
    """3 x forward FLOPs of one 32x32 image (backward ~ 2 x forward)."""
    from torch.utils.flop_counter import FlopCounterMode

    model = ResNet18().to(device)
    counter = FlopCounterMode(display=False)
    with counter:
        model(torch.zeros(2, 3, 32, 32, device=device))
    return 3 * counter.get_total_flops() / 2


class Variant:
    """One model + optimiser kept across rounds; ``run(epochs)`` -> images/s."""

    def __init__(self, kind: str, compiled: bool, x, y, args, device, amp):
        self.kind, self.device, self.amp, self.args = kind, device, amp, args
        self.x, self.y = x, y
        torch.manual_seed(0)
        self.model = training.place_model(ResNet18(), device, channels_last=True)
        steps = training.steps_per_epoch(x.shape[0], args.batch)
        if kind == "engine":
            self.arm = Regimen(name="l2", l2=5e-4, augment="crop_flip")
            self.opt = make_optimizer(self.model, self.arm, lr=0.2)
            self.sched = make_schedule(self.opt, "cosine", total_steps=steps * 1000)
        else:
            self.opt = torch.optim.SGD(self.model.parameters(), lr=0.2, momentum=0.9,
                                       nesterov=True)
            mean = torch.tensor(CIFAR_MEAN, device=device).view(1, 3, 1, 1)
            std = torch.tensor(CIFAR_STD, device=device).view(1, 3, 1, 1)
            self.xn = ((x.float() / 255 - mean) / std).contiguous(memory_format=torch.channels_last)
        self.net = training.maybe_compile(self.model, compiled)
        self.epoch = 0
        t0 = time.perf_counter()
        self.run(1)  # warm-up: compilation, cuDNN autotuning, allocator
        self.warmup_s = time.perf_counter() - t0

    def run(self, epochs: int) -> float:
        bs, n = self.args.batch, self.x.shape[0]
        steps = training.steps_per_epoch(n, bs)
        sync(self.device)
        t0 = time.perf_counter()
        for _ in range(epochs):
            if self.kind == "engine":
                training.train_one_epoch(self.net, self.x, self.y, optimizer=self.opt,
                                         scheduler=self.sched, batch_size=bs, mean=CIFAR_MEAN,
                                         std=CIFAR_STD, epoch=self.epoch, seed=0, regimen=self.arm,
                                         device=self.device, amp_dtype=self.amp, channels_last=True)
            else:
                for i in range(steps):
                    xb, yb = self.xn[i * bs:(i + 1) * bs], self.y[i * bs:(i + 1) * bs]
                    with torch.autocast(self.device.type, dtype=self.amp or torch.bfloat16,
                                        enabled=self.amp is not None):
                        logits = self.net(xb)
                    loss = F.cross_entropy(logits.float(), yb)
                    self.opt.zero_grad(set_to_none=True)
                    loss.backward()
                    self.opt.step()
            self.epoch += 1
        sync(self.device)
        return epochs * steps * bs / (time.perf_counter() - t0)


def main(argv=None) -> None:
    p = base_parser(__doc__.splitlines()[0], repeats=3, threads=False)
    p.add_argument("--out", default="results/bench_gpu", help="folder for bench_gpu.json "
                   "(default results/bench_gpu)")
    p.add_argument("--epochs", type=int, default=2, help="epochs per measurement (default 2)")
    p.add_argument("--n-images", type=int, default=50_000, help="training images (default 50000)")
    p.add_argument("--batch", type=int, default=512, help="batch size (default 512, the gpu preset)")
    p.add_argument("--matmul-n", type=int, default=8192, help="matmul size (default 8192)")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile variants "
                   "(default: run them)")
    p.add_argument("--budget-s", type=float, default=480.0,
                   help="start no new round after this many seconds (default 480)")
    args = p.parse_args(argv)
    t_start = time.perf_counter()
    if not torch.cuda.is_available() and not args.smoke:
        print("bench_gpu.py: no CUDA device here; run it on a GPU machine "
              "(or pass --smoke to check the script on this one). Nothing measured.")
        return
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if args.smoke:
        args.n_images, args.batch, args.epochs, args.repeats = 64, 32, 1, 1
        args.matmul_n, args.no_compile = 256, args.no_compile or device.type == "cpu"
    amp = training.device_settings(device)["amp_dtype"]
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    setup(args)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"# device {name}; CUDA {torch.version.cuda}; autocast {amp}; ResNet-18 batch "
          f"{args.batch}; {args.n_images} images; {args.epochs} epoch(s) per measurement")
    result = {"device": name, "torch": torch.__version__, "cuda": torch.version.cuda,
              "args": vars(args), "target_images_per_s": TARGET_IMAGES_PER_S}

    mm_dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    result["matmul_tflops"] = matmul_tflops(device, args.matmul_n, 50 if device.type == "cuda" else 3,
                                            mm_dtype)
    result["train_flops_per_image"] = train_flops_per_image(device)
    print(f"matmul {args.matmul_n}^3 {mm_dtype}: {result['matmul_tflops']:.1f} TFLOP/s; "
          f"ResNet-18 training ~{result['train_flops_per_image'] / 1e9:.2f} GFLOP per image")

    g = torch.Generator(device=device).manual_seed(0)
    x = torch.randint(0, 256, (args.n_images, 3, 32, 32), generator=g, device=device,
                      dtype=torch.uint8)
    y = torch.randint(0, 10, (args.n_images,), generator=g, device=device)
    variants = {}
    for compiled in ([False] if args.no_compile else [False, True]):
        for kind in ("engine", "bare"):
            label = f"{kind}{' compiled' if compiled else ''}"
            variants[label] = Variant(kind, compiled, x, y, args, device, amp)
            print(f"  set up {label}: first epoch {variants[label].warmup_s:.1f} s")
    rates: dict[str, list[float]] = {k: [] for k in variants}
    names = list(variants)
    for r in range(args.repeats):
        if r > 0 and time.perf_counter() - t_start > args.budget_s:
            print(f"  budget of {args.budget_s:.0f} s reached after {r} round(s)")
            break
        for label in names[r % len(names):] + names[:r % len(names)]:
            rates[label].append(variants[label].run(args.epochs))
            print(f"  round {r + 1}  {label:<18s} {rates[label][-1]:>10,.0f} images/s")

    result["images_per_s"] = {k: v for k, v in rates.items()}
    result["warmup_s"] = {k: v.warmup_s for k, v in variants.items()}
    print(f"\n{'variant':<18s} {'images/s median [q1, q3]':>30s} {'/ bare':>8s} "
          f"{'/ target':>9s} {'TFLOP/s':>8s} {'of matmul':>9s}")
    summary = {}
    for label, v in rates.items():
        bare = rates[label.replace("engine", "bare")]
        s = spread(v)
        tflops = s.median * result["train_flops_per_image"] / 1e12
        summary[label] = {"median": s.median, "q1": s.q1, "q3": s.q3,
                          "vs_bare": spread([a / b for a, b in zip(v, bare)]).median,
                          "vs_target": s.median / TARGET_IMAGES_PER_S, "model_tflops": tflops,
                          "fraction_of_matmul": tflops / result["matmul_tflops"]}
        e = summary[label]
        print(f"{label:<18s} {s.format():>30s} {e['vs_bare']:>8.3f} {e['vs_target']:>9.2f} "
              f"{tflops:>8.1f} {e['fraction_of_matmul']:>9.1%}")
    best = max((k for k in summary if k.startswith("engine")), key=lambda k: summary[k]["median"])
    verdict = "MET" if summary[best]["median"] >= TARGET_IMAGES_PER_S else "MISSED"
    print(f"\nbest engine variant: {best}, {summary[best]['median']:,.0f} images/s: {verdict} "
          f"(target >= {TARGET_IMAGES_PER_S:,})")
    print_ratio(f"{best} images/s / the {TARGET_IMAGES_PER_S:,} target",
                summary[best]["median"] / TARGET_IMAGES_PER_S, 1.0, fmt=".2f")
    print_ratio(f"{best} / {best.replace('engine', 'bare')}",
                round_ratios(rates[best], rates[best.replace("engine", "bare")]), 0.90)
    result.update(summary=summary, best=best, verdict=verdict,
                  wall_s=time.perf_counter() - t_start)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_gpu.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out / 'bench_gpu.json'} ({result['wall_s']:.0f} s in all)")


if __name__ == "__main__":
    main()
