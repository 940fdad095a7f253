"""What a comparison leaves behind besides the cells: `best.yaml` (a ready-to-use `tailtag train --config`
file of the winner) and `summary.json` (the noise statement and the comparison with the baseline)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tailtag.compare.grid import CompareConfig
from tailtag.compare.leaderboard import Row
from tailtag.fileio import write_text


def best_train_values(config: CompareConfig, best: Row) -> dict:
    """The TrainConfig mapping of the best configuration (base config + its loss, sampler and head)."""
    loss = next(c for c in config.losses if c.label == best.config["loss"])
    sampler = next(c for c in config.samplers if c.label == best.config["sampler"])
    values = dict(config.train)
    values.update(loss=loss.name, loss_params=dict(loss.params), sampler=sampler.name)
    values.update(sampler_params=dict(sampler.params), head=best.config["head"], seed=config.seeds[0])
    return values


def evaluate_hint(config: CompareConfig, rule_name: str) -> str:
    """The `tailtag evaluate` flags that apply the winning decision rule."""
    rule = next(r for r in config.rules if r.name == rule_name)
    flags = [f"--strategy {rule.strategy}", f"--calibration {rule.calibration}"]
    flags += [f"--strategy-param {k}={v}" for k, v in sorted(rule.params.items())]
    return "tailtag evaluate RUN " + " ".join(flags)


def write_best(config: CompareConfig, best: Row, path: Path) -> Path:
    """best.yaml: loads with `tailtag.config.load_config`; comments carry the decision rule."""
    import dataclasses

    import yaml

    from tailtag.config import make_config

    resolved = make_config(best_train_values(config, best), source=str(path))
    rank_by = config.rank_by
    header = [
        f"# best configuration of `tailtag compare {config.source}` by mean {rank_by} over seeds {config.seeds}:",
        f"#   {best.label}: {rank_by} {best.mean[rank_by]:.4f} ± {best.std[rank_by]:.4f} on the test split",
        f"# decision rule: {best.config['rule']}; after training apply it with:",
        f"#   {evaluate_hint(config, best.config['rule'])}",
        "# usage: tailtag train LABELS --images DIR --config best.yaml --out RUN",
    ]
    body = yaml.safe_dump(dataclasses.asdict(resolved), sort_keys=False)  # as save_config writes it
    return write_text(path, "\n".join(header) + "\n" + body)


def noise_statement(rows: list[Row], rank_by: str, baseline: Row | None = None) -> list[str]:
    """Plain sentences: which configurations are indistinguishable from the best, and the baseline gap."""
    if not rows:
        return ["no finished cells"]
    best = rows[0]
    tied = [r for r in rows[1:] if r.within_noise() and r.vs_best and r.vs_best["p"] is not None]
    n_seeds = len(best.per_seed[rank_by])
    score = f"{best.mean[rank_by]:.4f} ± {best.std[rank_by]:.4f}"
    lines = [f"best by mean {rank_by}: {best.label} ({score}, {n_seeds} seeds)"]
    if tied:
        lines.append(
            f"{len(tied)} configuration(s) are within noise of the best (paired t-test over seeds, p >= 0.05): "
            + "; ".join(f"{r.label} ({r.vs_best['diff']:+.4f}, p={r.vs_best['p']:.2f})" for r in tied[:8])
            + (" ..." if len(tied) > 8 else "")
        )
    else:
        lines.append("every other configuration is significantly worse than the best (paired t-test, p < 0.05)")
    if baseline is None:
        lines.append("no baseline in the grid (bce + none + fixed 0.5 by default; set 'baseline:' to choose one)")
    elif baseline is best:
        lines.append(f"the baseline {baseline.label} is the best configuration")
    elif best.vs_baseline is not None and best.vs_baseline["p"] is not None:
        vb = best.vs_baseline
        verdict = "significant" if vb["significant"] else "not significant"
        low, high = vb["ci"] if vb["ci"] else (float("nan"), float("nan"))
        who = baseline.label
        lines.append(
            f"best vs baseline {who}: {vb['diff']:+.4f} {rank_by} (95% CI {low:+.4f} to {high:+.4f}, "
            f"p={vb['p']:.3f}, {verdict})"
        )
    return lines


def write_summary(config: CompareConfig, rows: list[Row], baseline: Row | None, run: dict, path: Path) -> Path:
    """summary.json: timings, the best configuration, the noise statement and every row's paired tests."""
    data = {
        "config": config.source,
        "rank_by": config.rank_by,
        "n_cells": config.n_cells(),
        "n_trainings": len(config.trainings()),
        "trained_now": run["trained"],
        "seconds": round(run["seconds"], 2),
        "best": rows[0].config if rows else None,
        "baseline": baseline.config if baseline else None,
        "statement": noise_statement(rows, config.rank_by, baseline),
        "rows": [
            {
                "rank": r.rank,
                **r.config,
                "mean": r.mean,
                "std": r.std,
                "vs_best": r.vs_best,
                "vs_baseline": r.vs_baseline,
            }
            for r in rows
        ],
    }
    write_text(path, json.dumps(data, indent=1))
    return path


def save_resolved(config: CompareConfig, path: Path) -> Path:
    """compare.yaml: the grid as run, every default written out."""
    import dataclasses

    data = {
        "data": dataclasses.asdict(config.data),
        "train": config.train,
        "losses": [dataclasses.asdict(c) for c in config.losses],
        "samplers": [dataclasses.asdict(c) for c in config.samplers],
        "heads": config.heads,
        "thresholds": [dataclasses.asdict(r) for r in config.rules],
        "seeds": config.seeds,
        "rank_by": config.rank_by,
        "baseline": config.baseline,
    }
    data["data"]["fractions"] = list(data["data"]["fractions"])
    write_text(path, yaml.safe_dump(data, sort_keys=False))
    return path
