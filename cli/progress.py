"""Rich progress bars for frames (with FPS) and downloads (bytes, speed)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.text import Text


class FpsColumn(ProgressColumn):
    """Frames per second of a task, from rich's own speed estimate."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("-- fps" if speed is None else f"{speed:.2f} fps", style="cyan")


def frame_progress(console: Console, quiet: bool, transient: bool = False) -> Progress:
    """A progress bar for frame loops: frames done / total, FPS, elapsed and ETA.

    Arguments:
        console: where the bar is drawn.
        quiet: draw nothing.
        transient: remove the bar when it finishes.
    Returns:
        A rich `Progress` (use it as a context manager).
    """
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        FpsColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        disable=quiet,
        transient=transient,
    )


def stage_callback(progress: Progress, labels: dict[str, str]) -> Callable[[str, int, int], None]:
    """A `(stage, done, total)` callback that draws one task per stage on `progress`.

    Arguments:
        progress: a started progress display.
        labels: stage name -> description shown (unknown stages show their name).
    Returns:
        The callback.
    """
    tasks: dict[str, TaskID] = {}

    def update(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = progress.add_task(labels.get(stage, stage), total=total)
        progress.update(tasks[stage], completed=done, total=total)

    return update


@contextmanager
def download_progress(
    console: Console, label: str = "downloading weights"
) -> Iterator[Callable[[int, int | None], None]]:
    """A callback `(done_bytes, total_bytes)` drawing a download bar; the bar appears on the first call,
    so a download that fails to connect prints no bar.

    Arguments:
        console: where the bar is drawn.
        label: text in front of the bar.
    Returns:
        A context manager yielding the callback.
    """
    progress = Progress(
        TextColumn(f"[bold]{escape(label)}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
    )
    task: list[TaskID] = []

    def update(done: int, total: int | None) -> None:
        if not task:
            progress.start()
            task.append(progress.add_task("download", total=total))
        progress.update(task[0], completed=done, total=total)

    try:
        yield update
    finally:
        progress.stop()
