# %% [markdown]
# # A frequency analysis of your own model
#
# A notebook-style script (cells marked `# %%`: VS Code, PyCharm and
# jupytext open it as a notebook). It takes any `nn.Module` -- here
# torchvision's ResNet-18, untrained, no download -- and 16 random
# CIFAR-shaped images, and runs the whole `utils.frequency` analysis:
# the weight spectrum of every conv layer (kernels padded to the layer's
# input resolution, found automatically), how a few optimiser steps change
# it (HFF and SSR through `SpectrumTracker`), a small Fourier heat map and
# the noise / filter robustness curves. About 10 s of CPU time on one core,
# plus 3 to 4 s to import torchvision.
#
# Run it from the repository root after `pip install -e .` (or with the
# root on `PYTHONPATH`): `python docs/walkthrough.py`.

# %%
import numpy as np
import torch
import torch.nn.functional as F
import torchvision

from utils import frequency as fq

SIZES = dict(images=16, steps=3, heatmap_images=2)
SIZES.update(globals().get("WALKTHROUGH_SIZES", {}))  # tests/test_walkthrough.py shrinks them

torch.manual_seed(0)
model = torchvision.models.resnet18(num_classes=10)  # any nn.Module works the same way
images = torch.rand(SIZES["images"], 3, 32, 32)       # pixels in [0, 1], before normalisation
labels = torch.randint(0, 10, (SIZES["images"],))
mean, std = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)  # CIFAR-10's, applied by the tools
input_shape = tuple(images.shape[1:])

# %% [markdown]
# ## Every conv layer at initialisation
# `conv_input_resolutions` runs one zero image through the model with hooks;
# each kernel is zero-padded to the resolution its layer sees (32 for conv1,
# down to 1 for the last stage on 32x32 inputs, where a 3x3 kernel keeps
# P = 3). White noise has HFF(0.25) of about 0.81 on 32x32: Kaiming-initialised
# kernels start there.

# %%
resolutions = fq.conv_input_resolutions(model, input_shape)
spectra_init = fq.layer_weight_spectra(model, input_shape)
print(f"{len(spectra_init)} conv layers; white-noise HFF on 32x32: {fq.white_noise_hff(32):.2f}")
for name in ("conv1", "layer1.0.conv1", "layer2.0.downsample.0", "layer4.1.conv2"):
    spec = spectra_init[name]
    print(f"  {name:22s} input {resolutions[name]:2d} px, FFT size {spec.P:2d}, "
          f"{len(spec.frequency)} rings")

# %% [markdown]
# ## A few optimiser steps, tracked
# The tracker's first snapshot is SSR's "before": take it before the first
# step. `ssr()` gives both flavours against it: `ssr_norm` (shape of the
# spectrum, from the HFF) and `ssr_abs` (raw high-frequency power, which
# weight decay also lowers by shrinking the weights). Here it follows conv1
# and the first conv of every stage (`layers=None` follows all 20; each
# snapshot then copies all 11 M weights).

# %%
tracked = ("conv1", "layer1.0.conv1", "layer2.0.conv1", "layer3.0.conv1", "layer4.0.conv1")
tracker = fq.SpectrumTracker(model, layers=tracked, input_shape=input_shape, cutoff=0.25)
tracker.snapshot(0)
optimiser = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
m, s = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
model.train()
for step in range(1, SIZES["steps"] + 1):
    loss = F.cross_entropy(model((images - m) / s), labels)
    optimiser.zero_grad()
    loss.backward()
    optimiser.step()
    tracker.snapshot(step)
ssr = tracker.ssr()
hff = tracker.hff()
print(f"steps {tracker.steps}; last loss {loss.item():.3f}")
for name in tracked:
    print(f"  {name:16s} P {tracker.P[name]:2d}  HFF {hff[name][0]:.4f} -> {hff[name][-1]:.4f}  "
          f"SSR_norm {ssr[name].ssr_norm[-1]:+.5f}  SSR_abs {ssr[name].ssr_abs[-1]:+.5f}")
arrays = tracker.as_arrays()  # np.savez("spectra.npz", **arrays) keeps every snapshot
print(f"  as_arrays: {len(arrays)} arrays, e.g. conv1/energy {arrays['conv1/energy'].shape}")

# Every conv layer after the steps: the power per ring relative to init.
spectra_after = fq.layer_weight_spectra(model, input_shape)
change = {name: (spectra_after[name].energy / spectra_init[name].energy).numpy()
          for name in spectra_init}
print(f"  energy after / at init, lowest and highest ring, conv1: {change['conv1'][[0, -1]].round(3)}")

# %% [markdown]
# ## Fourier heat map
# Random images have no true labels, so the heat map and the curves below
# measure how often the model *keeps its clean prediction*: labels are the
# model's own predictions on the clean images. Each of the 514 distinct
# bases of a 32x32 grid perturbs every image (norm v = 4 on [0, 1] pixels);
# the map holds the rate of changed predictions, DC at the centre.

# %%
# After a few steps the batch-norm running statistics are still mostly their
# initial 0 and 1, and in eval mode (which the tools use) such a model
# predicts one class for everything. Recompute them on the images first.
torch.optim.swa_utils.update_bn([(images - m) / s], model)
model.eval()
with torch.no_grad():
    clean_pred = model((images - m) / s).argmax(1)
print(f"clean predictions: {clean_pred.tolist()}")
k = SIZES["heatmap_images"]
heat = fq.fourier_heatmap(model, images[:k], clean_pred[:k], v=4.0, seed=0, mean=mean, std=std,
                          batch_size=1028)
centre = heat[12:21, 12:21].mean()
print(f"heat map {heat.shape}: prediction changed on {heat.mean():.2f} of the bases "
      f"({centre:.2f} within 4 bins of DC)")

# %% [markdown]
# ## Robustness curves
# Experiment C's curves (white, high-pass and low-pass noise, band noise,
# low- and high-pass filtered images), every perturbation fixed by (image
# index, level, seed), so two models see exactly the same images.

# %%
curves = fq.robustness_curves(model, images, clean_pred, mean=mean, std=std)
for name, c in curves.items():
    print(f"  {name:12s} x {np.round(c['x'][[0, -1]], 3)}: agreement {c['acc'].round(2)}")
