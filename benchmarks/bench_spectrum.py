"""How much does spectrum tracking cost? Prints times and ratios, asserts nothing.

Times per call (median and interquartile range over repetitions) of the
radial power spectrum of a 64x3x3x3 and a 64x3x5x5 kernel bank padded to 32,
of a 256x3x32x32 image batch, and of one conv1 tracking step (spectrum + SSR
against the init weights). Then the ratio of the tracking step to one
training epoch of experiment B's CPU-preset SmallCNN (16-32-64, 5x5 conv1,
channels_last; forward and backward with SGD over 10,000 random 32x32
images in batches of 256, on the CPU).
The issue's target: tracking conv1 once per epoch costs under 1% of an epoch.

Run from the repository root: ``python benchmarks/bench_spectrum.py``.
"""

from __future__ import annotations

import argparse
import os
import time

from common import Spread, spread

import torch  # noqa: E402  (common puts the repository root on sys.path first)
from torch import nn  # noqa: E402

from models.cnn import SmallCNN  # noqa: E402
from utils.frequency import radial_power_spectrum, spectral_suppression_ratio  # noqa: E402


def time_call(fn, reps: int) -> Spread:
    """Median and quartiles of ``reps`` timed calls in ms, after 3 warm-up calls."""
    for _ in range(3):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return spread(times)


def cnn_epoch_seconds(n_images: int, batch: int) -> float:
    """One training epoch of experiment B's CPU-preset model (SmallCNN
    16-32-64, 5x5 conv1, batch norm, channels_last, float32) on random
    images: forward, cross-entropy, backward, SGD step."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n_images, 3, 32, 32, generator=g).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (n_images,), generator=g)
    torch.manual_seed(0)
    model = SmallCNN().to(memory_format=torch.channels_last).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step(i):
        opt.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(x[i:i + batch]), y[i:i + batch])
        loss.backward()
        opt.step()

    step(0)  # warm-up
    t0 = time.perf_counter()
    for i in range(0, n_images, batch):
        step(i)
    return time.perf_counter() - t0


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=50, help="timed calls per case (default 50)")
    p.add_argument("--epoch-images", type=int, default=10_000,
                   help="images in the epoch (default 10000, the CPU preset's)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads (default: torch's own choice). On a shared, loaded "
                        "machine 1 thread gives steadier numbers: a descheduled worker "
                        "thread stalls every multi-threaded op")
    args = p.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    g = torch.Generator().manual_seed(0)
    k3 = torch.randn(64, 3, 3, 3, generator=g)
    k5 = torch.randn(64, 3, 5, 5, generator=g)
    imgs = torch.rand(256, 3, 32, 32, generator=g)
    init = k5.clone()
    cases = {
        "spectrum 64x3x3x3, pad_to=32": lambda: radial_power_spectrum(k3, 32, "mean"),
        "spectrum 64x3x5x5, pad_to=32": lambda: radial_power_spectrum(k5, 32, "mean"),
        "spectrum 256x3x32x32 images": lambda: radial_power_spectrum(imgs, None, "mean"),
        "conv1 tracking step (5x5: spectrum + SSR)": lambda: (
            radial_power_spectrum(k5, 32, "mean"),
            spectral_suppression_ratio(init, k5, pad_to=32)),
    }
    results = {}
    for name, fn in cases.items():
        t = time_call(fn, args.reps)
        results[name] = t.median
        print(f"{name:45s} median {t.median:8.3f} ms   IQR [{t.q1:.3f}, {t.q3:.3f}] ms")
    epoch = cnn_epoch_seconds(args.epoch_images, 256)
    track = results["conv1 tracking step (5x5: spectrum + SSR)"] / 1e3
    print(f"SmallCNN 16-32-64 epoch ({args.epoch_images} images, batch 256, fwd+bwd): "
          f"{epoch:.2f} s")
    print(f"ratio tracking step / epoch: {track / epoch:.2e} "
          f"({100 * track / epoch:.4f}% of an epoch; target < 1%)")


if __name__ == "__main__":
    main()
