"""Reading and up-front validation of a compare CONFIG: every problem (key, what was expected, what was found) at once,
before any feature is extracted or model trained, so a typo in cell 37 costs seconds instead of minutes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tailtag.compare.grid import (
    DATA_KEYS,
    RULE_KEYS,
    TOP_KEYS,
    TRAIN_DEFAULTS,
    Choice,
    CompareConfig,
    DataSpec,
    Rule,
)
from tailtag.errors import OptionError

RANK_METRICS = ("macro_f1", "micro_f1", "mAP", "tail_mAP", "label_accuracy", "subset_accuracy")
# Keys the grid sets per training: giving them under `train:` would be silently overridden.
GRID_OWNED = ("loss", "loss_params", "sampler", "sampler_params", "head", "seed")


def parse_sections(raw: dict[str, Any], source: str) -> tuple[CompareConfig | None, list[str]]:
    """(the config, or None when a section cannot be read at all; the problems found)."""
    problems: list[str] = []
    unknown = sorted(set(raw) - set(TOP_KEYS))
    if unknown:
        problems.append(f"unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(TOP_KEYS)}")
    missing = [key for key in ("data", "losses", "seeds") if key not in raw]
    if missing:
        problems.append(f"missing key(s) {', '.join(missing)}; e.g. data: {{labels: labels.csv}}, losses: [bce]")
    data = _data(raw.get("data"), problems)
    train = raw.get("train") or {}
    if not isinstance(train, dict):
        problems.append(f"'train' must be a mapping of TrainConfig keys, got {train!r:.60}")
        train = {}
    owned = sorted(set(train) & set(GRID_OWNED))
    if owned:
        problems.append(f"'train' sets {', '.join(owned)}, which the grid sets per cell; move them to the grid lists")
    losses = _choices(raw.get("losses"), "losses", problems)
    samplers = _choices(raw.get("samplers", ["none"]), "samplers", problems)
    heads = [c.name for c in _choices(raw.get("heads", ["linear"]), "heads", problems)]
    rules = _rules(raw.get("thresholds", ["fixed"]), problems)
    seeds = _seeds(raw.get("seeds"), problems)
    rank_by = raw.get("rank_by", "macro_f1")
    if rank_by not in RANK_METRICS:
        problems.append(f"'rank_by' must be one of {', '.join(RANK_METRICS)}, got {rank_by!r}")
    baseline = raw.get("baseline") or {}
    if not isinstance(baseline, dict):
        problems.append(f"'baseline' must be a mapping like {{loss: bce, rule: fixed 0.5}}, got {baseline!r}")
        baseline = {}
    if data is None:
        return None, problems
    config = CompareConfig(
        data=data,
        train={**TRAIN_DEFAULTS, **train},
        losses=losses,
        samplers=samplers,
        heads=heads,
        rules=rules,
        seeds=seeds,
        rank_by=rank_by,
        baseline={str(k): str(v) for k, v in baseline.items()},
        source=source,
    )
    return config, problems


def _data(raw: Any, problems: list[str]) -> DataSpec | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or "labels" not in raw:
        problems.append(f"'data' must be a mapping with at least 'labels' (a label file), got {raw!r:.60}")
        return None
    unknown = sorted(set(raw) - set(DATA_KEYS))
    if unknown:
        problems.append(f"'data' has unknown key(s) {', '.join(unknown)}; valid: {', '.join(DATA_KEYS)}")
    fractions = raw.get("fractions", (0.6, 0.2, 0.2))
    ok = isinstance(fractions, list | tuple) and len(fractions) == 3
    ok = ok and all(isinstance(f, int | float) and f > 0 for f in fractions) and abs(sum(fractions) - 1) < 1e-6
    if not ok:
        problems.append(f"'data.fractions' must be 3 positive numbers (train, val, test) summing to 1, got {fractions}")
        fractions = (0.6, 0.2, 0.2)
    options = raw.get("options") or {}
    if not isinstance(options, dict):
        problems.append(f"'data.options' must be a mapping of reader options (e.g. format: onehot), got {options!r}")
        options = {}
    seed = raw.get("split_seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        problems.append(f"'data.split_seed' must be an integer >= 0, got {seed!r}")
        seed = 0
    images, split = raw.get("images"), raw.get("split")
    return DataSpec(
        labels=str(raw["labels"]),
        images=None if images is None else str(images),
        options=dict(options),
        split=None if split is None else str(split),
        fractions=tuple(float(f) for f in fractions),
        split_seed=seed,
    )


def _choices(raw: Any, key: str, problems: list[str]) -> list[Choice]:
    if not isinstance(raw, list) or not raw:
        if raw is not None:
            problems.append(f"'{key}' must be a non-empty list of names or {{name, params}} mappings, got {raw!r:.60}")
        return []
    out = []
    for i, item in enumerate(raw):
        if isinstance(item, str):
            out.append(Choice(item))
        elif isinstance(item, dict) and isinstance(item.get("name"), str) and set(item) <= {"name", "params"}:
            params = item.get("params") or {}
            if not isinstance(params, dict):
                problems.append(f"'{key}[{i}].params' must be a mapping, e.g. {{gamma: 2.0}}, got {params!r}")
                params = {}
            out.append(Choice(item["name"], dict(params)))
        else:
            problems.append(f"'{key}[{i}]' must be a name or {{name: ..., params: {{...}}}}, got {item!r:.60}")
    labels = [c.label for c in out]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        problems.append(f"'{key}' lists {', '.join(duplicates)} more than once; remove the repeats")
    return out


def _rules(raw: Any, problems: list[str]) -> list[Rule]:
    """Decision rules: a strategy name (fixed means 0.5, no calibration) or a mapping with RULE_KEYS."""
    if not isinstance(raw, list) or not raw:
        problems.append(f"'thresholds' must be a non-empty list of strategy names or mappings, got {raw!r:.60}")
        return []
    rules = []
    for i, item in enumerate(raw):
        item = {"strategy": item} if isinstance(item, str) else item
        if not isinstance(item, dict) or not set(item) <= set(RULE_KEYS) or "strategy" not in item:
            problems.append(
                f"'thresholds[{i}]' must be a strategy name or a mapping with a 'strategy' and optional "
                f"{', '.join(k for k in RULE_KEYS if k != 'strategy')}; got {item!r:.60}"
            )
            continue
        strategy = str(item["strategy"])
        params = dict(item.get("params") or {})
        if strategy == "fixed":
            params.setdefault("value", 0.5)
        calibration = str(item.get("calibration", "none"))
        name = str(item.get("name") or _rule_name(strategy, params, calibration))
        rules.append(Rule(name, strategy, params, calibration))
    names = [r.name for r in rules]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        problems.append(f"'thresholds' has two rules named {', '.join(duplicates)}; give them distinct 'name's")
    return rules


def _rule_name(strategy: str, params: dict, calibration: str) -> str:
    core = f"fixed {params['value']:g}" if strategy == "fixed" else strategy
    if strategy != "fixed" and params:
        core += "(" + ",".join(f"{k}={v}" for k, v in sorted(params.items())) + ")"
    return core if calibration == "none" else f"{calibration} + {core}"


def _seeds(raw: Any, problems: list[str]) -> list[int]:
    good = isinstance(raw, list) and raw and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in raw)
    if not good or len(set(raw)) != len(raw):
        if raw is not None:
            problems.append(f"'seeds' must be a list of distinct integers >= 0, e.g. [0, 1, 2], got {raw!r:.60}")
        return []
    return list(raw)


def check_config(config: CompareConfig) -> list[str]:
    """Registry names, their parameters and the base training config, checked against tailtag's registries."""
    from tailtag.calibration import CALIBRATORS
    from tailtag.config import make_config

    problems = _check_registry(config)
    for i, rule in enumerate(config.rules):
        problems += _check_rule(i, rule, CALIBRATORS)
    try:
        base = make_config(config.train, source="'train'")
    except OptionError as error:
        problems.append(f"'train': {error}")
        return problems
    if base.mode != "head":
        problems.append(
            f"'train.mode' is {base.mode!r}; compare trains on cached features (mode: head); fine-tuning per cell "
            "is not supported yet: compare with head mode, then fine-tune the winner with tailtag train"
        )
    if base.top_blocks != 0:
        problems.append(
            f"'train.top_blocks' is {base.top_blocks}; compare trains heads on pooled features, so it must be 0 "
            "(train the winner with top_blocks > 0 afterwards: tailtag train --config best.yaml --set top_blocks=1)"
        )
    if config.baseline:
        problems += _check_baseline(config)
    if len(config.seeds) < 2:
        problems.append(f"'seeds' has {len(config.seeds)} seed(s); the noise statement needs >= 2, e.g. [0, 1, 2]")
    return problems


