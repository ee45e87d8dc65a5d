import html
import io
import json
import re
import shutil
import subprocess
import tarfile

import numpy as np
import pytest
from PIL import Image

from pixsift.engine.cli import main
from pixsift.engine.report.data import SHOWN, gather
from pixsift.engine.report.job import write_report
from pixsift.engine.score.job import score
from pixsift.engine.store.run_store import RunStore
from tests.helpers.scoring import good_pool, score_config
from tests.helpers.selection_stores import scored_pool, write_selection

FILTER = "filter:clip_cosine>=0.2"
FUNNEL = [
    {"step": "status", "dropped": 0, "remaining": 12},
    {
        "step": FILTER,
        "dropped": 5,
        "remaining": 7,
        "thresholds": [{"column": "clip_cosine", "op": ">=", "value": 0.2}],
    },
    {"step": "dedup:semantic", "dropped": 1, "remaining": 6},
    {"step": "top_k", "dropped": 1, "remaining": 5},
]
REASONS = {**dict.fromkeys(range(5), FILTER), 6: "dedup:semantic", 11: "top_k"}
KEPT = [5, 7, 8, 9, 10]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Injected into a copy of the report before Chromium loads it: records failed resources, uncaught errors
# and console errors, and after load how many <img> there are and which did not render.
CHECKER = """<script>
window.__problems = [];
addEventListener("error", e => __problems.push(e.target && e.target.tagName
  ? "failed to load " + e.target.tagName : "uncaught " + e.message), true);
const consoleError = console.error;
console.error = (...args) => { __problems.push("console.error " + args.join(" ")); consoleError(...args); };
addEventListener("load", () => {
  const images = [...document.images];
  const check = document.createElement("pre");
  check.id = "pixsift-check";
  check.textContent = JSON.stringify({images: images.length, problems: __problems,
    broken: images.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.alt)});
  document.body.append(check);
});
</script>"""


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    pool = scored_pool(tmp_path_factory.mktemp("pool"))
    write_selection(pool.store, "best", KEPT, reasons=REASONS, dup_group={5: 5, 6: 5}, funnel=FUNNEL)
    return pool


@pytest.fixture(scope="module")
def report(pool, tmp_path_factory):
    return write_report(pool.store.url, "best", tmp_path_factory.mktemp("report"))


def test_gathered_numbers_match_a_numpy_reference(pool):
    data = gather(pool.store, "best")
    weighted = pool.store.arrays["clip_cosine"][:] + 0.5 * pool.store.arrays["ssim_roundtrip"][:]
    kept = np.isin(np.arange(12), KEPT)
    assert data.n_kept == 5 and data.cut == pytest.approx(weighted[kept].min())
    assert data.near_cut_kept == sorted(KEPT)  # weighted grows with the row
    dropped = np.flatnonzero(~kept)
    assert (
        data.near_cut_dropped
        == dropped[np.argsort(np.abs(weighted[dropped] - data.cut), kind="stable")][:SHOWN].tolist()
    )
    assert data.dup_groups == [[5, 6]]
    histograms = {h.column: h for h in data.histograms}
    assert histograms["clip_cosine"].thresholds == [(">=", 0.2)]
    assert histograms["weighted_score"].kept.sum() == 5 and histograms["weighted_score"].dropped.sum() == 7
    assert histograms["aesthetic"].kept.sum() + histograms["aesthetic"].dropped.sum() == 9  # 3 NaN rows
    assert dict(data.counts["category"]) == {"animals": 1, "people": 2, "objects": 2}  # row % 3


