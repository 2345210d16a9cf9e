"""The HTML report is built from a run folder alone, escapes run text, links
only relatively to files that exist, and is deterministic.

Run folders here are written by hand (JSON plus tiny PNG/GIF files) following
the summary contract, so these tests depend on neither training nor on
experiments B and C; one slow test builds the report of a real quick A run.
"""

import html
import json
import re
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
    add_findings(run, [finding("l2_lowpass", "supported", "l2", figure="figures/exp_a_curves.png")])
    page = build_report(run, embed=True)
    assert page.name == "report_standalone.html"
    text = page.read_text()
    assert text.count('src="data:image/png;base64,') == 2
    assert text.count('src="data:image/gif;base64,') == 1
    assert 'src="figures/' not in text and "href=\"figures/" not in text
    assert "<code>figures/exp_a_curves.png</code>" in section(text)  # named, not linked
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


# --- findings: the claims' verdicts at the top of every report -------------

from utils.report.findings import CLAIM_TITLES, fmt_num  # noqa: E402
from utils.report.loading import CLAIMS, VERDICTS, load_run  # noqa: E402
from utils.report.markup import fmt_seconds  # noqa: E402


def finding(claim, verdict, arm, experiment="B", figure="figures/exp_b_curves.png", **kw) -> dict:
    """One entry as the experiments write it (summary["findings"])."""
    out = {"claim": claim, "claim_text": f"{arm} tested for {claim} <i>", "arm": arm,
           "arm_label": f"{arm} (L2 5e-4*sum||W||^2)", "verdict": verdict,
           "statistic": "normalized SSR vs baseline", "estimate": 0.1234, "lo": -0.0456,
           "hi": 0.29, "n": 2, "values": [0.1, None, 0.1468], "p_adjusted": 0.0312,
           "family": f"{claim} x 3 arms", "method": "paired t, Holm & co", "experiment": experiment,
           "dataset_id": "synthetic-v1", "figure": figure, "text": f"{arm}: {verdict} <b>!</b>"}
    out.update(kw)
    return out


def add_findings(folder: Path, findings, takeaway=None) -> None:
    path = folder / "summary.json"
    s = json.loads(path.read_text())
    s["findings"] = findings
    if takeaway is not None:
        s["takeaway"] = takeaway
    path.write_text(json.dumps(s))


def section(text: str) -> str:
    return text.split('<section id="findings">')[1].split("</section>")[0]


def claim_block(text: str, claim: str) -> str:
    return section(text).split(f'id="claim-{claim}"')[1].split('<div class="claim"')[0]


FOUR = [finding("l2_lowpass", "supported", "l2"),
        finding("l2_lowpass", "contradicted", "l2_dropout"),
        finding("dropout_highfreq", "not supported", "dropout"),
        finding("dropout_highfreq", "inconclusive", "l2_dropout", p_adjusted=None,
                values=[], n=None),
        finding("reg_hf_robustness", "absent", "l2", experiment="B", p_tost_adjusted=0.004,
                mde=0.0111, power_at_sesoi=0.93, sesoi=0.02,
                secondary={"statistic": "raw AUC", "verdict": "supported", "estimate": 0.05,
                           "lo": 0.01, "hi": 0.09}),
        finding("reg_hf_robustness", "undetermined", "dropout", experiment="B", mde=0.0777,
                power_at_sesoi=0.12, sesoi=0.02)]
GARBAGE = [{"claim": "l2_lowpass", "verdict": "maybe", "arm": "l2"}, 42]


