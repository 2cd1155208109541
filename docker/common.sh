# shellcheck shell=bash
# Shared by docker/run_inference.sh and docker/run_gui.sh; sourced, not run. Sourcing it only defines
# the functions below. The sourcing script sets script_name (its file name, for messages), defines
# usage(), and then calls, in this order:
#   parse_options DEFAULT_IMAGE WHOSE "$@"; shift "$parsed_count"
#       -> sets image, input, output, weights, gpus; WHOSE names the wrapped program's options in the
#          unknown-option message ("xmempp's", "the GUI's")
#   docker_args=(...)      # its own base arguments
#   add_mount_args         # -v for /input (read-only), /output and /weights
#   add_gpu_args           # --gpus from $gpus

# shellcheck disable=SC2154  # script_name is set by the sourcing script
die() {
    echo "$script_name: $*" >&2
    echo "run 'docker/$script_name --help' for usage" >&2
    exit 2
}

abs_path() {  # absolute path of an existing file or folder, without realpath (macOS has none)
    if [[ -d "$1" ]]; then
        (cd "$1" && pwd -P)
    else
        echo "$(cd "$(dirname "$1")" && pwd -P)/$(basename "$1")"
    fi
}

# shellcheck disable=SC2034  # image and parsed_count are read by the sourcing script
parse_options() {  # DEFAULT_IMAGE WHOSE ARGS...; parsed_count: how many of ARGS were options (shift them)
    image="$1"
    local whose="$2"
    shift 2
    local total=$#
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
            -*) die "unknown option $1 (put $whose own options after --)" ;;
            *) break ;;
        esac
    done
    parsed_count=$((total - $#))
}

add_mount_args() {  # appends to docker_args: input -> /input:ro, output -> /output, weights -> /weights
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
}

add_gpu_args() {  # appends to docker_args: --gpus from $gpus ('auto': all if the nvidia runtime is there)
    case "$gpus" in
        auto)
            if docker info --format '{{json .Runtimes}}' 2>/dev/null | grep -q nvidia; then
                docker_args+=(--gpus all)
            fi ;;
        none|"") ;;
        *) docker_args+=(--gpus "$gpus") ;;
    esac
}
