"""The files in recipes/: each loads, each command in its header is a valid `tailtag` command line, and the demo
commands of each header run end to end, as written, from a folder laid out like the repository root (a small
generated demo set, with image_size=64 and epochs=2 added to every `tailtag train`)."""

from __future__ import annotations

import csv
import dataclasses
import json
import re
import shlex
from pathlib import Path

import pytest
import yaml

from tailtag.config import TrainConfig, load_config

REPO = Path(__file__).resolve().parents[2]
RECIPES = REPO / "recipes"
ALL = sorted(RECIPES.glob("*.yaml"))
COMPARE = [p for p in ALL if p.name.startswith("compare-")]
TRAIN = [p for p in ALL if p not in COMPARE]
SMALL = ("image_size=64", "epochs=2", "num_workers=0", "batch_size=16", "warmup_epochs=0")
# Recipes whose point is the report (confusion counts, per-class tables): their evaluate keeps report.html.
REPORTED = {"imbalance-guide-head.yaml", "compare-class-balanced-demo.yaml"}
COLLAPSE_TEXT = "predictions collapsed to ~0.5 for every image and label (logits stuck at 0)"


def header_commands(path: Path, section: str) -> list[list[str]]:
    """The `tailtag ...` command lines (without 'tailtag') listed under the header comment line that starts
    with `section` (e.g. "MIML", "Demo data"); a trailing backslash continues a command on the next line."""
    commands: list[str] = []
    current: str | None = None
    active = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        text = line[1:]
        if re.match(rf"\s?{re.escape(section)}\b", text):
            active = True
        elif active and current is not None:
            current += " " + text.strip().removesuffix("\\").strip()
            if not text.rstrip().endswith("\\"):
                commands.append(current)
                current = None
        elif active and (found := re.match(r"\s{2,}tailtag (.*)", text)):
            body = found.group(1).rstrip()
            if body.endswith("\\"):
                current = body.removesuffix("\\").strip()
            else:
                commands.append(body)
        elif active and commands:
            break
    return [shlex.split(command) for command in commands]


def sections(path: Path) -> list[str]:
    return [name for name in ("MIML", "Demo data") if header_commands(path, name)]


def parse_command(argv: list[str]):
    """argparse's reading of `tailtag ARGV` (SystemExit with the message on a bad flag), without running it."""
    import argparse
    import importlib

    from tailtag.cli import COMMANDS, build_parser

    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    importlib.import_module(COMMANDS[argv[0]][0]).add_arguments(subparsers.choices[argv[0]])
    return parser.parse_args(argv)


def name_ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


# --- every file loads ------------------------------------------------------------------------------------


@pytest.mark.parametrize("recipe", TRAIN, ids=name_ids(TRAIN))
def test_train_recipe_loads_and_sets_only_keys_that_differ_from_the_defaults(recipe):
    config = load_config(recipe)
    written = yaml.safe_load(recipe.read_text(encoding="utf-8"))
    defaults = dataclasses.asdict(TrainConfig())
    same = sorted(key for key, value in written.items() if defaults[key] == getattr(config, key))
    assert not same, f"{recipe.name} repeats default value(s) of {same}"


@pytest.mark.parametrize("recipe", COMPARE, ids=name_ids(COMPARE))
def test_compare_recipe_loads(recipe):
    from tailtag.compare import load_compare_config

    config = load_compare_config(recipe)
    assert config.n_cells() >= 2


def test_there_are_recipes_and_each_is_listed_in_the_readme():
    readme = (RECIPES / "README.md").read_text(encoding="utf-8")
    assert len(TRAIN) >= 7 and len(COMPARE) >= 2
    missing = [p.name for p in ALL if f"`{p.name}`" not in readme and f"({p.name})" not in readme]
    assert not missing, f"recipes/README.md does not mention {missing}"


# --- every header command is a valid command line ----------------------------------------------------------


HEADED = [p for p in ALL if sections(p)]


@pytest.mark.parametrize("recipe", HEADED, ids=name_ids(HEADED))
def test_header_commands_parse_and_name_their_own_file(recipe):
    for section in sections(recipe):
        commands = header_commands(recipe, section)
        for argv in commands:
            parse_command(argv)
        configs = [argv[argv.index("--config") + 1] for argv in commands if "--config" in argv]
        compares = [argv[1] for argv in commands if argv[0] == "compare"]
        named = [c for c in configs + compares if c.startswith("recipes/")]
        assert f"recipes/{recipe.name}" in named, f"{recipe.name} ({section}) runs {named}, not itself"
        assert all((REPO / c).is_file() for c in named), named


DATA = REPO / ".." / "shared" / "data"