def test_findings_section_shows_every_verdict_and_the_missing_claim(tmp_path):
    run = make_run(tmp_path / "run", "B", dataset_id="synthetic-v1",
                   warnings=["arm l2 ends near chance"])
    add_findings(run, FOUR + GARBAGE, takeaway="<b>L2</b> smooths conv1 & costs 2% accuracy")
    text = build_report(run).read_text()
    sec = section(text)
    # at the top: the summary, then the warnings box, the run facts and the
    # details (this section, folded), then the first figure
    top = text.index('<section id="summary">')
    assert top < text.index('class="warnings"') < text.index('<section id="findings">') \
        < text.index("<h2>Environment</h2>") < text.index("<figure>")
    assert 'Read these with the <a href="#warnings">1\nwarning</a> below' in text
    assert '<div class="warnings" id="warnings" role="alert">' in text
    # the three claims in the seed project's order, each named
    at = [sec.index(html.escape(CLAIM_TITLES[c])) for c in CLAIMS]
    assert at == sorted(at) and len(CLAIMS) == 3
    for f in FOUR:
        block = claim_block(text, f["claim"])
        v = f["verdict"]
        assert f'<span class="verdict v-{v.replace(" ", "-")}">{v}</span>' in block
        assert html.escape(f["arm_label"]) in block and html.escape(f["claim_text"]) in block
        assert html.escape(f["text"]) in block
        assert f"[{fmt_num(f['lo'])}, {fmt_num(f['hi'])}]" in block
        assert f"{html.escape(f['statistic'])}: {fmt_num(f['estimate'])}" in block
        assert html.escape(f["method"]) in block and html.escape(f["family"]) in block
        assert "B, <code>synthetic-v1</code>" in block
        assert 'href="figures/exp_b_curves.png"' in block
    assert {v for f in FOUR for v in [f["verdict"]]} == set(VERDICTS)
    seeds = ", ".join(fmt_num(v) for v in FOUR[0]["values"])
    assert "\u2013" in seeds and f"{seeds} (n = 2)" in claim_block(text, "l2_lowpass")
    assert f"<td>{fmt_num(0.0312)}</td>" in claim_block(text, "l2_lowpass")
    # four-state rows: TOST p, MDE / power, the secondary with its verdict and the disagreement
    c3 = claim_block(text, "reg_hf_robustness")
    assert f"TOST {fmt_num(0.004)}" in c3 and f"MDE {fmt_num(0.0777)} / power 0.12" in c3
    assert f'raw AUC: {fmt_num(0.05)} [{fmt_num(0.01)}, {fmt_num(0.09)}] <span class="verdict ' \
           f'v-supported">supported</span>' in c3 and "primary and secondary disagree" in c3
    assert "not recorded" in claim_block(text, "dropout_highfreq")  # no per-seed values
    assert "not tested" not in claim_block(text, "l2_lowpass")
    # at a glance, before the tables: one line per claim with every arm's verdict
    glance = sec.split('<ul class="glance">')[1].split("</ul>")[0].split("<li>")[1:]
    assert len(glance) == len(CLAIMS) and sec.index("glance") < sec.index("<table")
    for claim, line in zip(CLAIMS, glance):
        assert f'href="#claim-{claim}">{html.escape(CLAIM_TITLES[claim])}</a>' in line
        mine = [f for f in FOUR if f["claim"] == claim]
        for f in mine:
            v = f["verdict"]
            assert f'{f["arm"]} <span class="verdict v-{v.replace(" ", "-")}">{v}</span>' in line
        assert ("not tested in this run" in line) == (not mine)
    assert "&lt;b&gt;L2&lt;/b&gt; smooths conv1 &amp; costs 2% accuracy" in sec
    assert "<i>" not in sec and "<b>!" not in sec
    # the garbage entries are named and skipped, the rest still shown
    assert "summary.json: findings[6] skipped: verdict must be one of" in sec
    assert "summary.json: findings[7] skipped: expected an object, got int" in sec
    assert sec.count("<tr><td>") == len(FOUR)
    assert_offline_and_linked(run / "report.html")


@pytest.mark.parametrize("entry,message", [
    ({"claim": "l2_smooths", "verdict": "supported", "arm": "l2"}, "claim must be one of"),
    ({"claim": "l2_lowpass", "verdict": "supported"}, "arm must be a non-empty string"),
    (finding("l2_lowpass", "supported", "l2", estimate="0.12"), "estimate must be a number"),
    (finding("l2_lowpass", "supported", "l2", lo=True), "lo must be a number"),
    (finding("l2_lowpass", "supported", "l2", values=[0.1, "x"]), "values must be a list"),
    (finding("l2_lowpass", "supported", "l2", values=0.1), "values must be a list"),
    (finding("l2_lowpass", "supported", "l2", lo=0.5, hi=0.1), "has lo > hi"),
    (finding("l2_lowpass", "supported", "l2", n=-1), "n must be a count"),
    (finding("l2_lowpass", "supported", "l2", n=2.0), "n must be a count"),
    (finding("l2_lowpass", "supported", "l2", figure="../../etc/passwd"), "figure must be"),
    (finding("l2_lowpass", "supported", "l2", method=["t"]), "method must be a string"),
    ("supported", "expected an object, got str"),
])
def test_each_kind_of_garbage_entry_is_skipped_with_its_reason(tmp_path, entry, message):
    run = make_run(tmp_path / "run", "B")
    add_findings(run, [entry, finding("l2_lowpass", "Supported ", "l2")])
    (part,) = load_run(run).parts
    assert len(part.findings) == 1 and part.findings[0].verdict == "supported"
    (skipped,) = part.findings_skipped
    assert skipped.startswith("summary.json: findings[0] skipped: ") and message in skipped
    assert html.escape(skipped) in build_report(run).read_text()


