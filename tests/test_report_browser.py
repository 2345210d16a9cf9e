"""The report of a real quick run, opened in headless Chromium: every image
decodes, no script error, and the page renders to something that is not
blank; the findings section of a constructed run is laid out at the top of
the first screen. Skipped where Chromium is not installed
(``apt-get install -y chromium``).

The page's own inline script writes ``data-images-ok``, ``data-images-total``
and ``data-js-errors`` on <body> after ``load``; ``--dump-dom`` shows them.
Console errors are also read from Chromium's log (``--enable-logging=stderr``),
so an error thrown before the page's hook is registered is still caught.
"""

import json
import re
import shutil
import subprocess
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from tests.fixtures.runs import SMALL_A
from tests.test_report import FOUR, add_findings, finding, make_all_run
from utils.report import build_comparison, build_report
from utils.report.findings import CLAIM_TITLES

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
pytestmark = [pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed "
                                 "(apt-get install -y chromium)"),
              pytest.mark.slow]
TIMEOUT_S = 60
# Offline and quiet: no network fetches, no profile shared with a user's browser.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--virtual-time-budget=5000"]
WARNING_BG = (255, 244, 214)  # --warn in markup.CSS: the warnings box was styled


def chromium(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *extra, page.resolve().as_uri()]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"chromium did not finish within {TIMEOUT_S} s: {' '.join(cmd)}")
    assert out.returncode == 0, f"chromium exited {out.returncode}:\n{out.stderr[-3000:]}"
    return out


def body_attrs(dom: str) -> dict[str, str]:
    m = re.search(r"<body([^>]*)>", dom)
    assert m, f"no <body> in dumped DOM:\n{dom[:2000]}"
    return dict(re.findall(r'([\w-]+)="([^"]*)"', m.group(1)))


def console_errors(log: str) -> list[str]:
    return [line for line in log.splitlines()
            if ":CONSOLE" in line and re.search(r"uncaught|error|not allowed", line, re.I)]


def check_page(page: Path, profile: Path, n_images: int) -> None:
    out = chromium(page, profile, "--enable-logging=stderr", "--v=0", "--dump-dom",
                   "--window-size=1280,900")
    attrs = body_attrs(out.stdout)
    assert attrs.get("data-js-errors") == "0", f"script errors: {attrs}"
    assert attrs.get("data-images-ok") == "true", \
        f"{attrs.get('data-images-broken')} of {attrs.get('data-images-total')} images " \
        f"did not load in {page}"
    assert attrs.get("data-images-total") == str(n_images), attrs
    assert attrs.get("data-overflow-x") == "false", f"wider than the window: {attrs}"
    assert not console_errors(out.stderr), "\n".join(console_errors(out.stderr))


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    import main

    out = tmp_path_factory.mktemp("runs")
    assert main.main(["--experiment", "a", "--quick", "--seed", "0", *SMALL_A,
                      "--out", str(out)]) == 0
    (run,) = [p for p in out.iterdir() if p.name.endswith("_a_quick")]
    build_report(run)
    return run


def n_image_figures(run: Path) -> int:
    figures = json.loads((run / "summary.json").read_text())["figures"]
    return sum(Path(f["file"]).suffix in (".png", ".gif") for f in figures)


def test_report_loads_every_image_without_script_errors(quick_run, tmp_path):
    check_page(quick_run / "report.html", tmp_path / "profile", n_image_figures(quick_run))


def test_report_screenshot_is_not_blank(quick_run, tmp_path):
    shot = tmp_path / "report.png"
    chromium(quick_run / "report.html", tmp_path / "profile", f"--screenshot={shot}",
             "--window-size=1280,2400")
    assert shot.is_file(), "chromium wrote no screenshot"
    rgb = iio.imread(shot)[..., :3].astype(float)
    assert rgb.shape[:2] == (2400, 1280)
    # Measured on a good page: std of grey ~42, ~20% of pixels not white. A blank
    # or unstyled render is far below both.
    grey = rgb.mean(-1)
    assert grey.std() > 10, f"screenshot looks blank (grey std {grey.std():.1f})"
    assert (rgb.min(-1) < 250).mean() > 0.05, "screenshot is almost all white"
    if json.loads((quick_run / "summary.json").read_text())["warnings"]:
        # the summary comes first; the warnings box follows it
        top = rgb[:1600].reshape(-1, 3)
        styled = (np.abs(top - WARNING_BG).max(1) <= 2).sum()
        assert styled > 1000, "the run has warnings but no styled warnings box near the top"