def _check_registry(config: CompareConfig) -> list[str]:
    from tailtag.config import make_config

    problems = []
    for key, items, config_key in (("losses", config.losses, "loss"), ("samplers", config.samplers, "sampler")):
        for i, choice in enumerate(items):
            values = {config_key: choice.name, f"{config_key}_params": choice.params}
            try:
                make_config(values)
            except OptionError as error:
                problems.append(f"'{key}[{i}]' ({choice.label}): {_detail(error)}")
    for i, head in enumerate(config.heads):
        try:
            make_config({"head": head})
        except OptionError as error:
            problems.append(f"'heads[{i}]': {_detail(error)}")
    return problems


def _detail(error: OptionError) -> str:
    """make_config's message without its 'bad config value:' preamble, on one line."""
    return str(error).split(":\n  ", 1)[-1].replace("\n  ", "; ")


def _check_rule(i: int, rule: Rule, calibrators: dict) -> list[str]:
    from tailtag.thresholds import STRATEGIES, create_thresholds

    if rule.strategy not in STRATEGIES:
        return [f"'thresholds[{i}]': unknown strategy {rule.strategy!r}; valid strategies: {', '.join(STRATEGIES)}"]
    problems = []
    try:
        create_thresholds(rule.strategy, **rule.params)
    except OptionError as error:
        problems.append(f"'thresholds[{i}].params': {error}")
    if rule.calibration not in calibrators:
        problems.append(
            f"'thresholds[{i}].calibration': unknown method {rule.calibration!r}; valid: {', '.join(calibrators)}"
        )
    return problems


