"""The `tailtag` command line: a dict of command name -> module with `add_arguments` and `run`.

Command modules are imported only when their command runs, so `tailtag inspect` never pays for torch.
Exit status: 0 on success, 2 for a user error (message on stderr, no traceback), 1 for a bug.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
import warnings

from tailtag import __version__
from tailtag.errors import TailtagError

COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("tailtag.commands.demo", "generate the embedded demo data set and run the pipeline on it"),
    "inspect": ("tailtag.commands.inspect", "label statistics: frequencies, imbalance ratios, label sets"),
    "split": ("tailtag.commands.split", "leak-free multi-label stratified train/val/test split or k folds"),
    "make-longtail": ("tailtag.commands.make_longtail", "long-tailed train subset + balanced test subset"),
    "train": ("tailtag.commands.train", "train a tagger (frozen backbone + cached features, or fine-tuning)"),
    "evaluate": ("tailtag.commands.evaluate", "per-class metrics, fitted thresholds, calibration, baselines, report"),
    "predict": ("tailtag.commands.predict", "tag a folder, list or glob of images: submission CSV or JSONL"),
    "export": ("tailtag.commands.export", "export a run to ONNX or TorchScript, with a parity check"),
    "serve": ("tailtag.commands.serve", "HTTP tagging service (FastAPI) with a page to try it"),
    "compare": ("tailtag.commands.compare", "which strategy wins: losses x samplers x heads x thresholds x seeds"),
    "doctor": ("tailtag.commands.doctor", "suspected wrong and missing tags, near-duplicates and split leaks"),
}


class _Parser(argparse.ArgumentParser):
    """argparse that exits with status 2 and a one-line hint, as the other user errors do."""

    def error(self, message: str):  # noqa: D401 - argparse's name
        self.print_usage(sys.stderr)
        raise SystemExit(f"tailtag: error: {message}\n  fix: see `{self.prog} --help`")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tailtag", description="Multi-label image classification on imbalanced, long-tailed data.")
    parser.add_argument("--version", action="version", version=f"tailtag {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, (module_name, help_text) in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        command_parser.set_defaults(_module=module_name)
        # Only the chosen command's module needs importing to run it, but --help of each
        # subcommand needs its arguments: they are added lazily below.
    return parser


def _plain_warning(message, category, filename, lineno, line=None) -> str:  # noqa: ARG001 - warnings' signature
    """A warning as a user reads it: one "warning: ..." line, without the source file and line of Python's format."""
    return f"warning: {message}\n"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    command = next((a for a in argv if not a.startswith("-")), None)
    if command in COMMANDS:
        module = importlib.import_module(COMMANDS[command][0])
        subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        module.add_arguments(subparsers.choices[command])
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        if isinstance(exit_.code, str):
            print(exit_.code, file=sys.stderr)
            return 2
        return int(exit_.code or 0)
    args._argv = argv  # the exact command line, recorded in run directories and reports
    default_format = warnings.formatwarning
    warnings.formatwarning = _plain_warning
    try:
        module = importlib.import_module(args._module)
        return int(module.run(args) or 0)
    except TailtagError as error:
        print(f"tailtag {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tailtag: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception:  # a bug in tailtag, not a user mistake: show everything needed to report it
        traceback.print_exc()
        print(
            f"tailtag {args.command}: internal error (a bug in tailtag {__version__}); please report it with "
            "the traceback above",
            file=sys.stderr,
        )
        return 1
    finally:
        warnings.formatwarning = default_format
