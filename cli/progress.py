"""Rich progress bars for frames (with FPS) and downloads (bytes, speed)."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator, Optional

from rich.console import Console
from rich.progress import (BarColumn, DownloadColumn, MofNCompleteColumn, Progress, ProgressColumn, Task,
                           TextColumn, TimeElapsedColumn, TimeRemainingColumn, TransferSpeedColumn)
from rich.text import Text


class FpsColumn(ProgressColumn):
    """Frames per second of a task, from rich's own speed estimate."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("-- fps" if speed is None else f"{speed:.2f} fps", style="cyan")


def frame_progress(console: Console, quiet: bool, transient: bool = False) -> Progress:
    """A progress bar for frame loops: frames done / total, FPS, elapsed and ETA."""
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), FpsColumn(),
                    TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console,
                    disable=quiet, transient=transient)


@contextmanager
def download_progress(console: Console) -> Iterator[Callable[[int, Optional[int]], None]]:
    """A callback `(done_bytes, total_bytes)` drawing a download bar; the bar appears on first call."""
    progress = Progress(TextColumn("[bold]downloading weights"), BarColumn(), DownloadColumn(),
                        TransferSpeedColumn(), TimeRemainingColumn(), console=console)
    task: list[int] = []

    def update(done: int, total: Optional[int]) -> None:
        if not task:
            progress.start()
            task.append(progress.add_task("download", total=total))
        progress.update(task[0], completed=done, total=total)

    try:
        yield update
    finally:
        progress.stop()
