"""The HTML report is built from a run folder alone, escapes run text, links
only relatively to files that exist, and is deterministic.

Run folders here are written by hand (JSON plus tiny PNG/GIF files) following
the summary contract, so these tests depend on neither training nor on
experiments B and C; one slow test builds the report of a real quick A run.
"""

import html
import json
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import imageio.v3 as iio
import matplotlib.pyplot as plt
import numpy as np
import pytest

from utils.report import build_comparison, build_report

ENV = {"python": "3.11.7", "torch": "2.14.1", "cuda": None, "cuda_available": False,
       "numpy": "2.4.6", "device": "cpu", "device_name": "x86_64", "git_sha": "0123abcd" * 5,
       "git_dirty": True, "seeds": [0], "started_at": "2026-01-02T03:04:05+0000",
       "argv": ["main.py"]}


def _png(path: Path, value: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(1.5, 1), dpi=40)
    ax.plot([0, 1], [0, value])
    fig.savefig(path)
    plt.close(fig)


def _gif(path: Path) -> None:
    frames = np.zeros((3, 8, 8, 3), np.uint8)
    frames[1, 2:6, 2:6] = 255
    iio.imwrite(path, frames, duration=100, loop=0)


def make_experiment(folder: Path, letter: str, *, l2: float = 1e-4, dataset_id=None,
                    dataset_notes=(), warnings=(), extra_figure=True) -> dict:
    """A complete single-experiment run folder; returns its summary."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"exp_{letter.lower()}"
    _png(folder / "figures" / f"{stem}_curves.png", l2 * 1e4)
    (folder / "figures" / f"{stem}_curves.pdf").write_bytes(b"%PDF-1.4 stand-in\n")
    _gif(folder / "figures" / f"{stem}_anim.gif")
    figures = [{"file": f"figures/{stem}_curves.png",
                "caption": f"{letter}: curves cross eps in order <k> & stay below"},
               {"file": f"figures/{stem}_anim.gif", "caption": f"{letter}: the fit over training"}]
    if extra_figure:
        _png(folder / "figures" / f"{stem}_only_sometimes.png", 0.5)
        figures.append({"file": f"figures/{stem}_only_sometimes.png",
                        "caption": f"{letter}: a figure only some runs make"})
    summary = {
        "experiment": letter,
        "figures": figures,
        "tables": [{"title": f"{letter} learning times over 2 seeds, T={int(l2 * 1e6)}",
                    "columns": ["arm", "k", "t_median", "note"],
                    "rows": [["baseline", 5, 0.25, "a<b & c"], ["l2", 50, None, f"l2={l2}"]]},
                   {"title": f"{letter} order", "columns": ["arm", "spearman"],
                    "rows": [["baseline", "+0.55"]]}],
        "warnings": list(warnings),
        "wall_seconds": {"total": 12.5, "training": 10.0},
        "seeds": [0, 1],
    }
    if dataset_id is not None:
        summary["dataset_id"] = dataset_id
        summary["dataset_notes"] = list(dataset_notes)
    (folder / "summary.json").write_text(json.dumps(summary, indent=2))
    (folder / "metrics.jsonl").write_text('{"event": "job_done"}\n')
    return summary


def make_run(folder: Path, letter: str = "B", **kw) -> Path:
    argv = ["main.py", "--experiment", letter.lower(), "--l2_reg", str(kw.get("l2", 1e-4))]
    make_experiment(folder, letter, **kw)
    (folder / "config.json").write_text(json.dumps(
        {"argv": argv, "experiments": {letter.lower(): {"epochs": 3, "l2_reg": kw.get("l2", 1e-4),
                                                         "width": 64}}}))
    (folder / "env.json").write_text(json.dumps(dict(ENV, argv=argv)))
    return folder


def make_all_run(folder: Path) -> Path:
    folder.mkdir(parents=True)
    argv = ["main.py", "--experiment", "all", "--quick"]
    # Parts listed out of order on purpose: the report shows A, B, C.
    parts = {"c": "exp_c", "a": "exp_a", "b": "exp_b"}
    make_experiment(folder / "exp_a", "A", warnings=["baseline did not learn k=50 <b>x</b>"])
    make_experiment(folder / "exp_b", "B", dataset_id="synthetic-v1",
                    dataset_notes=["CIFAR-10 not found; used the embedded synthetic set"])
    make_experiment(folder / "exp_c", "C", dataset_id="synthetic-v1")
    configs = {k: {"seeds": [0], "quick": True} for k in "abc"}
    for k, sub in parts.items():
        (folder / sub / "config.json").write_text(json.dumps({"argv": argv, "experiments":
                                                              {k: configs[k]}}))
        (folder / sub / "env.json").write_text(json.dumps(ENV))
    (folder / "config.json").write_text(json.dumps({"argv": argv, "experiments": configs}))
    (folder / "env.json").write_text(json.dumps(dict(ENV, argv=argv)))
    (folder / "summary.json").write_text(json.dumps(
        {"experiment": "all", "parts": parts, "wall_seconds": {"total": 40.0}}))
    return folder


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href") and value is not None:
                self.links.append((tag, value))


def assert_offline_and_linked(page: Path) -> list[str]:
    """Every src/href is relative (or an in-page anchor) and its target exists;
    nothing points at the network. Returns the local link targets."""
    text = page.read_text()
    assert "http://" not in text and "https://" not in text
    parser = _Links()
    parser.feed(text)
    targets = []
    for tag, link in parser.links:
        if link.startswith("#"):
            continue
        parts = urlsplit(link)
        assert not parts.scheme and not parts.netloc, f"<{tag}> links outside the folder: {link}"
        assert not link.startswith("/"), f"<{tag}> link is absolute: {link}"
        target = (page.parent / unquote(parts.path)).resolve()
        assert target.is_file(), f"<{tag}> {link} -> {target} does not exist"
        targets.append(unquote(parts.path))
    return targets


def test_single_report_shows_captions_tables_warnings_escaped(tmp_path):
    run = make_run(tmp_path / "run", "B", dataset_id="cifar10-jpeg",
                   dataset_notes=["JPEG copy, not the original <pixels>"],
                   warnings=["baseline did not learn k=50 <b>bold</b>"])
    summary = json.loads((run / "summary.json").read_text())
    page = build_report(run)
    assert page == run / "report.html"
    text = page.read_text()
    assert "<b>bold</b>" not in text and "&lt;b&gt;bold&lt;/b&gt;" in text
    assert html.escape("JPEG copy, not the original <pixels>") in text
    # The warnings box comes before the first figure: visible near the top.
    assert text.index("did not learn k=50") < text.index("<figure>")
    assert "<title>Experiment B \u2014 cifar10-jpeg</title>" in text
    for fig in summary["figures"]:
        assert html.escape(fig["caption"]) in text
        assert f'src="{fig["file"]}"' in text
    for t in summary["tables"]:
        assert f"<caption>{html.escape(t['title'])}</caption>" in text
        assert all(f"<th>{c}</th>" in text for c in t["columns"])
    for cell in ("<td>a&lt;b &amp; c</td>", "<td>5</td>", "<td>0.25</td>", "<td>\u2013</td>"):
        assert cell in text
    assert html.escape("python main.py --experiment b --l2_reg 0.0001") in text
    assert "0123abcd" * 5 in text and "dirty" in text
    assert "2.14.1" in text and "3.11.7" in text and "2.4.6" in text
    assert 'href="figures/exp_b_curves.pdf"' in text
    assert "imagesOk" in text and 'data-images-ok="pending"' in text
    links = assert_offline_and_linked(page)
    assert "metrics.jsonl" in links


def test_all_layout_orders_experiments_and_links_into_subfolders(tmp_path):
    run = make_all_run(tmp_path / "all")
    text = build_report(run).read_text()
    assert "<title>Experiments A, B, C \u2014 synthetic-v1</title>" in text
    a, b, c = (text.index(f'<section id="exp-{x}">') for x in "abc")
    assert a < b < c
    top = text.index("<h2>Environment</h2>")
    for warning in ("[A] baseline did not learn k=50 &lt;b&gt;x&lt;/b&gt;",
                    "[B] dataset synthetic-v1: CIFAR-10 not found; used the embedded synthetic set"):
        assert text.index(warning) < top
    for x in "abc":
        assert f'src="exp_{x}/figures/exp_{x}_curves.png"' in text
        assert f"{x.upper()}: the fit over training" in text
    links = assert_offline_and_linked(run / "report.html")
    assert "exp_c/summary.json" in links


def test_rebuild_is_identical_and_needs_only_the_folder(tmp_path):
    run = make_all_run(tmp_path / "all")
    first = build_report(run).read_text()
    (run / "report.html").unlink()
    assert build_report(run).read_text() == first
    moved = tmp_path / "elsewhere" / "all"
    shutil.copytree(run, moved)
    (moved / "report.html").unlink()
    assert build_report(moved).read_text() == first
    assert str(tmp_path) not in first


def test_embed_inlines_images_in_a_separate_file(tmp_path):
    run = make_run(tmp_path / "run", "A")
    page = build_report(run, embed=True)
    assert page.name == "report_standalone.html"
    text = page.read_text()
    assert text.count('src="data:image/png;base64,') == 2
    assert text.count('src="data:image/gif;base64,') == 1
    assert 'src="figures/' not in text and "href=\"figures/" not in text
    assert not (run / "report.html").exists()


def test_missing_figure_file_is_reported_not_broken(tmp_path):
    run = make_run(tmp_path / "run", "A")
    (run / "figures" / "exp_a_anim.gif").unlink()
    text = build_report(run).read_text()
    assert "figure listed in summary.json is missing: figures/exp_a_anim.gif" in text
    assert "file missing: figures/exp_a_anim.gif" in text
    assert 'src="figures/exp_a_anim.gif"' not in text
    assert_offline_and_linked(run / "report.html")


def test_comparison_of_two_runs(tmp_path):
    r1 = make_run(tmp_path / "runs" / "l2_small", "B", l2=1e-4, dataset_id="cifar10")
    r2 = make_run(tmp_path / "runs" / "l2_large", "B", l2=1e-3, dataset_id="cifar10-jpeg",
                  extra_figure=False)
    build_report(r1)
    out = tmp_path / "cmp"
    page = build_comparison([r1, r2], out)
    assert page == out / "comparison.html"
    text = page.read_text()
    assert "<tr><td>b.l2_reg</td><td>0.0001</td><td>0.001</td></tr>" in text
    assert "<tr><td>b.dataset_id</td><td>cifar10</td><td>cifar10-jpeg</td></tr>" in text
    assert "<td>b.width</td>" not in text and "<td>b.epochs</td>" not in text
    # The same figure of both runs sits in one side-by-side row.
    row = text.split("<h4><code>figures/exp_b_curves.png</code></h4>")[1].split("</div>\n")[0]
    assert 'src="../runs/l2_small/figures/exp_b_curves.png"' in row
    assert 'src="../runs/l2_large/figures/exp_b_curves.png"' in row
    only = text.split("<h4><code>figures/exp_b_only_sometimes.png</code></h4>")[1]
    assert "not in this run" in only.split("</div>\n")[0]
    # Tables are stacked with a run column, matched by columns although titles differ.
    assert "<tr><td>l2_small</td><td>baseline</td><td>5</td>" in text
    assert "<tr><td>l2_large</td><td>l2</td><td>50</td>" in text
    assert "Titles by run" in text
    links = assert_offline_and_linked(page)
    assert "../runs/l2_small/report.html" in links


def test_comparison_labels_runs_with_the_same_folder_name(tmp_path):
    r1 = make_run(tmp_path / "x" / "run", "A")
    r2 = make_run(tmp_path / "y" / "run", "A", l2=2e-4)
    text = build_comparison([r1, r2], tmp_path).read_text()
    assert "<th>run</th><th>run #2</th>" in text


@pytest.mark.parametrize("content", [None, "{not json", "[1, 2]"])
def test_missing_or_corrupt_summary_is_a_one_line_value_error(tmp_path, content):
    run = make_run(tmp_path / "run", "A")
    summary = run / "summary.json"
    summary.unlink()
    if content is not None:
        summary.write_text(content)
    with pytest.raises(ValueError, match="summary.json") as info:
        build_report(run)
    assert str(summary) in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(ValueError, match=str(summary)):
        build_comparison([make_run(tmp_path / "ok", "A"), run], tmp_path / "cmp")


def test_bad_folders_and_summaries_raise_value_error(tmp_path):
    with pytest.raises(ValueError, match="not a folder"):
        build_report(tmp_path / "nope")
    run = make_all_run(tmp_path / "all")
    (run / "exp_b" / "summary.json").unlink()
    with pytest.raises(ValueError, match=str(run / "exp_b" / "summary.json")):
        build_report(run)
    single = make_run(tmp_path / "single", "A")
    s = json.loads((single / "summary.json").read_text())
    s["figures"][0]["file"] = "../../etc/passwd"
    (single / "summary.json").write_text(json.dumps(s))
    with pytest.raises(ValueError, match="relative path inside the run folder"):
        build_report(single)
    with pytest.raises(ValueError, match="at least 2"):
        build_comparison([single], tmp_path)


@pytest.mark.slow
def test_report_of_a_real_quick_run(tmp_path):
    import main

    assert main.main(["--experiment", "a", "--quick", "--seed", "0", "--out", str(tmp_path)]) == 0
    (run,) = [p for p in tmp_path.iterdir() if p.name.endswith("_a_quick")]
    summary = json.loads((run / "summary.json").read_text())
    text = build_report(run).read_text()
    assert summary["figures"] and summary["tables"]
    for fig in summary["figures"]:
        assert html.escape(fig["caption"]) in text
    for w in summary["warnings"]:
        assert html.escape(w) in text
    for t in summary["tables"]:
        assert html.escape(t["title"]) in text
    links = assert_offline_and_linked(run / "report.html")
    assert {f["file"] for f in summary["figures"]} <= set(links)