@pytest.mark.dataset
@pytest.mark.parametrize("recipe", [p for p in HEADED if "MIML" in sections(p)], ids=lambda p: p.stem)
def test_miml_commands_name_the_shared_data_set(recipe):
    if not (DATA / "miml" / "labels.csv").is_file():
        pytest.skip(f"MIML is not in {DATA.resolve()}")
    data = [arg for argv in header_commands(recipe, "MIML") for arg in argv if arg.startswith("../shared/")]
    assert data, f"{recipe.name}: its MIML commands read no file under ../shared"
    for arg in data:
        assert (REPO / arg).exists(), f"{recipe.name}: {arg} does not exist relative to the repository root"
    if recipe.name.startswith("compare-"):
        from tailtag.compare import load_compare_config

        config = load_compare_config(recipe)
        assert (REPO / config.data.labels).is_file() and (REPO / config.data.images).is_dir()


def test_header_parser_reads_continued_and_quoted_commands(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "# title\n# Demo data:\n#   tailtag demo --skip-train\n#   tailtag train a.csv --out runs/x \\\n"
        '#       --set "loss_params={}"\n# done\n#   tailtag evaluate ignored\nloss: bce\n',
        encoding="utf-8",
    )
    assert header_commands(recipe, "Demo data") == [
        ["demo", "--skip-train"],
        ["train", "a.csv", "--out", "runs/x", "--set", "loss_params={}"],
    ]
    assert header_commands(recipe, "MIML") == []


# The recipe of each method (issue 6) and where it runs: MIML and the demo data, except the demonstration of a
# failure (demo only) and the class-balanced experiment, whose long-tailed split differs per data set.
METHODS = {
    "paddleclas-miml.yaml": ("MIML", "Demo data"),
    "keras-tagger.yaml": ("MIML", "Demo data"),
    "imbalance-guide-finetune.yaml": ("MIML", "Demo data"),
    "imbalance-guide-head.yaml": ("MIML", "Demo data"),
    "weighted-bce.yaml": ("MIML", "Demo data"),
    "weighted-bce-powerset.yaml": ("MIML", "Demo data"),
    "weighted-bce-collapse.yaml": ("Demo data",),
    "compare-class-balanced-miml.yaml": ("MIML",),
    "compare-class-balanced-demo.yaml": ("Demo data",),
}


@pytest.mark.parametrize("name", sorted(METHODS))
def test_method_recipe_cites_its_source_and_gives_its_commands(name):
    recipe = RECIPES / name
    text = recipe.read_text(encoding="utf-8")
    assert "Follows:" in text
    assert tuple(sections(recipe)) == METHODS[name]
    if "MIML" in METHODS[name]:
        assert "Measured here" in text and "0.XXX" not in text and "XX min" not in text


# --- the demo commands run end to end ----------------------------------------------------------------------


def demo_commands(recipe: Path) -> list[list[str]]:
    """The header's demo commands; a recipe without them trains on the demo split with its config."""
    commands = header_commands(recipe, "Demo data")
    if commands:
        return commands
    data = "tailtag-demo/data"
    train = ["train", f"{data}/labels.csv", "--images", data, "--split", "tailtag-demo/split"]
    return [["demo", "--skip-train"], [*train, "--out", f"runs/{recipe.stem}", "--config", f"recipes/{recipe.name}"]]


def adapt(argv: list[str], recipe: Path, cache: Path) -> list[str]:
    """Small, quiet settings added to a header command; everything the header says is kept."""
    if argv[0] == "train":
        return [*argv, *[a for key in (*SMALL, f"cache_dir={cache}") for a in ("--set", key)]]
    if argv[0] == "evaluate":
        return [*argv, "--quiet", *(() if recipe.name in REPORTED else ("--no-report",))]
    if argv[0] == "predict":
        return [*argv, "--quiet"]
    if argv[0] == "compare":
        return [*argv, "--jobs", "1", "--seeds", "0,1", "--quiet"]
    return argv


@pytest.fixture(scope="session")
def run_demo(tmp_path_factory):
    """`run_demo(recipe, capfd, monkeypatch, n_images=120, size=64)` -> (workspace, [(argv, stdout + stderr)]):
    the recipe's demo commands run in a workspace with recipes/ linked in and `tailtag demo --skip-train` done
    at that size. Each recipe runs once per session."""
    from tailtag.cli import main

    done: dict[str, tuple[Path, str]] = {}
    workspaces: dict[tuple[int, int], Path] = {}
    cache = tmp_path_factory.mktemp("recipe-cache")

    def workspace(n_images: int, size: int) -> Path:
        if (n_images, size) not in workspaces:
            root = tmp_path_factory.mktemp(f"recipes-{n_images}-{size}")
            (root / "recipes").symlink_to(RECIPES, target_is_directory=True)
            argv = ["demo", "--skip-train", "--out", str(root / "tailtag-demo"), "--n-images", str(n_images)]
            assert main([*argv, "--size", str(size)]) == 0
            workspaces[n_images, size] = root
        return workspaces[n_images, size]

    def run(
        recipe: Path, capfd, monkeypatch, *, n_images: int = 120, size: int = 64
    ) -> tuple[Path, list[tuple[list[str], str]]]:
        if recipe.name in done:
            return done[recipe.name]
        root = workspace(n_images, size)
        monkeypatch.chdir(root)
        monkeypatch.setenv("HOME", str(cache))  # compare's default feature cache lives under ~
        commands = demo_commands(recipe)
        assert commands[0] == ["demo", "--skip-train"], f"{recipe.name}: the demo commands start with tailtag demo"
        capfd.readouterr()
        outputs = []
        for argv in commands[1:]:
            status = main(adapt(argv, recipe, cache))
            captured = capfd.readouterr()
            assert status == 0, f"{recipe.name}: tailtag {shlex.join(argv)} exited {status}:\n{captured}"
            outputs.append((argv, captured.out + captured.err))
        done[recipe.name] = root, outputs
        return done[recipe.name]

    return run


