"""The measured tables of docs/benchmarks.md, generated from the `xmempp bench --json` results in docs/benchmarks/.

Every figure in the generated part of the page comes from one of those files; nothing there is typed by hand.

    python scripts/benchmarks_page.py record NAME --note TEXT -- BENCH_ARGS...   # measure: docs/benchmarks/NAME.json
    python scripts/benchmarks_page.py render                                    # rewrite the tables in the page
    python scripts/benchmarks_page.py check                                     # exit 1 where page and files differ

`record` runs `xmempp bench --json BENCH_ARGS`, keeps its result and adds what the bench cannot know about
itself: the command, the commit it ran from, the machine's load average before and after, and a note (the
machine's state, say). `render` replaces the text between each `<!-- bench:TABLE -->` and `<!-- /bench -->`
marker pair of the page with the table of that name (`TABLES`); tests/test_benchmarks_page.py fails when the
page is not what `render` would write.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from xmempp.io.atomic import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "benchmarks"
PAGE = ROOT / "docs" / "benchmarks.md"
MARKED = re.compile(r"(<!-- bench:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /bench -->)", re.DOTALL)

Result = dict[str, Any]
#: The code a bench result depends on: a result measured with uncommitted changes here says so.
_MEASURED_CODE = ("xmempp", "cli", "pyproject.toml")


def load_results(folder: Path = RESULTS) -> dict[str, Result]:
    """Every result file of `folder` by name (the file name without `.json`), in name order."""
    return {path.stem: json.loads(path.read_text(encoding="utf-8")) for path in sorted(folder.glob("*.json"))}


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def _fraction(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _stage(name: str) -> Callable[[Result], str]:
    return lambda r: _ms(r["stages"].get(name))


#: The rows of the CPU table: a label and how a result gives its cell.
_CPU_ROWS: list[tuple[str, Callable[[Result], str]]] = [
    ("frames (size, objects)", lambda r: f"{r['frame_size'][1]}x{r['frame_size'][0]}, {r['objects']}"),
    ("counted frames", lambda r: str(r["frames"])),
    ("ms per frame", lambda r: f"**{_ms(r['ms_per_frame'])}**"),
    ("frames per second", lambda r: f"{r['fps']:.2f}"),
    (
        "key encoder / memory read / decoder (ms)",
        lambda r: " / ".join(_stage(s)(r) for s in ("key_encoder", "memory_read", "decoder")),
    ),
    ("value encoder (ms, amortised)", _stage("value_encoder")),
    ("GFLOP per frame", lambda r: _ms(r["gflop_per_frame"].get("frame"))),
    ("whole frame, fraction of the best peak", lambda r: _fraction(r["fraction_of_peak"].get("frame"))),
    ("fastest frame, fraction of the best peak", lambda r: _fraction(r["best_frame_fraction"])),
    ("whole frame, fraction of the peak between frames", lambda r: _fraction(r["fraction_of_peak_between"])),
    (
        "peak convolution: best / lowest / between frames (GFLOP/s)",
        lambda r: (
            f"{r['peak_range'][1]:.0f} / {r['peak_range'][0]:.0f} / "
            + ("" if r["peak_between_gflops"] is None else f"{r['peak_between_gflops']:.0f}")
        ),
    ),
    ("peak RSS (GiB)", lambda r: f"{r['peak_rss_gib']:.2f}"),
    ("review (ms per frame)", lambda r: _ms(r["review_ms"])),
    ("precision, convolutions", lambda r: f"{r['precision']}, {r['conv']}"),
]

#: What every result names about where and how it was measured.
_PROVENANCE_ROWS: list[tuple[str, Callable[[Result], str]]] = [
    ("command", lambda r: f"`{r['command']}`"),
    ("processor", lambda r: r["hardware"]),
    ("threads", lambda r: str(r["threads"])),
    ("date (UTC)", lambda r: r["date"].replace("T", " ").removesuffix("+00:00")),
    ("xmempp, torch, commit", lambda r: f"{r['xmempp_version']}, {r['torch_version']}, `{r['commit']}`"),
    ("load average before / after", lambda r: " / ".join(f"{v:.1f}" for v in r["load_average"])),
    ("note", lambda r: r["note"]),
]


def _table(results: dict[str, Result], rows: Sequence[tuple[str, Callable[[Result], str]]]) -> str:
    names = list(results)
    lines = [
        "| | " + " | ".join(f"[`{n}.json`](benchmarks/{n}.json)" for n in names) + " |",
        "| --- |" + " ---: |" * len(names),
    ]
    for label, cell in rows:
        lines.append(f"| {label} | " + " | ".join(cell(results[n]).replace("|", "\\|") for n in names) + " |")
    return "\n".join(lines) + "\n"


def _cpu(results: dict[str, Result]) -> dict[str, Result]:
    return {name: r for name, r in results.items() if r["device"] == "cpu"}


#: The generated tables, by the name their marker gives.
TABLES: dict[str, Callable[[dict[str, Result]], str]] = {
    "cpu": lambda results: _table(_cpu(results), _CPU_ROWS),
    "cpu-provenance": lambda results: _table(_cpu(results), _PROVENANCE_ROWS),
}


def render(page: str, results: dict[str, Result]) -> str:
    """`page` with every marked table replaced by the one `results` give."""

    def table(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in TABLES:
            raise SystemExit(f"{PAGE.name}: unknown table <!-- bench:{name} --> (known: {', '.join(TABLES)})")
        return match.group(1) + TABLES[name](results) + match.group(4)

    return MARKED.sub(table, page)


def record(name: str, note: str, bench_args: Sequence[str]) -> Path:
    """Run `xmempp bench --json BENCH_ARGS` and keep its result, with its provenance, as docs/benchmarks/NAME.json."""
    executable = shutil.which("xmempp")
    if executable is None:
        raise SystemExit("xmempp is not on PATH: install the project (pip install -e .) first")
    before = os.getloadavg()[0]
    run = subprocess.run([executable, "bench", "--json", *bench_args], capture_output=True, text=True, check=False)
    if run.returncode:
        raise SystemExit(f"xmempp bench failed (exit {run.returncode}):\n{run.stderr[-2000:]}")
    result = json.loads(run.stdout)
    result.pop("timeline", None)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    changed = subprocess.run(
        ["git", "status", "--porcelain", "--", *_MEASURED_CODE], cwd=ROOT, capture_output=True, text=True
    )
    result.update(
        command=shlex.join(["xmempp", "bench", *bench_args]),
        commit=(commit.stdout.strip() or "unknown") + (" with uncommitted changes" if changed.stdout.strip() else ""),
        load_average=[before, os.getloadavg()[0]],
        note=note,
    )
    path = RESULTS / f"{name}.json"
    atomic_write_text(path, json.dumps(result, indent=2) + "\n")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    recording = commands.add_parser(
        "record",
        help="measure with xmempp bench and keep the result",
        epilog="then -- and the arguments of xmempp bench",
    )
    recording.add_argument("name", help="the result's file name in docs/benchmarks/, without .json")
    recording.add_argument("--note", required=True, help="the machine's state during the run, in words")
    commands.add_parser("render", help="rewrite the tables of docs/benchmarks.md from the results")
    commands.add_parser("check", help="exit 1 where docs/benchmarks.md differs from what render writes")
    argv = list(sys.argv[1:] if argv is None else argv)
    ours, bench_args = (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    args = parser.parse_args(ours)
    if args.command == "record":
        print(record(args.name, args.note, bench_args))
        return 0
    page = PAGE.read_text(encoding="utf-8")
    wanted = render(page, load_results())
    if args.command == "check":
        if wanted != page:
            print(f"{PAGE} differs from its results: run python scripts/benchmarks_page.py render", file=sys.stderr)
            return 1
        return 0
    if wanted != page:
        atomic_write_text(PAGE, wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
