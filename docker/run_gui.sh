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

script_name=run_gui.sh
# shellcheck source-path=SCRIPTDIR/.. source=docker/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

parse_options "${XMEMPP_GUI_IMAGE:-xmempp:gui}" "the GUI's" "$@"
shift "$parsed_count"

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

add_mount_args
add_gpu_args

# not exec: the EXIT trap removes the X authority copy afterwards
docker run "${docker_args[@]}" "$image" "$@"
