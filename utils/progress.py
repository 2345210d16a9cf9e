"""The one progress helper: a count towards a total (steps, jobs, images),
shown as a tqdm bar on stderr, as a plain line every few seconds, or handed
to a callback.

Used by the training loop (a bar per epoch), the executor (a bar over the
jobs, a line per finished job), the library's evaluations
(``progress=True`` or ``progress(done, total)``) and experiment A's stacked
trainer (a line every few seconds from pool workers, whose stderr is a log).
A leaf module: stdlib, and tqdm when a bar is shown.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Callable

__all__ = ["Progress", "throttle"]


def _stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def throttle(every: float, first: float | None = None,
             start: float | None = None) -> Callable[[], bool]:
    """``due()``: True once ``first`` seconds (default ``every``) have passed
    since ``start`` (default: now, ``time.perf_counter``), then at most once
    every ``every`` seconds: when a progress line from a pool worker (whose
    stderr is a log) may be printed."""
    start = time.perf_counter() if start is None else start
    last = [start - every + (every if first is None else first)]

    def due() -> bool:
        now = time.perf_counter()
        if now - last[0] < every:
            return False
        last[0] = now
        return True
    return due


class Progress:
    """``total`` things done ``update(n)`` at a time; a context manager that
    closes the bar on exit.

    show:
      * ``None``: a tqdm bar when stderr is a terminal, else nothing;
      * ``True``: a tqdm bar on stderr (asked for: drawn even off a terminal);
      * ``False``: no bar;
      * a callable ``show(done, total)``: called after every update.
    every: when no bar is drawn, seconds between plain lines
      ``"<desc> <done>/<total>"`` (0: none); ``first``: seconds before the
      first of them (default ``every``).
    log: where :meth:`write` (and those lines) go; a line is printed above
      the bar, which is redrawn under it.
    """

    def __init__(self, total: int, desc: str = "", *, show: bool | None | Callable = None,
                 unit: str = "it", every: float = 0.0, first: float | None = None,
                 log: Callable[[str], Any] = _stderr):
        if not (show is None or isinstance(show, bool) or callable(show)):
            raise ValueError(f"progress: expected None, False, True (a tqdm bar) or a callable "
                             f"progress(done, total), got {type(show).__name__} {show!r}")
        self.total, self.desc, self.log = total, desc, log
        self.done = 0
        self.t0 = time.perf_counter()
        self._line_due = throttle(every, first, start=self.t0) if every else None
        self.callback = None if show is None or isinstance(show, bool) else show
        if show is None:
            show = sys.stderr.isatty()
        self.bar = None
        if show is True and total:
            from tqdm import tqdm  # only when a bar is drawn
            self.bar = tqdm(total=total, desc=desc or None, unit=unit, file=sys.stderr,
                            dynamic_ncols=True, leave=False)

    def update(self, n: int = 1) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        if self.callback is not None:
            self.callback(self.done, self.total)
        if self._line_due and self.bar is None and self.done < self.total and self._line_due():
            self.write(f"{self.desc} {self.done:,}/{self.total:,}")

    def write(self, text: str) -> None:
        """A line through ``log``, above the bar."""
        if self.bar is not None:
            self.bar.clear()
        self.log(text)
        self.refresh()

    def refresh(self) -> None:
        """Redraw the bar (its elapsed time and rate) while nothing finishes."""
        if self.bar is not None:
            self.bar.refresh()

    def eta(self) -> str:
        """Time left at the mean rate so far: ``"42 s"`` or ``"3.5 min"``."""
        elapsed = time.perf_counter() - self.t0
        left = elapsed / max(self.done, 1) * (self.total - self.done)
        return f"{left:.0f} s" if left < 120 else f"{left / 60:.1f} min"

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