def test_findings_that_are_not_a_list_and_bad_takeaways_are_ignored(tmp_path):
    run = make_run(tmp_path / "run", "B")
    add_findings(run, {"claim": "l2_lowpass"}, takeaway=["not", "a string"])
    (part,) = load_run(run).parts
    assert part.findings == () and part.takeaway is None
    assert part.findings_skipped == (
        "summary.json: 'findings' must be a list of objects, got dict; all ignored",
        "summary.json: 'takeaway' must be a string, got list; ignored")
    text = build_report(run).read_text()
    for claim in CLAIMS:  # present but empty: every claim untested, nothing crashed
        assert "not tested in this run" in claim_block(text, claim)


def test_a_run_without_findings_says_so_plainly(tmp_path):
    run = make_run(tmp_path / "run", "B")
    text = build_report(run).read_text()
    top = text.split('<section id="summary">')[1].split("</section>")[0]
    assert "No experiment of this run records verdicts on the claims" in top
    assert "<table" not in top and '<section id="findings">' not in text
    assert "predates" not in text.split("<body")[1].lower()


def test_all_run_merges_parts_and_links_into_subfolders(tmp_path):
    run = make_all_run(tmp_path / "all")
    add_findings(run / "exp_a", [finding("l2_lowpass", "supported", "l2", experiment="A",
                                         figure="figures/exp_a_curves.png"),
                                 finding("dropout_highfreq", "inconclusive", "dropout",
                                         experiment="A", figure="figures/nope.png")],
                 takeaway="A: L2 delays the high frequencies")
    add_findings(run / "exp_c", [finding("reg_hf_robustness", "contradicted", "l2",
                                         experiment="C", figure="figures/exp_c_curves.png")],
                 takeaway="C: no robustness bought")
    text = build_report(run).read_text()
    sec = section(text)
    assert text.index('<section id="summary">') < text.index('class="warnings"')
    assert 'href="exp_a/figures/exp_a_curves.png"' in claim_block(text, "l2_lowpass")
    assert 'href="exp_c/figures/exp_c_curves.png"' in claim_block(text, "reg_hf_robustness")
    assert "missing: exp_a/figures/nope.png" in claim_block(text, "dropout_highfreq")
    # B records no verdict rows here: said plainly, never "predates"
    assert "Experiment B records no verdict rows" in text
    assert "predates" not in text.split("<body")[1].lower()
    takeaways = sec.split('<ul class="takeaways">')[1]
    assert takeaways.index("Experiment A</strong>: A: L2 delays") < \
        takeaways.index("Experiment C</strong>: C: no robustness bought")
    assert "Experiment B</strong>" not in takeaways
    assert_offline_and_linked(run / "report.html")


def test_comparison_has_the_findings_of_every_run(tmp_path):
    r1 = make_run(tmp_path / "runs" / "l2_small", "B", dataset_id="cifar10")
    r2 = make_run(tmp_path / "runs" / "l2_large", "B", l2=1e-3, dataset_id="cifar10")
    r3 = make_run(tmp_path / "runs" / "old", "B", dataset_id="cifar10")
    add_findings(r1, [finding("l2_lowpass", "inconclusive", "l2")], takeaway="small: unclear")
    add_findings(r2, [finding("l2_lowpass", "supported", "l2")], takeaway="large: low-pass")
    text = build_comparison([r1, r2, r3], tmp_path / "cmp").read_text()
    assert text.index('<section id="findings">') < text.index("<h2>Settings that differ</h2>")
    block = claim_block(text, "l2_lowpass")
    assert "<th>run</th>" in block
    assert block.index("<tr><td>l2_small</td>") < block.index("<tr><td>l2_large</td>")
    assert 'href="../runs/l2_large/figures/exp_b_curves.png"' in block
    assert "Predates verdicts (no findings recorded): old: experiment B." in section(text)
    assert "l2_large, experiment B</strong>: large: low-pass" in section(text)
    assert_offline_and_linked(tmp_path / "cmp" / "comparison.html")


# --- report defects ---------------------------------------------------------

