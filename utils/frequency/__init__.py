"""Frequency tools: the 1D metrics of experiment A and the 2D spectral
toolkit of experiments B and C (docs/DEFINITIONS.md sections 1-6).

Pure numpy/torch: no files, no printing, no global RNG; plotting only in
:mod:`.plot`, which loads matplotlib when one of its functions runs.
Frequencies are in cycles per pixel (Nyquist 0.5, corner about 0.707).

* :mod:`.signal1d`: per-frequency learning metrics of 1D fits (section 1).
* :mod:`.spectrum`: radial power spectrum, HFF, white-noise reference (2).
* :mod:`.ssr`: spectral suppression ratio, both flavours (3).
* :mod:`.filters`: gaussian / radial / square low- and high-pass (4).
* :mod:`.noise`: deterministic noise for robustness curves (5).
* :mod:`.basis`: Fourier basis images and heat maps (6).
* :mod:`.hooks`: spectra of feature maps via forward hooks (2).
* :mod:`.ntk`: empirical NTK of experiment A's networks (11).
* :mod:`.linearised`: linearised GD and L2 predictions from that kernel (11).
* :mod:`.heldout`: Fourier coefficients on sub-grids and arbitrary points (12).

Model-facing tools (any ``nn.Module``; the model runs in eval mode, its mode
restored after):

* :mod:`.heatmap`: the Fourier heat map of a classifier (6).
* :mod:`.robustness`: accuracy on noisy and filtered copies of images (4, 5).
* :mod:`.layers`: every conv's input resolution and padded weight spectrum (2).
* :mod:`.tracker`: spectra, HFF and SSR of chosen layers during training (2, 3).
* :mod:`.conv_spectra`: per-filter normalised spectra of every conv (2.4).
* :mod:`.heatmap` also: paired heat-map differences across seeds (6.1).
* :mod:`.plot`: notebook figures of heat maps, robustness curves and spectra.
"""

from .signal1d import *  # noqa: F401,F403
from .spectrum import *  # noqa: F401,F403
from .ssr import *  # noqa: F401,F403
from .filters import *  # noqa: F401,F403
from .noise import *  # noqa: F401,F403
from .basis import *  # noqa: F401,F403
from .hooks import *  # noqa: F401,F403
from .heatmap import *  # noqa: F401,F403
from .robustness import *  # noqa: F401,F403
from .layers import *  # noqa: F401,F403
from .tracker import *  # noqa: F401,F403
from .ntk import *  # noqa: F401,F403
from .linearised import *  # noqa: F401,F403
from .heldout import *  # noqa: F401,F403
from .conv_spectra import *  # noqa: F401,F403
from .input_gradient import *  # noqa: F401,F403
from .plot import *  # noqa: F401,F403
from . import (basis, conv_spectra, filters, heatmap, heldout, hooks, input_gradient, layers,
               linearised, noise, ntk, plot, robustness, signal1d, spectrum, ssr, tracker)

__all__ = (signal1d.__all__ + spectrum.__all__ + ssr.__all__ + filters.__all__
           + noise.__all__ + basis.__all__ + hooks.__all__ + heatmap.__all__
           + robustness.__all__ + layers.__all__ + tracker.__all__ + ntk.__all__
           + linearised.__all__ + heldout.__all__ + conv_spectra.__all__
           + plot.__all__
           + input_gradient.__all__)
