"""Names the user chose are drawn as typed (issue 25): an image folder named
``ds$\\frac{x$`` reaches figure titles, legends and figure texts; matplotlib
would parse it as mathtext and fail at draw time, after all training."""

import pytest

from utils.visualization.common import new_figure, save_figure, style

NAMES = ["ds$\\frac{x$", "a$b", "$", "100$ and 5$", "x_$^{y$", "\\$escaped"]


@pytest.mark.parametrize("name", NAMES)
def test_titles_legends_and_texts_take_any_name(tmp_path, name):
    with style():
        fig = new_figure(3, 2)
        ax = fig.add_subplot()
        ax.plot([0, 1], [0, 1], label=name)
        ax.set_title(name)
        ax.set_title(name, loc="left")
        ax.legend(title=name)
        ax.set_ylabel(r"relative error $\Delta_k$")  # intended mathtext keeps working
        fig.suptitle(f"dataset {name}")
        fig.legend(labels=[name])
        path = save_figure(fig, tmp_path / "f.png", pdf=True)
    assert path.stat().st_size > 0 and path.with_suffix(".pdf").stat().st_size > 0
    assert ax.get_title() == name  # drawn as typed, not rewritten


def test_without_it_matplotlib_fails_on_such_a_name(tmp_path):
    """The failure the helper prevents (so the test above can fail)."""
    with style():
        fig = new_figure(3, 2)
        fig.add_subplot().set_title(NAMES[0])
        with pytest.raises(ValueError):
            fig.savefig(tmp_path / "raw.png")
