"""docker/: the Dockerfile's targets and COPY sources, the run scripts' syntax (no Docker engine needed).

The Dockerfile is read with a small parser of our own (line continuations, comments, exec and shell
forms, flags such as --from= and --chown=), so this test runs anywhere the repository is checked out.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]  # the build context: docker build -f docker/Dockerfile .
DOCKERFILE = ROOT / "docker" / "Dockerfile"
SCRIPTS = [ROOT / "docker" / "run_inference.sh", ROOT / "docker" / "run_gui.sh"]
COMMON = ROOT / "docker" / "common.sh"  # sourced by both scripts


# ----------------------------------------------------------------------------------- parser


@dataclass
class Instruction:
    keyword: str  # upper case
    args: str  # the rest of the logical line, continuations joined
    line: int  # 1-based line of the instruction's first physical line

    def flags_and_words(self) -> tuple[dict[str, str], list[str]]:
        """(--flag=value map, remaining words) for exec (JSON) or shell form."""
        text = self.args.strip()
        flags: dict[str, str] = {}
        while text.startswith("--"):
            flag, _, text = text.partition(" ")
            name, _, value = flag[2:].partition("=")
            flags[name] = value
            text = text.lstrip()
        words = json.loads(text) if text.startswith("[") else shlex.split(text)
        return flags, words


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def parse_dockerfile(text: str) -> tuple[list[Instruction], list[Stage]]:
    """Logical instructions (before the first FROM: ARGs) and the build stages, in order."""
    instructions: list[Instruction] = []
    current: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue  # blank line, comment, or parser directive
        if current and stripped.startswith("#"):
            continue  # comment lines inside a continued instruction are dropped by Docker
        if not current:
            start = number
        if stripped.endswith("\\"):
            current.append(stripped[:-1].rstrip())
            continue
        current.append(stripped)
        logical = " ".join(part for part in current if part)
        keyword, _, args = logical.partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip(), start))
        current = []
    assert not current, "Dockerfile ends inside a line continuation"

    global_args: list[Instruction] = []
    stages: list[Stage] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            match = re.fullmatch(r"(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", instruction.args, flags=re.IGNORECASE)
            assert match, f"line {instruction.line}: cannot parse FROM {instruction.args!r}"
            stages.append(Stage(match.group(1), match.group(2)))
        elif not stages:
            assert instruction.keyword == "ARG", f"line {instruction.line}: only ARG may precede FROM"
            global_args.append(instruction)
        else:
            stages[-1].instructions.append(instruction)
    return global_args, stages


def _dockerignore_patterns() -> list[tuple[bool, str]]:
    path = ROOT / ".dockerignore"
    patterns = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        patterns.append((negate, line.lstrip("!").strip("/")))
    return patterns


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """Docker (Go filepath.Match plus '**') pattern -> regex: '*' and '?' stop at '/', '**' does not."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def _ignored(relative: str, patterns: list[tuple[bool, str]]) -> bool:
    """Docker's rule: the last matching pattern wins; a pattern matching a folder excludes its contents."""
    ignored = False
    parts = relative.split("/")
    for negate, pattern in patterns:
        regex = _pattern_regex(pattern)
        if any(regex.match("/".join(parts[:n])) for n in range(1, len(parts) + 1)):
            ignored = not negate
    return ignored