def run_dirs(recipe: Path) -> list[str]:
    return [argv[argv.index("--out") + 1] for argv in demo_commands(recipe) if argv[0] == "train"]


@pytest.mark.parametrize("recipe", TRAIN, ids=name_ids(TRAIN))
def test_demo_commands_train_with_the_recipe_settings(recipe, run_demo, capfd, monkeypatch):
    root, _ = run_demo(recipe, capfd, monkeypatch)
    written = yaml.safe_load(recipe.read_text(encoding="utf-8"))
    small = {item.split("=")[0] for item in SMALL}
    kept = {key: value for key, value in written.items() if key not in small}
    for index, run in enumerate(run_dirs(recipe)):
        assert (root / run / "model.safetensors").is_file()
        used = yaml.safe_load((root / run / "config.yaml").read_text(encoding="utf-8"))
        if index == 0:  # the first run of a header is the recipe's own; later ones show a variant
            assert {key: used[key] for key in kept} == kept
        assert used["image_size"] == 64 and used["epochs"] == 2


def test_collapse_recipe_fires_the_guard_and_its_fix_does_not(run_demo, capfd, monkeypatch):
    recipe = RECIPES / "weighted-bce-collapse.yaml"
    root, outputs = run_demo(recipe, capfd, monkeypatch)
    (_, broken), (_, evaluated), (_, fixed) = outputs
    last_epoch = [line for line in broken.splitlines() if line.startswith("warning: epoch 2:")]
    assert last_epoch and COLLAPSE_TEXT in last_epoch[0]
    assert COLLAPSE_TEXT in evaluated  # evaluate repeats the guard on the scores it evaluates
    assert "warning: epoch" not in fixed  # the same loss with the default optimiser settings learns
    assert COLLAPSE_TEXT in recipe.read_text(encoding="utf-8").replace("\n#   ", " ")  # documented as printed
    broken_run, fixed_run = run_dirs(recipe)
    history = json.loads((root / broken_run / "metrics.json").read_text(encoding="utf-8"))["history"]
    assert history[-1]["macro_f1"] < 0.2 < 0.7 < history[-1]["label_accuracy"]  # the metric that hides it
    assert yaml.safe_load((root / fixed_run / "config.yaml").read_text(encoding="utf-8"))["loss"] == "bce_weighted"


def test_keras_recipe_tags_at_one_half_and_writes_a_submission(run_demo, capfd, monkeypatch):
    recipe = RECIPES / "keras-tagger.yaml"
    root, _ = run_demo(recipe, capfd, monkeypatch)
    thresholds = json.loads((root / run_dirs(recipe)[0] / "thresholds.json").read_text(encoding="utf-8"))
    assert thresholds["strategy"] == "fixed" and set(thresholds["thresholds"]) == {0.5}
    with (root / "submission.csv").open(encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["img_path", "tags"] and len(rows) == 1 + 120


def test_imbalance_guide_report_has_the_confusion_counts(run_demo, capfd, monkeypatch):
    recipe = RECIPES / "imbalance-guide-head.yaml"
    root, _ = run_demo(recipe, capfd, monkeypatch)
    (evaluation,) = (root / run_dirs(recipe)[0]).glob("eval-*")
    with (evaluation / "per_class.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 10 and {"precision", "recall", "tp", "fp", "fn", "tn"} <= set(rows[0])
    assert "Co-confusion" in (evaluation / "report.html").read_text(encoding="utf-8")


def test_class_balanced_experiment_runs_on_a_longtailed_demo_split(run_demo, capfd, monkeypatch):
    recipe = RECIPES / "compare-class-balanced-demo.yaml"
    # 600 small images: the rarest demo label needs 5 test + 3 val images and some left for training.
    root, outputs = run_demo(recipe, capfd, monkeypatch, n_images=600, size=32)
    report = json.loads((root / "runs/demo-cb-lt/longtail_report.json").read_text(encoding="utf-8"))
    assert "19" in json.dumps(report)
    leaderboard = (root / "runs/compare-class-balanced-demo/leaderboard.csv").read_text(encoding="utf-8")
    for name in ("bce", "cb_bce(beta=0.999)", "class_aware"):
        assert name in leaderboard
    best = run_dirs(recipe)[0]
    assert (root / best / "eval-test" / "per_class.csv").is_file()
    assert (root / best / "eval-test" / "report.html").is_file()
    assert any(argv[0] == "compare" and "best by mean macro_f1" in output for argv, output in outputs)
