#!/usr/bin/env bash
# CI check of docker/Dockerfile without a Docker engine: build both targets with buildah (chroot isolation, vfs
# storage) on a CPU base image made here from Debian packages (debootstrap) plus a venv with the CPU torch wheel,
# then run them: `xmempp process` on a short generated clip and `xmempp serve` with a health probe inside the
# inference image, the GUI's screenshot (Qt offscreen) inside the gui image. Any failure ends it with a message
# starting "ci_images: FAILED" and a non-zero exit. Run as root (or with sudo) from anywhere in the checkout.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: docker/ci_images.sh [--keep]

Builds xmempp:inference and xmempp:gui (buildah, no Docker engine) on a Debian CPU base image and runs a
shot, the service's health probe and the GUI's screenshot inside them; prints the image sizes and times.

  --keep     keep the two built images afterwards (default: removed; the base image and wheels stay cached)

environment:
  XMEMPP_CI_CACHE     cache folder: buildah storage, base image, wheels
                      (default: ${XDG_CACHE_HOME:-~/.cache}/xmempp-ci-images)
  XMEMPP_CI_TORCH     torch version of the base image (default: 2.13.0; its CPU wheel must be installable)
  XMEMPP_CI_SUITE     Debian suite of the base image (default: bookworm)
  XMEMPP_CI_MIRROR    Debian mirror (default: http://deb.debian.org/debian)
EOF
}

keep=0
case "${1:-}" in
    "") ;;
    --keep) keep=1 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
esac

fail() {
    echo "ci_images: FAILED: $*" >&2
    exit 1
}
step() {
    printf '\n== ci_images [%4ss]: %s\n' "$SECONDS" "$*" >&2
}
retry() {  # retry ATTEMPTS COMMAND...: the command again after 15 s, up to ATTEMPTS times in all
    local attempts=$1 n=1
    shift
    until "$@"; do
        ((n < attempts)) || return 1
        echo "ci_images: '$*' failed (attempt $n of $attempts), retrying in 15 s" >&2
        sleep 15
        n=$((n + 1))
    done
}

if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || fail "buildah and debootstrap need root here: run as root or install sudo"
    exec sudo --preserve-env=XMEMPP_CI_CACHE,XMEMPP_CI_TORCH,XMEMPP_CI_SUITE,XMEMPP_CI_MIRROR "$0" "$@"
