"""Figures and GIFs. Each function builds a figure from saved arrays, writes
PNG (+PDF) or GIF, closes it and returns the path; nothing here computes
science or touches pyplot's global state (STYLE.md rule 6)."""

from .common import OKABE_ITO, arm_style, save_figure, style  # noqa: F401
from .exp_a import make_fit_gif, plot_frequency_curves, plot_spectrum_heatmaps  # noqa: F401
