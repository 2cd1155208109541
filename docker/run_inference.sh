#!/usr/bin/env bash
# Run `xmempp` from the inference image with host folders mounted:
#   input   -> /input   (read-only)
#   output  -> /output
#   weights -> /weights (XMEMPP_HOME inside the image)
set -euo pipefail

usage() {
    cat <<'EOF'
usage: docker/run_inference.sh [-i INPUT] [-o OUTPUT] [-w WEIGHTS] [--image IMAGE] [--gpus SPEC] [--] XMEMPP_ARGS...

Runs `xmempp XMEMPP_ARGS...` in the xmempp inference image. Paths in XMEMPP_ARGS are paths inside
the container: INPUT is mounted read-only at /input, OUTPUT at /output, WEIGHTS at /weights.

options:
  -i, --input PATH     host folder or video file to mount at /input (read-only)
  -o, --output DIR     host folder to mount at /output (created if missing)
  -w, --weights W      host folder with XMem.pth (a path: contains '/' or starts with '.' or '~'),
                       or the name of a docker volume; default: $XMEMPP_HOME, else
                       ${XDG_CACHE_HOME:-~/.cache}/xmempp (the same folder the host's xmempp uses)
      --image IMAGE    image to run (default: $XMEMPP_IMAGE or xmempp:inference)
      --gpus SPEC      docker --gpus value; 'auto' (default) uses 'all' when the nvidia runtime is
                       installed, 'none' runs on the CPU
  -h, --help           show this help

examples:
  docker/run_inference.sh -w ~/xmempp-weights -- weights download
  docker/run_inference.sh -i ~/shots/sh010 -o ~/renders/sh010 -- \
      process -v /input/frames -m /input/masks -o /output --overlay
EOF
}

die() {
    echo "run_inference.sh: $*" >&2
    echo "run 'docker/run_inference.sh --help' for usage" >&2
    exit 2
}

abs_path() {  # absolute path of an existing file or folder, without realpath (macOS has none)
    if [[ -d "$1" ]]; then
        (cd "$1" && pwd -P)
    else
        echo "$(cd "$(dirname "$1")" && pwd -P)/$(basename "$1")"
    fi
}

image="${XMEMPP_IMAGE:-xmempp:inference}"
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
        -*) die "unknown option $1 (put xmempp's own options after --)" ;;
        *) break ;;
    esac
done
[[ $# -gt 0 ]] || { usage >&2; exit 2; }

docker_args=(--rm --user "$(id -u):$(id -g)" -e HOME=/tmp -e XMEMPP_HOME=/weights)
if [[ -t 0 && -t 1 ]]; then
    docker_args+=(-it)
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

exec docker run "${docker_args[@]}" "$image" "$@"
