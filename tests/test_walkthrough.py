"""docs/walkthrough.py runs top to bottom (small sizes) and its numbers
mean what the text says."""

import runpy
from pathlib import Path

import pytest

pytest.importorskip("torchvision")
ROOT = Path(__file__).resolve().parent.parent


def test_walkthrough_runs(capsys, one_thread):
    ns = runpy.run_path(str(ROOT / "docs" / "walkthrough.py"), run_name="__main__",
                        init_globals={"WALKTHROUGH_SIZES": dict(images=4, steps=2,
                                                                heatmap_images=1)})
    out = capsys.readouterr().out
    assert "20 conv layers" in out and "layer4.1.conv2" in out
    assert ns["tracker"].steps == [0, 1, 2]
    assert ns["ssr"]["conv1"].ssr_norm[0] == 0 and ns["ssr"]["conv1"].ssr_norm.shape == (3,)
    assert len(ns["change"]) == 20 and ns["change"]["conv1"].shape == (24,)
    assert ns["spectra_init"]["conv1"].P == 32 and ns["spectra_init"]["layer4.1.conv2"].P == 3
    assert ns["heat"].shape == (32, 32) and 0 <= ns["heat"].min() <= ns["heat"].max() <= 1
    curves = ns["curves"]
    assert curves["gaussian"]["acc"][0] == 1.0  # clean agreement with the clean predictions
    assert {"gaussian", "highpass", "lowpass", "band", "filter_low", "filter_high"} <= set(curves)
    assert not ns["model"].training