def test_comparison_loads_every_image(quick_run, tmp_path):
    other = tmp_path / "copy" / quick_run.name
    shutil.copytree(quick_run, other)
    page = build_comparison([quick_run, other], tmp_path / "cmp")
    check_page(page, tmp_path / "profile", 2 * n_image_figures(quick_run))


# Appended to a copy of the page: after load, write where things are laid out
# on <body> data attributes, which --dump-dom shows. ES5, no network.
PROBE = """<script>
window.addEventListener("load", function () {
  var b = document.body.dataset, sec = document.getElementById("summary");
  var fig = document.querySelector("figure");
  b.viewH = String(window.innerHeight);
  b.viewW = String(window.innerWidth);
  b.scrollW = String(document.documentElement.scrollWidth);
  b.sumTop = String(sec ? sec.getBoundingClientRect().top : -1);
  b.figTop = String(fig ? fig.getBoundingClientRect().top : -1);
  var lines = sec ? sec.querySelectorAll("p.finding") : [];
  var bottoms = [], texts = [];
  for (var i = 0; i < lines.length; i++) {
    var r = lines[i].getBoundingClientRect();
    bottoms.push(r.height > 0 ? r.bottom : -1);
    texts.push(lines[i].textContent);
  }
  b.sentenceBottoms = bottoms.join(",");
  b.sentenceText = encodeURIComponent(texts.join("|"));
  var rows = sec ? sec.querySelectorAll("table.verdicts tbody tr") : [];
  b.rows = String(rows.length);
  b.rowsVisible = String(Array.prototype.every.call(rows, function (r) {
    return r.getBoundingClientRect().height > 0; }));
  var badges = document.querySelectorAll("#summary .verdict"), colours = [];
  for (var j = 0; j < badges.length; j++) {
    colours.push(badges[j].className + "=" + getComputedStyle(badges[j]).backgroundColor);
  }
  b.badgeColours = encodeURIComponent(colours.join("|"));
});
</script>"""
VIEWPORT = (1280, 800)


def layout(page: Path, profile: Path) -> dict[str, str]:
    probe = page.with_name("probe_" + page.name)  # same folder: relative images still load
    probe.write_text(page.read_text().replace("</body>", PROBE + "\n</body>"))
    out = chromium(probe, profile, "--dump-dom", f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}")
    attrs = body_attrs(out.stdout)
    assert "data-sum-top" in attrs, f"the probe did not run: {attrs}"
    return attrs


def test_summary_is_at_the_top_of_the_first_screen_and_nothing_overflows(tmp_path):
    from urllib.parse import unquote

    run = make_all_run(tmp_path / "all")
    long_arm = "l2_" + "very_long_arm_name_" * 12
    add_findings(run / "exp_b", FOUR + [finding("l2_lowpass", "supported", "l2_strong")])
    # an unbreakable name in a sentence and in the table must not widen the page
    add_findings(run / "exp_c", [finding("reg_hf_robustness", "inconclusive", long_arm,
                                         experiment="C", figure="figures/exp_c_curves.png")])
    attrs = layout(build_report(run), tmp_path / "profile")
    view = float(attrs["data-view-h"])
    assert view > 0.5 * VIEWPORT[1], attrs
    # nothing forces a horizontal scroll bar at 1280 px (long names wrap or scroll inside)
    assert float(attrs["data-scroll-w"]) <= float(attrs["data-view-w"]), attrs
    top, fig = float(attrs["data-sum-top"]), float(attrs["data-fig-top"])
    assert 0 <= top < 0.3 * view, f"the summary starts at {top} px of a {view} px screen"
    assert fig > top, "a figure comes before the summary"
    bottoms = [float(x) for x in attrs["data-sentence-bottoms"].split(",")]
    assert 3 <= len(bottoms) <= 5 and min(bottoms) > 0, attrs
    assert max(bottoms) <= view, f"the sentences end at {max(bottoms)} px, screen {view}"
    texts = unquote(attrs["data-sentence-text"]).split("|")
    for claim in ("l2_lowpass", "dropout_highfreq", "reg_hf_robustness"):
        assert any(t.startswith(CLAIM_TITLES[claim]) for t in texts), (claim, texts)
    assert attrs["data-rows"] == str(len(FOUR) + 2) and attrs["data-rows-visible"] == "true"
    # the four verdicts are styled, each in its own colour
    colours = dict(x.split("=", 1) for x in unquote(attrs["data-badge-colours"]).split("|"))
    # every verdict word on the page has a colour of its own
    words = {f["verdict"] for f in FOUR} | {"supported"}
    assert len(colours) == len(words) and len(set(colours.values())) == len(words), colours
    assert not any(c in ("rgba(0, 0, 0, 0)", "transparent") for c in colours.values()), colours