def test_rates_in_wall_seconds_are_shown_as_rates(tmp_path):
    run = make_run(tmp_path / "run", "C")
    s = json.loads((run / "summary.json").read_text())
    s["wall_seconds"].update({"eval_images_per_s": 454.9, "heatmap_per_model": 454.9,
                              "train_images_per_s": 12345.0})
    (run / "summary.json").write_text(json.dumps(s))
    text = build_report(run).read_text()
    assert "<tr><th>eval_images_per_s</th><td>454.9 images/s</td></tr>" in text
    assert "<tr><th>train_images_per_s</th><td>12,345.0 images/s</td></tr>" in text
    # a duration stays a duration
    assert f"<tr><th>heatmap_per_model</th><td>{fmt_seconds(454.9)}</td></tr>" in text
    assert text.count(fmt_seconds(454.9)) == 1


def test_a_dataset_note_shared_by_parts_is_shown_once_with_its_parts(tmp_path):
    run = make_all_run(tmp_path / "all")
    note = "CIFAR-10 not found; used the embedded synthetic set"
    for sub, extra in (("exp_b", {"warnings": [note]}), ("exp_c", {"dataset_notes": [note]})):
        path = run / sub / "summary.json"
        s = json.loads(path.read_text())
        s.update(extra)   # B copies its notes into warnings; C inherits B's notes
        path.write_text(json.dumps(s))
    text = build_report(run).read_text()
    top = text.split('class="warnings"')[1].split("</div>")[0]
    assert top.count(note) == 1
    assert f"[B, C] dataset synthetic-v1: {note}" in top
    assert "[A] baseline did not learn k=50" in top
    # each experiment's own box still lists it once
    b_box = text.split('<section id="exp-b">')[1].split("</div>")[0]
    assert b_box.count(note) == 1


def summary_of(text: str) -> str:
    return text.split('<section id="summary">')[1].split("</section>")[0]


def test_summary_states_the_findings_and_one_compact_table_over_the_parts(tmp_path):
    from utils.report.overview import CLAIM_TITLES as TITLES
    from utils.report.overview import fmt_num as fmt_est
    from utils.report.overview import fmt_p

    run = make_all_run(tmp_path / "all")
    rows_b = [finding("l2_lowpass", "supported", "l2", mde=0.05, power=0.8, secondary_abs=0.3),
              finding("l2_lowpass", "not supported", "l2_dropout", estimate=0.01, lo=-0.2,
                      hi=0.22, p_adjusted=0.5),
              finding("dropout_highfreq", "not supported", "dropout")]
    rows_c = [finding("reg_hf_robustness", "contradicted", "dropout", experiment="C",
                      estimate=-0.057, lo=-0.09, hi=-0.026, p_adjusted=0.046,
                      figure="figures/exp_c_curves.png")]
    add_findings(run / "exp_b", rows_b)
    add_findings(run / "exp_c", rows_c)
    text = build_report(run).read_text()
    top = summary_of(text)
    sentences = re.findall(r'<p class="finding">(.*?)</p>', top, flags=re.S)
    assert 3 <= len(sentences) <= 5
    # one sentence per claim, with the decisive arm's number and interval
    l2 = next(x for x in sentences if x.startswith(html.escape(TITLES["l2_lowpass"])))
    assert f"{fmt_est(0.1234)} [{fmt_est(-0.0456)}, {fmt_est(0.29)}]" in l2
    assert f"adjusted p {fmt_p(0.0312)}" in l2 and "1 supported, 1 not supported" in l2
    hf = next(x for x in sentences if x.startswith(html.escape(TITLES["reg_hf_robustness"])))
    assert "contradicted for dropout" in hf and f"{fmt_est(-0.057)} [{fmt_est(-0.09)}" in hf
    assert "Experiment A records no verdict rows" in top
    # one table over B and C, one row per (claim, arm), each number once
    body = top.split("<tbody>")[1].split("</tbody>")[0]
    trs = body.split("<tr>")[1:]
    assert len(trs) == len(rows_b) + len(rows_c)
    for f, tr in zip(rows_b[:2] + rows_b[2:] + rows_c, trs):
        assert tr.count(fmt_est(f["estimate"])) == 1
        assert f'<span class="verdict v-{f["verdict"].replace(" ", "-")}">' in tr
    head = top.split("<thead>")[1].split("</thead>")[0]
    for col in ("verdict", "estimate [95% interval]", "adjusted p", "min. detectable effect",
                "power", "figure"):
        assert f"<th>{col}</th>" in head
    assert 'href="exp_c/figures/exp_c_curves.png"' in trs[-1]
    # fields the table has no column for are folded below, not dropped
    assert "secondary_abs" in text.split("Further fields of the verdict rows")[1]
    assert "<i>" not in text and "<b>!" not in text  # autoescaped