def _check_baseline(config: CompareConfig) -> list[str]:
    unknown = sorted(set(config.baseline) - {"loss", "sampler", "head", "rule"})
    problems = []
    if unknown:
        problems.append(f"'baseline' has unknown key(s) {', '.join(unknown)}; valid: loss, sampler, head, rule")
    lists = {
        "loss": [c.label for c in config.losses],
        "sampler": [c.label for c in config.samplers],
        "head": config.heads,
        "rule": [r.name for r in config.rules],
    }
    for key, value in config.baseline.items():
        if key in lists and value not in lists[key]:
            problems.append(f"'baseline.{key}' is {value!r}, which is not in the grid; choose one of {lists[key]}")
    return problems


def load_compare_config(path: str | Path) -> CompareConfig:
    """Read and validate a CONFIG file; every problem is reported at once as one OptionError."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise OptionError(f"CONFIG {path}: file not found\n  fix: give the path of a compare YAML file") from None
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise OptionError(f"CONFIG {path}: not valid YAML ({error})") from None
    if not isinstance(raw, dict):
        raise OptionError(f"CONFIG {path}: expected a mapping with keys {', '.join(TOP_KEYS)}, got {raw!r:.60}")
    return parse_compare_config(raw, source=str(path))


def parse_compare_config(raw: dict[str, Any], *, source: str = "config") -> CompareConfig:
    """A validated CompareConfig from a mapping (the YAML content)."""
    config, problems = parse_sections(raw, source)
    if config is not None:
        problems += check_config(config)
    if problems:
        raise OptionError(f"{source}: " + ("\n  ".join(["bad compare config:", *problems])))
    return config