@pytest.fixture(scope="module")
def dockerfile() -> tuple[list[Instruction], list[Stage]]:
    return parse_dockerfile(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def stages(dockerfile) -> dict[str, Stage]:
    return {stage.name.lower(): stage for stage in dockerfile[1] if stage.name}


def _context_sources(stage: Stage) -> list[str]:
    """What a stage's RUN steps copy out of the mounted build context (`--mount=type=bind,target=/tmp/context`
    then `cp -r SOURCES... /tmp/xmempp/`)."""
    sources: list[str] = []
    for instruction in stage.all("RUN"):
        if "--mount=type=bind,target=/tmp/context" not in instruction.args:
            continue
        match = re.search(r"cp -r (.+?) /tmp/xmempp/", instruction.args)
        assert match, f"line {instruction.line}: the mounted context is not copied with cp -r ... /tmp/xmempp/"
        sources += match.group(1).split()
    return sources


# ----------------------------------------------------------------------------------- tests


def test_parser_on_a_small_example():
    text = (
        "# syntax=docker/dockerfile:1\nARG BASE=x\nFROM ${BASE} AS one\nRUN a \\\n  # note\n  && b\n"
        'COPY --chown=1:1 a.txt b/ ./\nFROM --platform=linux/amd64 one as two\nENTRYPOINT ["p", "q"]\n'
    )
    global_args, stages = parse_dockerfile(text)
    assert [a.args for a in global_args] == ["BASE=x"]
    assert [(s.base, s.name) for s in stages] == [("${BASE}", "one"), ("one", "two")]
    assert stages[0].all("RUN")[0].args == "a && b"
    assert stages[0].all("COPY")[0].flags_and_words() == ({"chown": "1:1"}, ["a.txt", "b/", "./"])
    assert stages[1].all("ENTRYPOINT")[0].flags_and_words()[1] == ["p", "q"]


def test_both_targets_exist(stages):
    assert {"inference", "gui"} <= set(stages)
    assert stages["gui"].base == "inference", "the gui image builds on the inference image"


def test_inference_base_is_a_cuda_pytorch_runtime(dockerfile, stages):
    base = stages["inference"].base
    if base.startswith("$"):
        name = base.strip("${}")
        defaults = {a.args.partition("=")[0]: a.args.partition("=")[2] for a in dockerfile[0]}
        base = defaults[name]
    assert base.startswith("pytorch/pytorch:") and "cuda" in base and base.endswith("runtime")


def test_entrypoints(stages):
    assert stages["inference"].all("ENTRYPOINT")[-1].flags_and_words()[1] == ["xmempp"]
    assert stages["gui"].all("ENTRYPOINT")[-1].flags_and_words()[1] == ["xmempp", "gui"]


def test_every_copy_source_exists_in_the_build_context(dockerfile):
    patterns = _dockerignore_patterns()
    copies = [i for stage in dockerfile[1] for i in stage.instructions if i.keyword in ("COPY", "ADD")]
    sources = [
        (i.line, source)
        for i in copies
        if "from" not in i.flags_and_words()[0]
        for source in i.flags_and_words()[1][:-1]
    ]
    sources += [(0, source) for stage in dockerfile[1] for source in _context_sources(stage)]
    assert sources, "the image must install the package sources"
    for line, source in sources:
        assert not source.startswith(("http://", "https://")), f"line {line}: remote ADD"
        assert ".." not in Path(source).parts, f"line {line}: {source} leaves the build context"
        matches = list(ROOT.glob(source)) if any(c in source for c in "*?[") else [ROOT / source]
        assert matches and all(m.exists() for m in matches), f"line {line}: source {source!r} does not exist in {ROOT}"
        assert not _ignored(source.strip("/"), patterns), f"line {line}: source {source!r} is excluded by .dockerignore"


def test_every_package_folder_is_copied(stages):
    """`pip install` of the mounted sources needs every folder pyproject maps into the xmempp package."""
    import tomllib

    folders = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"].values())
    copied = {source.strip("/") for source in _context_sources(stages["inference"])}
    assert folders <= copied, f"the inference image does not install {sorted(folders - copied)}"


def test_no_weights_are_copied(dockerfile):
    for stage in dockerfile[1]:
        for instruction in stage.all("COPY") + stage.all("ADD"):
            _, words = instruction.flags_and_words()
            for source in words[:-1]:
                weights = source.endswith((".pth", ".pt")) or (
                    source.strip("/").split("/")[0] == "saves" and source != "saves/README.md"
                )
                assert not weights, f"line {instruction.line}: {source} would put weights into the image"


def test_weights_only_from_an_explicit_build_arg(stages):
    inference = stages["inference"]
    args = {i.args.partition("=")[0]: i.args.partition("=")[2] for i in inference.all("ARG")}
    assert args.get("WEIGHTS_URL") in ('""', "''", ""), "WEIGHTS_URL must default to empty"
    downloads = [i for i in inference.all("RUN") if "weights download" in i.args]
    assert downloads and all('[ -n "${WEIGHTS_URL}" ]' in i.args for i in downloads)
    assert any("/weights" in i.args for i in inference.all("VOLUME"))
    env = " ".join(i.args for i in inference.all("ENV"))
    assert "XMEMPP_HOME=/weights" in env


def test_runs_as_a_non_root_user(stages):
    for name in ("inference", "gui"):
        users = stages[name].all("USER")
        assert users and users[-1].args not in ("root", "0"), f"{name} must end as a non-root user"
    assert any("pip install" in i.args and "[gui]" in i.args for i in stages["gui"].all("RUN"))
    assert any("pip install" in i.args and "[cli," in i.args for i in stages["inference"].all("RUN"))


def test_images_hold_no_sources_build_files_or_caches(stages):
    """The build context is mounted, not copied: the sources are copied out of it, installed and removed in one
    step, so no sources, build files or pip cache stay in the images; apt's lists and .deb files go too."""
    for name in ("inference", "gui"):
        assert not [
            i for i in stages[name].all("COPY") + stages[name].all("ADD") if "from" not in i.flags_and_words()[0]
        ], f"{name} copies files from the build context"
    installs = [i.args for i in stages["inference"].all("RUN") if "/tmp/context" in i.args]
    assert len(installs) == 1 and "rm -rf /tmp/xmempp" in installs[0] and "pip install" in installs[0]
    env = " ".join(i.args for i in stages["inference"].all("ENV"))
    assert "PIP_NO_CACHE_DIR=1" in env
    assert any('"xmempp[gui]"' in i.args for i in stages["gui"].all("RUN") if "pip install" in i.args)
    apt = [i.args for i in stages["gui"].all("RUN") if "apt-get install" in i.args]
    assert apt and all("rm -rf /var/lib/apt/lists" in args and "apt-get clean" in args for args in apt)


def test_gui_installs_qt_x11_libraries(stages):
    apt = " ".join(i.args for i in stages["gui"].all("RUN") if "apt-get install" in i.args)
    for package in (
        "libgl1",
        "libglib2.0-0",
        "libxkbcommon-x11-0",
        "libxcb-icccm4",
        "libxcb-image0",
        "libxcb-keysyms1",
        "libxcb-randr0",
        "libxcb-render-util0",
        "libxcb-xinerama0",
        "libxcb-xfixes0",
        "libxcb-shape0",
        "libfontconfig1",
        "libdbus-1-3",
    ):
        assert package in apt.split(), f"gui image lacks {package}"


def test_dockerignore_keeps_weights_and_venv_out():
    patterns = _dockerignore_patterns()
    for path in (
        "saves/XMem.pth",
        "saves/XMem.pth.part",
        "saves/XMem.pth.sha256",
        "elsewhere/model.pth",
        ".venv/bin/python",
        ".git/HEAD",
        "workspace/shot/x.png",
        ".pytest_cache/v",
        "xmempp/__pycache__/a.pyc",
    ):
        assert _ignored(path, patterns), f"{path} would be sent to the Docker daemon"
    for path in ("pyproject.toml", "xmempp/weights.py", "cli/app.py", "saves/README.md"):
        assert not _ignored(path, patterns), f"{path} is needed in the build context"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_run_scripts_parse(script):
    assert script.is_file()
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in text
    subprocess.run(["bash", "-n", str(script)], check=True)
    if shutil.which("shellcheck"):
        result = subprocess.run(["shellcheck", "-x", str(script)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout


def test_common_script_parses_and_only_defines_functions():
    text = COMMON.read_text()
    assert text.startswith("# shellcheck shell=bash\n")
    subprocess.run(["bash", "-n", str(COMMON)], check=True)
    if shutil.which("shellcheck"):
        result = subprocess.run(["shellcheck", str(COMMON)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout
    # sourcing it prints nothing, runs nothing, and leaves the positional parameters alone
    script = (
        'set -euo pipefail; common=$1; set -- a b; source "$common" >&2; echo "$# $*"; '
        "declare -F die abs_path parse_options add_mount_args add_gpu_args >/dev/null"
    )
    result = subprocess.run(["bash", "-c", script, "bash", str(COMMON)], capture_output=True, text=True, timeout=10)
    assert result.returncode == 0 and result.stderr == "" and result.stdout == "2 a b\n"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_run_scripts_usage(script):
    result = subprocess.run(["bash", str(script), "--help"], capture_output=True, text=True, timeout=10)
    assert result.returncode == 0 and result.stdout.startswith("usage: docker/")
    assert "/input" in result.stdout and "/output" in result.stdout and "/weights" in result.stdout
    result = subprocess.run(["bash", str(script), "--bogus"], capture_output=True, text=True, timeout=10)
    assert result.returncode == 2 and "unknown option --bogus" in result.stderr


@pytest.fixture
def fake_docker(tmp_path):
    """Runs a script with a fake `docker` first on PATH; returns the arguments of its `docker run`."""
    fake = tmp_path / "bin" / "docker"
    fake.parent.mkdir()
    fake.write_text(
        '#!/usr/bin/env bash\nif [[ "$1" == info ]]; then echo \'{"nvidia":{}}\'; exit 0; fi\n'
        'printf "%s\\n" "$@" > "$DOCKER_ARGS_FILE"\n'
    )
    fake.chmod(0o755)

    def run(script: Path, *args: str, **extra_env: str) -> list[str]:
        env = {
            "PATH": f"{fake.parent}:/usr/bin:/bin",
            "HOME": str(tmp_path),
            "TMPDIR": str(tmp_path),
            "DOCKER_ARGS_FILE": str(tmp_path / "a"),
            **extra_env,
        }
        subprocess.run(["bash", str(script), *args], check=True, env=env, timeout=10)
        return (tmp_path / "a").read_text().splitlines()

    return run


def _mounts(args: list[str]) -> list[str]:
    return [args[i + 1] for i, a in enumerate(args) if a == "-v"]


def test_run_scripts_build_the_docker_command(tmp_path, fake_docker):
    """With a fake `docker` on PATH, check the mounts and arguments the script passes."""
    shot = tmp_path / "shot"
    shot.mkdir()
    args = fake_docker(
        SCRIPTS[0],
        "-i",
        str(shot),
        "-o",
        str(tmp_path / "out"),
        "-w",
        str(tmp_path / "w"),
        "--",
        "process",
        "-v",
        "/input",
        "-m",
        "/input/masks",
        "-o",
        "/output",
    )
    assert args[0] == "run" and "--rm" in args
    assert f"{shot.resolve()}:/input:ro" in args
    assert f"{(tmp_path / 'out').resolve()}:/output" in args and (tmp_path / "out").is_dir()
    assert f"{(tmp_path / 'w').resolve()}:/weights" in args
    assert args[args.index("--gpus") + 1] == "all"
    assert args[-8:] == ["xmempp:inference", "process", "-v", "/input", "-m", "/input/masks", "-o", "/output"]


def test_gui_script_mounts_like_the_inference_script(tmp_path, fake_docker):
    """run_gui.sh shares run_inference.sh's options, mounts and GPU choice (docker/common.sh)."""
    shot = tmp_path / "shot"
    shot.mkdir()
    options = ["-i", str(shot), "-o", str(tmp_path / "out"), "-w", str(tmp_path / "w")]
    inference = fake_docker(SCRIPTS[0], *options, "--", "weights", "check")
    gui = fake_docker(SCRIPTS[1], *options, "--", "/output/shot", DISPLAY=":99")
    x11 = {"/tmp/.X11-unix:/tmp/.X11-unix:ro"} | {m for m in _mounts(gui) if m.endswith(":/tmp/.xauth:ro")}
    expected = [
        f"{shot.resolve()}:/input:ro",
        f"{(tmp_path / 'out').resolve()}:/output",
        f"{(tmp_path / 'w').resolve()}:/weights",
    ]
    assert [m for m in _mounts(gui) if m not in x11] == _mounts(inference) == expected
    assert gui[0] == "run" and "--rm" in gui and "DISPLAY=:99" in gui and "--network" not in gui
    assert gui[gui.index("--gpus") + 1] == inference[inference.index("--gpus") + 1] == "all"
    assert gui[-2:] == ["xmempp:gui", "/output/shot"]
    assert not list(tmp_path.glob("xmempp-xauth.*")), "the X authority copy must be removed on exit"


def test_inference_image_can_serve(stages):
    """`xmempp serve` runs in the inference image: service sources and extra installed, port exposed."""
    inference = stages["inference"]
    assert "service" in _context_sources(inference), "the service package must be installed"
    assert any("pip install" in i.args and ",service]" in i.args for i in inference.all("RUN"))
    exposed = " ".join(i.args for i in inference.all("EXPOSE")).split()
    assert "8000" in exposed or "8000/tcp" in exposed
    assert inference.all("ENTRYPOINT")[-1].flags_and_words()[1] == ["xmempp"], "`docker run IMAGE serve ...` works"


def test_ci_images_script_parses_and_explains_itself():
    """docker/ci_images.sh (the CI step that builds and runs both images) is valid bash and lints clean."""
    script = ROOT / "docker" / "ci_images.sh"
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in text
    subprocess.run(["bash", "-n", str(script)], check=True)
    if shutil.which("shellcheck"):
        result = subprocess.run(["shellcheck", "-x", str(script)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout
    result = subprocess.run(["bash", str(script), "--help"], capture_output=True, text=True, timeout=10)
    assert result.returncode == 0 and result.stdout.startswith("usage: docker/ci_images.sh")
    result = subprocess.run(["bash", str(script), "--bogus"], capture_output=True, text=True, timeout=10)
    assert result.returncode == 2
    assert "docker/ci_images.sh" in (ROOT / ".ci" / "run").read_text(), "CI runs the image check"