def test_report_is_one_self_contained_page_with_png_plots(report):
    page = report.read_text()
    sources = re.findall(r'<img src="([^"]*)"', page)
    assert sources and all(
        s.startswith(("data:image/png;base64,", "data:image/jpeg;base64,")) for s in sources
    )
    assert "<script" not in page and "http" not in page.replace("http-equiv", "")
    for title in ("Funnel", "Weighted score and the cut", "Kept nearest the cut", "Dropped nearest the cut",
                  "Duplicate groups", html.escape(FILTER), "Sizes: width, height, bytes",
                  "Kept per category, style and format"):  # fmt: skip
        assert title in page
    plots = sorted(p.name for p in report.parent.glob("*.png"))
    assert plots == sorted(
        ["funnel.png", "counts-category.png", "counts-style.png", "counts-format.png"]
        + [
            f"hist-{c}.png"
            for c in ("weighted_score", "clip_cosine", "clip_score", "ssim_roundtrip", "aesthetic")
        ]
        + [f"hist-{c}.png" for c in ("width", "height", "byte_size")]
    )
    for plot in plots:
        assert Image.open(report.parent / plot).format == "PNG"
    # 12 plots, 5 kept and 7 dropped near the cut, a duplicate group of 2
    assert len(sources) == 12 + 5 + 7 + 2


def test_an_unreadable_thumbnail_is_shown_as_its_error(tmp_path):
    pool = scored_pool(tmp_path / "pool")
    write_selection(pool.store, "all", list(range(12)))
    (tmp_path / "pool" / "coffee-40.png").unlink()
    page = write_report(pool.store.url, "all", tmp_path / "report").read_text()
    assert re.search(r'<div class="missing">read: [^<]*coffee-40.png', page)


def test_cli_prints_the_report_path(pool, tmp_path, capsys):
    assert main(["report", pool.store.url, "--selection", "best", "--out", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "report.html")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")
def test_report_renders_in_headless_chromium_without_errors(report, tmp_path):
    checked = tmp_path / "checked.html"
    checked.write_text(report.read_text().replace("<head>", "<head>" + CHECKER, 1))
    result = chromium(tmp_path, "--dump-dom", "--virtual-time-budget=10000", checked.as_uri())
    found = re.search(r'<pre id="pixsift-check">(.*?)</pre>', result.stdout, re.S)
    assert found, f"chromium printed no check result:\n{result.stderr[-3000:]}"
    check = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert check["images"] == 26 and check["broken"] == [] and check["problems"] == []
    assert "CONSOLE" not in result.stderr, result.stderr

    shot = tmp_path / "shot.png"
    chromium(
        tmp_path, "--hide-scrollbars", "--window-size=1280,2400", f"--screenshot={shot}", report.as_uri()
    )
    assert Image.open(shot).size == (1280, 2400)


def chromium(tmp_path, *args: str) -> subprocess.CompletedProcess:
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0", *args,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


def test_the_report_names_the_model_warns_of_random_weights_and_counts_failures(tmp_path, tiny_config):
    inputs = good_pool(tmp_path / "pool")
    with tarfile.open(inputs[0], "a") as tar:  # a sample whose image is not one
        for name, data in (("broken.jpg", b"not an image"), ("broken.txt", b"a broken photo")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    score(score_config(inputs, tmp_path / "store", tiny_config), io.StringIO())
    store = RunStore.open(str(tmp_path / "store"))
    write_selection(store, "all", [r for r in range(store.n_rows) if store.arrays["status"][r] == "ok"])
    page = write_report(store.url, "all", tmp_path / "report").read_text()
    assert "Scored by: CLIP <code>pixsift-tiny-vit</code>, weights <code>random</code>." in page
    assert '<p class="warning">Random weights' in page
    failures = page.split("<h2>Failed rows by reason</h2>")[1].split("<h2>")[0]
    assert re.search(r"<td>decode</td><td>1</td>", failures), failures
    sources = page.split("<h2>Kept per input</h2>")[1].split("<h2>")[0]  # 2 photos and the broken one, then 3
    assert f"<tr><td><code>{inputs[0]}</code></td><td>3</td><td>2</td><td>66.7%</td></tr>" in sources
    assert f"<tr><td><code>{inputs[1]}</code></td><td>3</td><td>3</td><td>100.0%</td></tr>" in sources


def test_a_store_without_its_model_says_so(report):
    page = report.read_text()
    assert "Scored by: not recorded in the store." in page and 'class="warning"' not in page
