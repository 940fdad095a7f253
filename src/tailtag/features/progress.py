"""Progress of a long extraction on stderr: a tqdm bar on a terminal, a line every 30 s in a log file."""

from __future__ import annotations

import sys
import time

_LOG_EVERY = 30.0  # seconds between lines when stderr is not a terminal (batch jobs, CI logs)


class Progress:
    """Counts processed images and reports rate and time left.

    Args:
        total: images to process.
        desc: what is being done, e.g. "features (tf_efficientnet_lite0, center)".
        enabled: False makes every method a no-op.
    """

    def __init__(self, total: int, desc: str, *, enabled: bool = True):
        self.total = total
        self.desc = desc
        self.enabled = enabled and total > 0
        self.done = 0
        self.start = self.last = time.monotonic()
        self._bar = None
        if self.enabled and sys.stderr.isatty():
            try:
                from tqdm import tqdm
            except ImportError:  # tqdm comes with timm's hub client; fall back to plain lines without it
                tqdm = None
            if tqdm is not None:
                self._bar = tqdm(total=total, desc=desc, unit="img", leave=False, file=sys.stderr, dynamic_ncols=True)

    def update(self, n: int) -> None:
        if not self.enabled:
            return
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
            return
        now = time.monotonic()
        if now - self.last >= _LOG_EVERY:
            self.last = now
            print(self._line(now), file=sys.stderr, flush=True)

    def _line(self, now: float) -> str:
        elapsed = max(now - self.start, 1e-9)
        rate = self.done / elapsed
        left = (self.total - self.done) / rate if rate > 0 else float("inf")
        return f"{self.desc}: {self.done:,}/{self.total:,} images, {rate:.1f} img/s, ~{left:.0f} s left"

    def close(self) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.close()
        elapsed = time.monotonic() - self.start
        print(
            f"{self.desc}: {self.done:,} images in {elapsed:.1f} s ({self.done / max(elapsed, 1e-9):.1f} img/s)",
            file=sys.stderr,
            flush=True,
        )
