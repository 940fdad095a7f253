"""The leaderboard: mean +- std over seeds per configuration, and which differences are within noise.

A configuration is (loss, sampler, head, decision rule); its seeds are paired with the best configuration's
(same seed = same initialisation and sampling stream, same split), and the paired differences of the
ranking metric are tested with a two-sided paired t-test (scipy.stats.ttest_rel; Student 1908, as advised
for comparing learners over matched runs by Dietterich 1998, "Approximate statistical tests for comparing
supervised classification learning algorithms"). A configuration is "within noise" of the best when
p >= alpha. With 3 seeds the test has little power: "within noise" means "not shown different", and the
95% confidence interval of the mean paired difference is reported next to it so the size is visible.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tailtag.compare.cell import METRICS
from tailtag.fileio import atomic_write

ALPHA = 0.05
CONFIG_KEYS = ("loss", "sampler", "head", "rule")


@dataclass
class Row:
    """One configuration of the leaderboard.

    Attributes:
        per_seed: metric -> {seed: value}; `mean` / `std` (sample std, ddof=1) over seeds, None when a metric
            has no value (tail_mAP without tail labels).
        vs_best / vs_baseline: paired comparison of the ranking metric (see `paired`), None for itself.
    """

    config: dict[str, str]
    per_seed: dict[str, dict[int, float | None]]
    mean: dict[str, float | None] = field(default_factory=dict)
    std: dict[str, float | None] = field(default_factory=dict)
    vs_best: dict | None = None
    vs_baseline: dict | None = None
    rank: int = 0

    @property
    def label(self) -> str:
        return " | ".join(self.config[k] for k in CONFIG_KEYS)

    def within_noise(self) -> bool:
        """True for the best itself and configs whose paired difference to it is not significant."""
        return self.vs_best is None or not self.vs_best["significant"]


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    array = np.asarray(values, dtype=np.float64)
    return float(array.mean()), float(array.std(ddof=1)) if len(array) > 1 else 0.0


def paired(a: dict[int, float | None], b: dict[int, float | None], alpha: float = ALPHA) -> dict:
    """Paired comparison of `a` - `b` over the seeds both have.

    Returns:
        {"diff": mean difference, "ci": (low, high) 95% t interval or None, "p": two-sided paired t-test
        p-value (1.0 when all differences are equal to 0, 0.0 when equal and non-zero), "n": seeds,
        "significant": p < alpha}.
    """
    from scipy import stats

    seeds = sorted(s for s in a if s in b and a[s] is not None and b[s] is not None)
    if len(seeds) < 2:
        return {"diff": None, "ci": None, "p": None, "n": len(seeds), "significant": False}
    d = np.array([a[s] - b[s] for s in seeds], dtype=np.float64)
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    if sd == 0.0:  # the t statistic is undefined: identical differences on every seed
        p = 1.0 if mean == 0.0 else 0.0
        ci = (mean, mean)
    else:
        p = float(stats.ttest_rel([a[s] for s in seeds], [b[s] for s in seeds]).pvalue)
        half = float(stats.t.ppf(0.975, len(d) - 1)) * sd / math.sqrt(len(d))
        ci = (mean - half, mean + half)
    return {"diff": mean, "ci": ci, "p": p, "n": len(seeds), "significant": p < alpha}


def build_rows(records: list[dict]) -> list[Row]:
    """Group cell records by configuration and average over seeds."""
    groups: dict[tuple, Row] = {}
    for record in records:
        config = {k: str(record[k]) for k in CONFIG_KEYS}
        row = groups.setdefault(tuple(config.values()), Row(config, {m: {} for m in METRICS}))
        for metric in METRICS:
            row.per_seed[metric][int(record["seed"])] = record["metrics"].get(metric)
    for row in groups.values():
        for metric in METRICS:
            values = [v for v in row.per_seed[metric].values() if v is not None]
            row.mean[metric], row.std[metric] = _mean_std(values)
    return list(groups.values())


def rank(rows: list[Row], rank_by: str, baseline: dict[str, str] | None = None, alpha: float = ALPHA) -> list[Row]:
    """Sort by mean `rank_by` (descending; ties by label), and compare every row with the best and baseline."""
    ordered = sorted(rows, key=lambda r: (-(r.mean[rank_by] if r.mean[rank_by] is not None else -math.inf), r.label))
    if not ordered:
        return ordered
    best = ordered[0]
    base = find(ordered, baseline) if baseline else None
    for i, row in enumerate(ordered, start=1):
        row.rank = i
        row.vs_best = None if row is best else paired(row.per_seed[rank_by], best.per_seed[rank_by], alpha)
        row.vs_baseline = (
            None if base is None or row is base else paired(row.per_seed[rank_by], base.per_seed[rank_by], alpha)
        )
    return ordered


def find(rows: list[Row], match: dict[str, str]) -> Row | None:
    """The first row whose config has every key: value of `match`."""
    return next((r for r in rows if all(r.config.get(k) == v for k, v in match.items())), None)


def _cell(value: float | None, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def write_csv(rows: list[Row], path: Path) -> Path:
    """leaderboard.csv: one row per configuration, mean and std of every metric, the paired tests."""
    columns = ["rank", *CONFIG_KEYS, "n_seeds"]
    columns += [f"{m}_{s}" for m in METRICS for s in ("mean", "std")]
    columns += ["diff_vs_best", "p_vs_best", "within_noise", "diff_vs_baseline", "p_vs_baseline"]
    with atomic_write(path, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            vb, vbase = row.vs_best or {}, row.vs_baseline or {}
            line = [row.rank, *(row.config[k] for k in CONFIG_KEYS), len(row.per_seed[METRICS[0]])]
            line += [_cell(v) for m in METRICS for v in (row.mean[m], row.std[m])]
            line += [_cell(vb.get("diff")), _cell(vb.get("p")), "yes" if row.within_noise() else "no"]
            line += [_cell(vbase.get("diff")), _cell(vbase.get("p"))]
            writer.writerow(line)
    return path


def format_table(rows: list[Row], rank_by: str, limit: int | None = 20) -> str:
    """The terminal leaderboard: `≈` marks configurations within noise of the best."""
    shown = rows if limit is None else rows[:limit]
    width = max([len(r.label) for r in shown] + [13])
    header = f"{'#':>3}  {'configuration':<{width}}  " + "  ".join(f"{m:>15}" for m in METRICS) + "  vs best"
    lines = [header, "-" * len(header)]
    for row in shown:
        cells = "  ".join(f"{_pm(row.mean[m], row.std[m]):>15}" for m in METRICS)
        vb = row.vs_best
        note = "best" if vb is None else (("≈ " if not vb["significant"] else "  ") + _diff(vb))
        lines.append(f"{row.rank:>3}  {row.label:<{width}}  {cells}  {note}")
    if limit is not None and len(rows) > limit:
        lines.append(f"... {len(rows) - limit} more in leaderboard.csv")
    return "\n".join(lines)


def _pm(mean: float | None, std: float | None) -> str:
    return "n/a" if mean is None else f"{mean:.3f} ± {std:.3f}"


def _diff(result: dict) -> str:
    if result["p"] is None:
        return "n/a"
    return f"{result['diff']:+.3f} (p={result['p']:.3f})"