fi

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd -P)
torch_version=${XMEMPP_CI_TORCH:-2.13.0}
suite=${XMEMPP_CI_SUITE:-bookworm}
mirror=${XMEMPP_CI_MIRROR:-http://deb.debian.org/debian}
cache=${XMEMPP_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/xmempp-ci-images}
wheels=$cache/wheels
mkdir -p "$wheels"

# ------------------------------------------------------------------------------------------ tools
step "tools: buildah, debootstrap, a host python with pip"
if ! command -v buildah >/dev/null || ! command -v debootstrap >/dev/null; then
    command -v apt-get >/dev/null || fail "buildah and debootstrap are missing and there is no apt-get to install them"
    export DEBIAN_FRONTEND=noninteractive
    retry 3 apt-get update -q || fail "apt-get update failed 3 times (is a Debian mirror reachable?)"
    retry 3 apt-get install -y -q buildah debootstrap || fail "could not install buildah and debootstrap with apt-get"
fi
python=$(command -v python3 || true)
if [[ -z "$python" ]] || ! "$python" -m pip --version >/dev/null 2>&1; then
    fail "the host needs python3 with pip (it fetches the images' wheels with the host's pip settings)"
fi

storage=(--root "$cache/storage" --runroot "$cache/run" --storage-driver vfs)
bh() { buildah "${storage[@]}" "$@"; }
containers=()
work=$(mktemp -d "${TMPDIR:-/tmp}/xmempp-ci-images.XXXXXX")
cleanup() {
    local ctr
    for ctr in "${containers[@]}"; do
        bh rm "$ctr" >/dev/null 2>&1 || true
    done
    if ((keep == 0)); then
        bh rmi localhost/xmempp:inference localhost/xmempp:gui >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# Wheels for the target python (cpXY, glibc 2.Z): `pip download` with the host's pip settings (index, proxy,
# certificates, local wheels), so the image builds themselves install offline (--build-arg WHEELS).
fetch_wheels() {  # fetch_wheels PYTHON_TAG GLIBC_MINOR REQUIREMENT...
    local tag=$1 glibc=$2 m platforms=()
    shift 2
    for ((m = glibc; m >= 5; m--)); do
        platforms+=(--platform "manylinux_2_${m}_x86_64")
    done
    platforms+=(--platform manylinux2014_x86_64 --platform manylinux2010_x86_64 --platform manylinux1_x86_64)
    echo "torch==$torch_version" > "$work/constraints.txt"
    retry 3 "$python" -m pip download --quiet --disable-pip-version-check --only-binary=:all: \
        --implementation cp --python-version "$tag" "${platforms[@]}" -c "$work/constraints.txt" \
        --dest "$wheels" "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2) \
        || fail "pip could not download the wheels for $*"
}

# ------------------------------------------------------------------------------------------ base image
# Tagged by what goes into it, so a rebuild happens only when the recipe changes. torch's C++ test programs and
# headers (145 MB, for building extensions) are left out.
recipe="suite=$suite mirror=$mirror packages=python3,python3-venv torch=$torch_version no-torch-tests-headers recipe=2"
base=localhost/xmempp-ci-base:$(printf '%s' "$recipe" | sha256sum | cut -c1-12)
t0=$SECONDS
if bh inspect --type image "$base" >/dev/null 2>&1; then
    step "base image $base: cached"
    base_source=cached
else
    step "base image $base: debootstrap $suite, venv with torch==$torch_version (CPU)"
    ctr=$(bh from scratch)
    containers+=("$ctr")
    mnt=$(bh mount "$ctr")
    retry 2 debootstrap --variant=minbase --include=python3,python3-venv "$suite" "$mnt" "$mirror" >"$work/debootstrap.log" 2>&1 \
        || { tail -20 "$work/debootstrap.log" >&2; fail "debootstrap of $suite from $mirror failed"; }
    rm -rf "$mnt"/var/cache/apt/archives/*.deb "$mnt"/var/lib/apt/lists/*
    py_tag=$(chroot "$mnt" python3 -c 'import sys; print(f"{sys.version_info[0]}{sys.version_info[1]}")')
    glibc=$(chroot "$mnt" python3 -c 'import platform; print(platform.libc_ver()[1].split(".")[1])')
    fetch_wheels "$py_tag" "$glibc" "torch==$torch_version"
    compgen -G "$wheels/torch-$torch_version+cpu-*.whl" >/dev/null \
        || fail "no CPU wheel of torch==$torch_version in $wheels (pip found only another build): make the host's pip" \
                "find it, e.g. PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu"
    bh run --isolation chroot -v "$wheels:/wheels:ro" "$ctr" -- sh -c \
        "python3 -m venv /opt/venv && /opt/venv/bin/pip install --quiet --no-cache-dir --no-index --find-links /wheels \
         torch==$torch_version && rm -rf /opt/venv/lib/python3*/site-packages/torch/test \
         /opt/venv/lib/python3*/site-packages/torch/include" \
        || fail "installing torch==$torch_version into the base image's venv failed"
    bh config --env PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        --env LANG=C.UTF-8 --cmd /bin/bash --label "xmempp.ci.python=$py_tag" --label "xmempp.ci.glibc=$glibc" "$ctr"
    bh umount "$ctr" >/dev/null
    bh commit --quiet --rm "$ctr" "$base" >/dev/null || fail "committing the base image failed"
    containers=()
    base_source=built
fi
base_seconds=$((SECONDS - t0))

# ------------------------------------------------------------------------------------------ wheels, builds
step "wheels for the images (host pip, kept in $wheels)"
label() { bh inspect --type image --format "{{index .OCIv1.Config.Labels \"xmempp.ci.$1\"}}" "$base"; }
py_tag=$(label python)
glibc=$(label glibc)
if [[ -z "$py_tag" || -z "$glibc" ]]; then
    fail "the base image $base has no xmempp.ci.python/glibc labels: remove it (buildah rmi) to rebuild it"
fi
fetch_wheels "$py_tag" "$glibc" "${root}[cli,vfx,service,gui]" "setuptools>=77" wheel

declare -A build_seconds size
# The gui target's `FROM inference` takes the inference image just built (a named build context), so the
# inference stage is not built twice.
from_inference=()
for target in inference gui; do
    step "build target $target (buildah bud, chroot isolation, vfs)"
    t0=$SECONDS
    bh bud --isolation chroot --layers=false -v "$wheels:/wheels:ro" --build-arg WHEELS=/wheels \
        --build-arg BASE_IMAGE="$base" "${from_inference[@]}" \
        -f docker/Dockerfile --target "$target" -t "localhost/xmempp:$target" . \
        >"$work/build-$target.log" 2>&1 \
        || { tail -30 "$work/build-$target.log" >&2; fail "building the $target image failed (log above)"; }
    build_seconds[$target]=$((SECONDS - t0))
    size[$target]=$(bh images --format '{{.Size}}' "localhost/xmempp:$target")
    from_inference=(--build-context inference=container-image://localhost/xmempp:inference)
done

# ------------------------------------------------------------------------------------------ runs
mkdir -p "$work/ci"
chmod 777 "$work/ci"  # the images run as their own user (uid 1000)
run_in() {  # run_in CONTAINER COMMAND...: run in the container as its image's user, /ci = $work/ci
    bh run --isolation chroot -v "$work/ci:/ci" -v "$root/tests:/tests:ro" "$1" -- "${@:2}"
}

step "inference image: test weights, an 8-frame clip, xmempp process"
t0=$SECONDS
inference=$(bh from --quiet localhost/xmempp:inference)
containers+=("$inference")
# The tests' own weights (tests/random_weights.py, the seed of tests/conftest.py): the official XMem.pth is
# not downloadable here. The clip is `xmempp demo`'s moving discs with its frame-0 mask.
run_in "$inference" python -c 'import sys; sys.path.insert(0, "/tests"); import torch
from random_weights import random_state_dict
torch.save(random_state_dict(seed=4), "/ci/weights.pth")' || fail "making the test weights in the inference image"
run_in "$inference" python -c 'from pathlib import Path; from xmempp.cli.demo_cmd import make_demo_clip
make_demo_clip(Path("/ci/clip"), 8)' || fail "making the clip in the inference image"
# processed at 240 lines (the masks come out at the clip's 480): the check is that it runs, not how fast
run_in "$inference" xmempp process -v /ci/clip/frames -m /ci/clip/masks -o /ci/out --model /ci/weights.pth \
    --device cpu --size 240 --alpha || fail "xmempp process in the inference image"
frames=$(find "$work/ci/out/masks" -name '*.png' | wc -l)
[[ $frames -eq 8 ]] || fail "xmempp process in the inference image wrote $frames masks, not 8"

step "inference image: xmempp serve and its health probe"
port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# shellcheck disable=SC2016  # expanded by the container's shell
run_in "$inference" sh -c '
    xmempp serve --host 127.0.0.1 --port "$1" --model /ci/weights.pth --device cpu --state-dir /ci/state \
        > /ci/serve.log 2>&1 &
    server=$!
    python - "$1" <<EOF || { kill "$server"; cat /ci/serve.log; exit 1; }
import json, sys, time, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/v1/health"
for _ in range(240):
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            print("health:", answer.status, json.dumps(json.load(answer)))
            sys.exit(0 if answer.status == 200 else 1)
    except OSError:
        time.sleep(0.5)
sys.exit("no answer from " + url + " within 2 minutes")
EOF
    kill -TERM "$server"
    wait "$server" || [ $? -eq 143 ]
' sh "$port" || fail "xmempp serve in the inference image did not answer its health probe (its log is above)"
run_seconds_inference=$((SECONDS - t0))

step "gui image: the GUI's screenshot (Qt offscreen)"
t0=$SECONDS
gui=$(bh from --quiet localhost/xmempp:gui)
containers+=("$gui")
run_in "$gui" env QT_QPA_PLATFORM=offscreen xmempp gui --images /ci/clip/frames --into /ci/workspaces \
    --model /ci/weights.pth --device cpu --screenshot /ci/gui.png || fail "xmempp gui --screenshot in the gui image"
run_in "$gui" python -c 'from PIL import Image; import numpy as np, sys
shot = np.asarray(Image.open("/ci/gui.png").convert("RGB"))
print("screenshot:", shot.shape[1], "x", shot.shape[0], "pixels,", len(np.unique(shot.reshape(-1, 3), axis=0)), "colours")
sys.exit(0 if shot.shape[0] >= 200 and shot.shape[1] >= 300 and shot.std() > 5 else "the screenshot is blank")' \
    || fail "the GUI's screenshot from the gui image is missing or blank"
run_seconds_gui=$((SECONDS - t0))

step "done"
cat <<EOF
ci_images: passed on $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') ($(nproc) cores)
  base image    $base ($base_source in ${base_seconds} s)
  inference     ${size[inference]}, built in ${build_seconds[inference]} s; process + serve ran in ${run_seconds_inference} s
  gui           ${size[gui]}, built in ${build_seconds[gui]} s; screenshot in ${run_seconds_gui} s
  total         ${SECONDS} s
EOF
