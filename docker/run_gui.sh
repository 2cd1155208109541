#!/usr/bin/env bash
# Run the xmempp GUI (`xmempp gui`) from the gui image on this machine's X11 display, with host folders
# mounted as in run_inference.sh: input -> /input (read-only), output -> /output, weights -> /weights.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: docker/run_gui.sh [-i INPUT] [-o OUTPUT] [-w WEIGHTS] [--image IMAGE] [--gpus SPEC] [--] [GUI_ARGS...]

Opens the xmempp GUI from the xmempp gui image on $DISPLAY (X11; the socket /tmp/.X11-unix and an
X authority cookie for $DISPLAY are passed in). INPUT is mounted read-only at /input, OUTPUT at
/output, WEIGHTS at /weights; GUI_ARGS go to `xmempp gui` and name container paths.

options:
  -i, --input PATH     host folder or video file to mount at /input (read-only)
  -o, --output DIR     host folder to mount at /output (created if missing)
  -w, --weights W      host folder with XMem.pth (a path: contains '/' or starts with '.' or '~'),
                       or the name of a docker volume; default: $XMEMPP_HOME, else
                       ${XDG_CACHE_HOME:-~/.cache}/xmempp
      --image IMAGE    image to run (default: $XMEMPP_GUI_IMAGE or xmempp:gui)
      --gpus SPEC      docker --gpus value; 'auto' (default) uses 'all' when the nvidia runtime is
                       installed, 'none' runs on the CPU
  -h, --help           show this help

example:
  docker/run_gui.sh -i ~/shots/sh010 -o ~/renders/sh010
EOF
}

die() {
    echo "run_gui.sh: $*" >&2
    echo "run 'docker/run_gui.sh --help' for usage" >&2
    exit 2
}

abs_path() {  # absolute path of an existing file or folder, without realpath (macOS has none)
    if [[ -d "$1" ]]; then
        (cd "$1" && pwd -P)
    else
        echo "$(cd "$(dirname "$1")" && pwd -P)/$(basename "$1")"
    fi
}

image="${XMEMPP_GUI_IMAGE:-xmempp:gui}"
input=""
output=""
weights="${XMEMPP_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/xmempp}"
gpus="${XMEMPP_GPUS:-auto}"

while [[ $# -gt 0 ]]; do
    case "$1" in
        -i|--input|-o|--output|-w|--weights|--image|--gpus)
            [[ $# -ge 2 ]] || die "$1 needs a value"
            case "$1" in
                -i|--input) input="$2" ;;
                -o|--output) output="$2" ;;
                -w|--weights) weights="$2" ;;
                --image) image="$2" ;;
                --gpus) gpus="$2" ;;
            esac
            shift 2 ;;
        -h|--help) usage; exit 0 ;;
        --) shift; break ;;
        -*) die "unknown option $1 (put the GUI's own options after --)" ;;
        *) break ;;
    esac
done

[[ -n "${DISPLAY:-}" ]] || die "DISPLAY is not set: run this from an X11 session (or ssh -X)"

docker_args=(--rm --user "$(id -u):$(id -g)" -e HOME=/tmp -e XMEMPP_HOME=/weights
             -e DISPLAY="$DISPLAY" -e QT_X11_NO_MITSHM=1)

# X11: the local socket for ':N' displays; the host network for TCP ones (ssh -X gives localhost:10.0).
if [[ -d /tmp/.X11-unix ]]; then
    docker_args+=(-v /tmp/.X11-unix:/tmp/.X11-unix:ro)
fi
if [[ "$DISPLAY" != :* ]]; then
    docker_args+=(--network host)
fi

# X authority: a copy of this display's cookie, valid for any host name ('ffff' family wildcard).
xauth_file=""
cleanup() {
    if [[ -n "$xauth_file" ]]; then
        rm -f "$xauth_file"
    fi
}
trap cleanup EXIT
if command -v xauth >/dev/null 2>&1; then
    xauth_file="$(mktemp "${TMPDIR:-/tmp}/xmempp-xauth.XXXXXX")"
    xauth nlist "$DISPLAY" 2>/dev/null | sed -e 's/^..../ffff/' | xauth -f "$xauth_file" nmerge - 2>/dev/null || true
    chmod 644 "$xauth_file"
    docker_args+=(-v "$xauth_file:/tmp/.xauth:ro" -e XAUTHORITY=/tmp/.xauth)
else
    echo "run_gui.sh: xauth not found; relying on 'xhost' access control for the container" >&2
fi

if [[ -n "$input" ]]; then
    [[ -e "$input" ]] || die "input $input does not exist"
    docker_args+=(-v "$(abs_path "$input"):/input:ro")
fi
if [[ -n "$output" ]]; then
    mkdir -p "$output"
    docker_args+=(-v "$(abs_path "$output"):/output")
fi
if [[ "$weights" == */* || "$weights" == .* || "$weights" == "~"* ]]; then
    weights="${weights/#\~/$HOME}"
    mkdir -p "$weights"
    docker_args+=(-v "$(abs_path "$weights"):/weights")
else
    docker_args+=(-v "$weights:/weights")  # a named docker volume
fi

case "$gpus" in
    auto)
        if docker info --format '{{json .Runtimes}}' 2>/dev/null | grep -q nvidia; then
            docker_args+=(--gpus all)
        fi ;;
    none|"") ;;
    *) docker_args+=(--gpus "$gpus") ;;
esac

# not exec: the EXIT trap removes the X authority copy afterwards
docker run "${docker_args[@]}" "$image" "$@"
