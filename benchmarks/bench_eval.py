"""Question 4, evaluation and heat map: what does experiment C's perturbed
evaluation cost beyond the forward pass? Prints images/s, seconds per heat
map and ratios; asserts nothing. (B's spectrum tracking, a measurement made
during training, is timed against B's epoch in ``bench_train.py``.)

Set-up as C's ``cpu`` preset runs it over B's CPU run: 12 SmallCNNs
(16-32-64, k1=5, channels_last, float32, eval mode; random weights, which
cost the same as trained ones), 500 test images for the curves, 50 for the
heat map, evaluation batches of 1,000.

* ``C curves``: ``experiments.exp_c_robustness.evaluate_curves`` for every
  model over every curve of the preset (Gaussian, high-/low-pass, band
  noise, low-/high-pass filtered sets), as each model's job runs it: the
  job makes its perturbed sets and evaluates them through
  ``utils.frequency.robustness_curves``. Images/s over the whole calls
  (noise and filters included).
* ``C heat map``: ``fourier_heatmap`` on 50 images x 514 bases, per model.
* ``bare forward``: ``model(x)`` under ``torch.inference_mode`` on one
  already-normalised channels_last tensor, the same number of images in
  batches of the same size (500 for the curves, 514 for the heat map).

Target: each >= 0.80 x the bare forward pass.

Run from the repository root: ``python benchmarks/bench_eval.py``
(``--smoke``: one round, 2 models, 100 curve images, 4 heat-map images).
"""

from __future__ import annotations

import time

import dataclasses

from common import (base_parser, interleave, load_b_data, print_ratio, print_table, round_ratios,
                    setup, spread)

import torch  # noqa: E402  (common puts the repository root on sys.path first)

from experiments import exp_b_spectrum_evolution as exp_b  # noqa: E402
from experiments import exp_c_robustness as exp_c  # noqa: E402
from utils import frequency as fq  # noqa: E402
from utils import training  # noqa: E402

TARGET = 0.80


def main(argv=None) -> None:
    p = base_parser(__doc__.splitlines()[0], repeats=5)
    p.add_argument("--models", type=int, default=12, help="models evaluated (default 12: 4 arms x 3 seeds)")
    p.add_argument("--heatmap-models", type=int, default=2,
                   help="models whose heat map is timed per round (default 2)")
    p.add_argument("--dataset", default="cifar10-jpeg",
                   help="cifar10-jpeg, falling back to synthetic when missing (default cifar10-jpeg)")
    args = p.parse_args(argv)
    if args.smoke:
        args.repeats, args.models, args.heatmap_models = 1, 2, 1
    setup(args)
    device = torch.device("cpu")
    b_cfg, data = load_b_data(exp_b.preset(exp_b.Config(dataset=args.dataset), "cpu"))
    cfg = exp_c.preset(exp_c.Config(), "cpu")
    if args.smoke:
        cfg = dataclasses.replace(cfg, n_eval=100, heatmap_n=4)
    P, bs = data.image_shape[-1], cfg.eval_batch_size
    models = {}
    for i in range(args.models):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(i)
            m = exp_b.new_model(b_cfg, data, None)
        models[i // 3, i % 3] = training.place_model(m, device, channels_last=True).eval()
    ev = dict(mean=data.mean, std=data.std, device=device, amp_dtype=None, channels_last=True)
    idx = exp_c._subset(data.test_y, cfg.n_eval, cfg.noise_seed)
    x01 = data.test_x[idx].float().div_(255.0)
    y = data.test_y[idx]
    hidx = exp_c._subset(data.test_y, cfg.heatmap_n, cfg.noise_seed)
    x_heat = data.test_x[hidx].float().div_(255.0)
    curves = exp_c.make_curves(cfg, P)
    n_sets = 1 + sum(len(c.levels) - (1 if c.clean_first else 0) for c in curves)
    n_bases = len(fq.distinct_positions(P))
    mean = torch.tensor(data.mean).view(1, -1, 1, 1)
    std = torch.tensor(data.std).view(1, -1, 1, 1)
    print(f"# data {data.dataset_id}; {len(models)} SmallCNN {b_cfg.widths}; curves: {n_sets} sets "
          f"x {len(idx)} images; heat map: {len(hidx)} images x {n_bases} bases; batch {bs}")

    def c_curves() -> float:
        t0 = time.perf_counter()
        outs = [exp_c.evaluate_curves(m, curves, x01, y, idx, batch_size=bs, ev=ev)
                for m in models.values()]
        wall = time.perf_counter() - t0
        images = sum(o["images"] for o in outs)
        return images / wall

    xn = ((x01 - mean) / std).contiguous(memory_format=torch.channels_last)

    def bare_curves() -> float:
        n = 0
        t0 = time.perf_counter()
        with torch.inference_mode():
            for _ in range(n_sets):
                for m in models.values():
                    for s in range(0, xn.shape[0], bs):
                        n += m(xn[s:s + bs]).shape[0]
        return n / (time.perf_counter() - t0)

    heat_models = list(models.values())[:args.heatmap_models]
    per_call = max(1, bs // n_bases) * n_bases  # images per forward in fourier_heatmap
    xh = ((x_heat[:1].expand(per_call, -1, -1, -1) - mean) / std).contiguous(
        memory_format=torch.channels_last)

    def c_heatmap() -> float:
        t0 = time.perf_counter()
        for m in heat_models:
            exp_c.fourier_heatmap(m, x_heat, data.test_y[hidx], indices=hidx, v=cfg.heatmap_v,
                                  seed=cfg.noise_seed, batch_size=bs, **ev)
        return (time.perf_counter() - t0) / len(heat_models)

    def bare_heatmap() -> float:
        calls = -(-len(hidx) * n_bases // per_call)
        t0 = time.perf_counter()
        with torch.inference_mode():
            for m in heat_models:
                for _ in range(calls):
                    m(xh)
        return (time.perf_counter() - t0) / len(heat_models)

    bare_curves()  # warm-up
    c_heatmap()
    res = interleave({"C curves (evaluate_curves), whole call": c_curves,
                      "bare forward, curve images": bare_curves,
                      "C heat map, s per model": c_heatmap,
                      "bare forward, heat-map images, s per model": bare_heatmap}, args.repeats)
    curves_ref = res["bare forward, curve images"]
    rows = [[n, spread(v).format(",.0f"), round_ratios(v, curves_ref).format(".3f")]
            for n, v in res.items() if "heat" not in n]
    print_table(f"curves: images/s, median [q1, q3] over {args.repeats} interleaved rounds",
                ["variant", "images/s", "/ bare"], rows)
    heat_ref = res["bare forward, heat-map images, s per model"]
    images = len(hidx) * n_bases
    rows = [[n, spread(v).format(".2f"), spread([images / t for t in v]).format(",.0f"),
             round_ratios(heat_ref, v).format(".3f")] for n, v in res.items() if "heat" in n]
    print_table(f"heat map ({images} images per model): seconds per model, median [q1, q3]",
                ["variant", "s/model", "images/s", "bare / this"], rows)
    print()
    print_ratio("C curves, whole call / bare forward",
                round_ratios(res["C curves (evaluate_curves), whole call"], curves_ref), TARGET)
    print_ratio("C heat map / bare forward (speed)",
                round_ratios(heat_ref, res["C heat map, s per model"]), TARGET)


if __name__ == "__main__":
    main()
