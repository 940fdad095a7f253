"""What a run tells the user: progress bars, one line per epoch, metrics.csv, TensorBoard, curve PNGs.

Only the main process logs (`RunLog(enabled=False)` is silent), so torchrun output is not multiplied.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterable
from pathlib import Path

from tailtag import rundir
from tailtag.fileio import atomic_write

EPOCH_COLUMNS = ("train_loss", "macro_f1", "mAP", "label_accuracy")


class RunLog:
    def __init__(self, run_dir: Path | None, *, enabled: bool = True, progress: bool = True):
        self.run_dir = run_dir
        self.enabled = enabled
        self.show_progress = progress and enabled and sys.stderr.isatty()
        self._tensorboard = None
        if enabled and run_dir is not None:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tensorboard = SummaryWriter(str(run_dir / "tensorboard"))
            except ImportError:  # tensorboard is a normal dependency; tolerate a trimmed install
                self._tensorboard = None

    def info(self, message: str) -> None:
        if self.enabled:
            print(message, file=sys.stderr, flush=True)

    def warn(self, message: str) -> None:
        if self.enabled:
            print(f"warning: {message}", file=sys.stderr, flush=True)

    def progress(self, iterable: Iterable, *, total: int | None = None, desc: str = "") -> Iterable:
        if not self.show_progress:
            return iterable
        from tqdm import tqdm

        return tqdm(iterable, total=total, desc=desc, leave=False, file=sys.stderr, dynamic_ncols=True)

    def epoch(self, row: dict, *, best: bool) -> None:
        if not self.enabled:
            return
        parts = [f"{key} {row[key]:.4f}" for key in EPOCH_COLUMNS if key in row]
        self.info(f"epoch {row['epoch']:3d}  " + "  ".join(parts) + ("  *best" if best else ""))
        if self._tensorboard is not None:
            for key, value in row.items():
                if key != "epoch" and isinstance(value, (int, float)):
                    self._tensorboard.add_scalar(key, value, row["epoch"])
            self._tensorboard.flush()

    def write_history(self, history: list[dict]) -> None:
        """metrics.csv, rewritten whole (atomically) so a resumed run never duplicates rows."""
        if not self.enabled or self.run_dir is None or not history:
            return
        path = self.run_dir / rundir.METRICS_CSV
        columns = list(history[0])
        with atomic_write(path, newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(history)

    def plot_curves(self, history: list[dict]) -> Path | None:
        """curves.png: training loss and validation metrics per epoch."""
        if not self.enabled or self.run_dir is None or not history:
            return None
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        epochs = [row["epoch"] for row in history]
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
        left.plot(epochs, [row["train_loss"] for row in history], color="tab:red")
        left.set(title="training loss", xlabel="epoch")
        for key in ("macro_f1", "mAP", "label_accuracy", "tail_mAP"):
            right.plot(epochs, [row[key] for row in history], label=key)
        right.set(title="validation", xlabel="epoch", ylim=(0, 1.01))
        right.legend(loc="lower right", fontsize=8)
        fig.tight_layout()
        path = self.run_dir / "curves.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return path

    def close(self) -> None:
        if self._tensorboard is not None:
            self._tensorboard.close()
