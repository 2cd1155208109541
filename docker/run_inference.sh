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

script_name=run_inference.sh
# shellcheck source-path=SCRIPTDIR/.. source=docker/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

parse_options "${XMEMPP_IMAGE:-xmempp:inference}" "xmempp's" "$@"
shift "$parsed_count"
[[ $# -gt 0 ]] || { usage >&2; exit 2; }

docker_args=(--rm --user "$(id -u):$(id -g)" -e HOME=/tmp -e XMEMPP_HOME=/weights)
if [[ -t 0 && -t 1 ]]; then
    docker_args+=(-it)
fi

add_mount_args
add_gpu_args

exec docker run "${docker_args[@]}" "$image" "$@"
