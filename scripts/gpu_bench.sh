#!/usr/bin/env bash
# GPU speed figures for docs/benchmarks.md (GPU): `xmempp bench --random-weights` at 480p and 1080p, one and
# five objects, fp32 and autocast (--precision auto: fp16); eager, --cuda-graphs and --compile; plus the GPU checks (tests/test_gpu.py).
# Usage, from the repository root, with xmempp installed and a CUDA PyTorch: scripts/gpu_bench.sh OUT_DIR
# Each result is one JSON line (label + `xmempp bench --json`) appended to OUT_DIR/bench.jsonl, most wanted
# first, so that a run cut short by an outer time limit still leaves the earlier lines.
set -u
out=${1:?usage: scripts/gpu_bench.sh OUT_DIR}
mkdir -p "$out"
frames=${FRAMES:-30}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >"$out/gpu.txt" 2>&1
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" >>"$out/gpu.txt" 2>&1

bench() {  # label, seconds allowed, then bench arguments
    local label=$1 limit=$2; shift 2
    local started=$SECONDS warmup=5
    # compiled runs: every variant (memory frames, deep updates) must compile within the warm-up frames
    case "$label" in *compile*) warmup=12 ;; esac
    if timeout "$limit" xmempp bench --random-weights --device cuda --frames "$frames" --warmup $warmup --json "$@" \
        >"$out/run.json" 2>>"$out/bench.log"; then
        python3 -c "import json,sys; r=json.load(open(sys.argv[1])); r.pop('timeline'); r['label']=sys.argv[2]; print(json.dumps(r))" \
            "$out/run.json" "$label" >>"$out/bench.jsonl"
    else
        echo "{\"label\": \"$label\", \"failed\": \"exit $? after $((SECONDS - started)) s\"}" >>"$out/bench.jsonl"
    fi
    echo "$label done in $((SECONDS - started)) s" >>"$out/bench.log"
}

if [ -d tests ]; then
    timeout 150 python3 -m pytest -q -p no:cacheprovider tests/test_gpu.py >"$out/test_gpu.txt" 2>&1
fi
bench "480p 1obj fp32" 45 --size 480 --objects 1 --precision fp32
bench "480p 1obj autocast" 45 --size 480 --objects 1
bench "480p 1obj fp32 cuda-graphs" 45 --size 480 --objects 1 --precision fp32 --cuda-graphs
bench "480p 1obj autocast cuda-graphs" 45 --size 480 --objects 1 --cuda-graphs
bench "480p 1obj autocast compile" 150 --size 480 --objects 1 --compile
bench "480p 5obj fp32" 45 --size 480 --objects 5 --precision fp32
bench "480p 5obj autocast" 45 --size 480 --objects 5
bench "480p 5obj autocast cuda-graphs" 45 --size 480 --objects 5 --cuda-graphs
for objects in 1 5; do
    bench "1080p ${objects}obj autocast" 60 --size 1080 --objects $objects
    bench "1080p ${objects}obj fp32" 90 --size 1080 --objects $objects --precision fp32
done
bench "1080p 1obj autocast cuda-graphs" 60 --size 1080 --objects 1 --cuda-graphs
bench "480p 5obj autocast compile" 150 --size 480 --objects 5 --compile
bench "480p 1obj fp32 compile" 150 --size 480 --objects 1 --precision fp32 --compile
bench "1080p 1obj autocast compile" 150 --size 1080 --objects 1 --compile
rm -f "$out/run.json"
