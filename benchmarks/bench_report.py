"""report.html at the seed system's size without training: write it, then time it in headless Chromium.

The labels are bench_scale.py's (35,000 images x 6,941 Zipf-like tags, 3-5 an image, seed 0); the last 25% of a
seeded permutation is the hold-out (8,750 rows, as `tailtag train` holds out) and the rest gives the training
counts and buckets. Scores are synthetic (a positive cell's logit is 4 higher), the decision rule is
`PerClassF1Threshold` fitted on the hold-out, and the summary is `tailtag.evaluation.summarize`'s, so the page
is the one `tailtag evaluate RUN` writes for such a run, minus training curves. Prints the time to summarise,
to write the page, its size, and in headless Chromium (Debian's chromium + chromedriver, as the tests use): the
browser start, the page load (navigation until the load event, then until the per-class table has drawn its
first page) and a screenshot, each alone and all together, then what a header click costs (sorting every row and
drawing one page). Target: the page opens in <= 3 s.

Usage: python benchmarks/bench_report.py [--images 35000] [--tags 6941] [--out DIR] [--loads 3] [--no-browser]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scale import make_labels  # noqa: E402  (a sibling script, not a package)

from tailtag.evaluation import EvaluationArrays, summarize  # noqa: E402
from tailtag.evaluation.files import json_ready  # noqa: E402
from tailtag.report import ReportData, write_report  # noqa: E402
from tailtag.stats import assign_buckets  # noqa: E402
from tailtag.thresholds import PerClassF1Threshold  # noqa: E402


def build(n: int, k: int, seed: int = 0) -> tuple[dict, ReportData]:
    """(summary, report data) of a synthetic evaluation on the hold-out quarter of `make_labels(n, k)`."""
    rng = np.random.default_rng(seed)
    labels = make_labels(rng, n, k)
    order = rng.permutation(n)
    n_train = n - n // 4
    train, hold_out = labels[order[:n_train]], labels[order[n_train:]]
    train_counts = np.asarray(train.sum(axis=0)).ravel().astype(np.int64)
    targets = hold_out.toarray().astype(np.uint8)
    logits = rng.standard_normal(targets.shape, dtype=np.float32) - 3.0 + 4.0 * targets
    scores = 1.0 / (1.0 + np.exp(-logits))
    names = [f"tag{j:05d}" for j in range(k)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # most tags have too few positives for their own threshold, and say so
        thresholds = PerClassF1Threshold().fit(targets, scores, names).thresholds_
    arrays = EvaluationArrays(
        names=names,
        paths=[f"img/{i:06d}.jpg" for i in order[n_train:]],
        targets=targets,
        raw=scores,
        probabilities=scores,
        decisions=(scores >= thresholds).astype(np.uint8),
        held_out_probabilities=scores,
        thresholds=thresholds,
        train_counts=train_counts,
        n_train=n_train,
        buckets=assign_buckets(train_counts),
        fit_targets=targets,
    )
    summary = summarize(
        arrays,
        task="multilabel",
        strategy="per_class_f1",
        strategy_params=None,
        calibration="none",
        held_out="fitted on the evaluated rows",
    )
    summary["threshold_gain"].update(held_out=False, how="fitted on the evaluated rows: a benchmark of the page")
    summary = {"run": "bench_report", "data": "bench_scale labels", "split": "test", "n_images": targets.shape[0],
               "n_labels": k, **summary}  # fmt: skip
    data = ReportData(
        names=names,
        paths=arrays.paths,
        targets=targets,
        raw_scores=scores,
        scores=scores,
        thresholds=thresholds,
        train_counts=train_counts,
        buckets=[str(b) for b in arrays.buckets],
        command=f"python benchmarks/bench_report.py --images {n} --tags {k}",
        images=False,
    )
    return json_ready(summary), data


def open_browser():
    """Headless Chromium through Debian's chromedriver, with the options of the tests' `browser` fixture."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,2000"):  # fmt: skip
        options.add_argument(argument)
    options.binary_location = shutil.which("chromium")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=shutil.which("chromedriver")), options=options)


# The page's script marks the table once it has drawn its first page from the JSON.
_DRAWN = "var t = document.getElementById('per-class'); return t !== null && t.hasAttribute('data-draw-ms');"


def load(driver, uri: str, shot: Path) -> tuple[float, float]:
    """(seconds to load and draw the table, seconds for that plus a screenshot) of one fresh navigation."""
    driver.get("about:blank")
    start = time.perf_counter()
    driver.get(uri)  # returns after the load event
    while not driver.execute_script(_DRAWN):
        time.sleep(0.01)
    loaded = time.perf_counter() - start
    driver.save_screenshot(str(shot))
    return loaded, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=35000)
    parser.add_argument("--tags", type=int, default=6941)
    parser.add_argument("--out", type=Path, help="write report.html here (default: a temporary folder)")
    parser.add_argument("--loads", type=int, default=3, help="page loads timed after the first (default 3)")
    parser.add_argument("--no-browser", action="store_true", help="only write the page")
    args = parser.parse_args()
    folder = args.out or Path(tempfile.mkdtemp(prefix="bench-report-"))
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    summary, data = build(args.images, args.tags)
    built = time.perf_counter() - start
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a section that could not be drawn fails the benchmark
        path = write_report(folder / "report.html", summary, data)
    written = time.perf_counter() - start
    print(f"{data.n_images:,} hold-out rows x {data.n_labels:,} labels: summary {built:.1f} s, "
          f"report.html {written:.1f} s, {path.stat().st_size / 1e6:.2f} MB ({path})")  # fmt: skip
    if args.no_browser:
        return
    start = time.perf_counter()
    driver = open_browser()
    started = time.perf_counter() - start
    try:
        first, first_shot = load(driver, path.as_uri(), folder / "report.png")
        again = [load(driver, path.as_uri(), folder / "report.png") for _ in range(args.loads)]
        sort_ms = []
        for key in ("f1", "f1", "label", "support"):  # ascending, descending, text, int
            driver.find_element("css selector", f'#per-class th[data-key="{key}"]').click()
            sort_ms.append(int(driver.find_element("id", "per-class").get_attribute("data-draw-ms")))
        severe = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    finally:
        driver.quit()
    print(
        f"headless Chromium: start {started:.2f} s; first load (+ table drawn) {first:.2f} s, "
        f"+ screenshot {first_shot:.2f} s; browser start included: {started + first_shot:.2f} s (target <= 3 s)"
    )
    if again:
        print(f"next {len(again)} loads: median {statistics.median(a for a, _ in again):.2f} s, "
              f"+ screenshot {statistics.median(b for _, b in again):.2f} s")  # fmt: skip
    print(f"sort all {data.n_labels:,} rows and draw a page, by F1 up / down, label, support: {sort_ms} ms")
    print("console errors:", severe or "none")


if __name__ == "__main__":
    main()
