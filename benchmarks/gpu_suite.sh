#!/usr/bin/env bash
# The prepared GPU run: every GPU figure the README claims, measured on one H200 within 7.5 minutes.
#
#   bash benchmarks/gpu_suite.sh            # on the GPU machine (the device tool's run), OUT=... set there
#   bash benchmarks/gpu_suite.sh --smoke    # the same steps at tiny sizes on any machine (the tests run it)
#
# It installs the carried wheels (.whl/, filled by benchmarks/gpu/carry_wheels.sh), records the versions, the
# GPU and its clocks, then runs the steps in order of value, each with its own timeout, all within
# SUITE_SECONDS (450): the probe (int64 offsets, determinism, host syncs, decode and embedding ceilings),
# the sm_90 register table, the GPU tests, bench_ssim, bench_similarity, bench_score, bench_peers,
# bench_train (the 1B shape, and a 2-layer 7B-width slice with the Janus-4o projection), bench_score
# --edits (an edit row's cost beside a text-to-image row's), bench_vlm (caption and judge with a
# Qwen2.5-VL-3B-shaped model), bench_scorers (each extra scorer at its release's shape beside ViT-L-14) and
# bench_prompts (a writer and enhancer of Qwen2.5-1.5B's shape). A step that fails
# or runs out of time is recorded and the next one runs. Everything lands in $OUT, in at most 5 files:
# suite.log, env.json, steps.jsonl, results.jsonl (every row, tagged with its benchmark) and summary.txt,
# which also prints last. After a GPU run, `python -m benchmarks.gpu.suite_results file OUT/results.jsonl`
# files the rows under benchmarks/results/ for a commit.
set -uo pipefail
cd "$(dirname "$0")/.."

SMOKE=0
[ "${1:-}" = "--smoke" ] && SMOKE=1
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
ROWS=$(mktemp -d)
PY=${PYTHON:-python3}
BUDGET=${SUITE_SECONDS:-450}
START=$(date +%s)
LOG=$OUT/suite.log
STEPS=$OUT/steps.jsonl
: >"$LOG"
: >"$STEPS"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
# Triton's real compiler (the sm_90 table), and process groups of the suite's own (bench_train).
unset TRITON_INTERPRET RANK WORLD_SIZE LOCAL_RANK MASTER_ADDR MASTER_PORT
# The tree travels without its git folder: carry_wheels.sh leaves the commit here.
[ -f .whl/git-sha ] && export PIXSIFT_GIT_SHA="$(cat .whl/git-sha)"

if [ "$SMOKE" = 0 ] && compgen -G ".whl/*.whl" >/dev/null; then
    echo "== installing the carried wheels" | tee -a "$LOG"
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
        .whl/*.whl >>"$LOG" 2>&1 && export PYTHONPATH="/tmp/site:$PYTHONPATH"
fi

if ! "$PY" -c "import pixsift.engine.core" >>"$LOG" 2>&1; then
    echo "suite: pixsift is not installed: run benchmarks/gpu/carry_wheels.sh first (it builds pixsift's wheel)" \
        | tee -a "$LOG"
    exit 2
fi

"$PY" - "$OUT/env.json" <<'EOF' >>"$LOG" 2>&1
import importlib.metadata, json, platform, subprocess, sys
versions = {"python": platform.python_version()}
for name in ("torch", "triton", "transformers", "torchvision", "open_clip_torch", "diffusers", "deepspeed",
             "zarr", "nvtx", "numba", "pytorch-msssim", "kornia", "torchmetrics", "pycuda", "nvidia-dali-cuda120"):
    try:
        versions[name] = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        versions[name] = None
query = "name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,power.limit,memory.total"
try:
    gpu = subprocess.run(["nvidia-smi", f"--query-gpu={query}", "--format=csv"], capture_output=True, text=True).stdout
except OSError:
    gpu = "no nvidia-smi"
json.dump({"versions": versions, "gpu": gpu.strip()}, open(sys.argv[1], "w"), indent=1)
print(json.dumps(versions), gpu, sep="\n")
EOF

# step NAME SECONDS COMMAND...: runs it within its own limit and what is left of the budget.
step() {
    local name=$1 limit=$2 left t started rc status
    shift 2
    left=$((BUDGET - ($(date +%s) - START)))
    if [ "$left" -lt 10 ]; then
        printf '{"step": "%s", "status": "no time", "seconds": 0}\n' "$name" >>"$STEPS"
        return
    fi
    t=$((limit < left ? limit : left))
    echo "== $name (at most ${t}s): $*" | tee -a "$LOG"
    started=$(date +%s%N)
    timeout -k 5 "$t" "$@" >>"$LOG" 2>&1
    rc=$?
    case $rc in 0) status=ok ;; 124 | 137) status=timeout ;; *) status="failed" ;; esac
    printf '{"step": "%s", "status": "%s", "rc": %d, "seconds": %s}\n' "$name" "$status" "$rc" \
        "$(awk "BEGIN { printf \"%.1f\", ($(date +%s%N) - $started) / 1e9 }")" >>"$STEPS"
    echo "   $name: $status" | tee -a "$LOG"
}

R=(--results "$ROWS")
if [ "$SMOKE" = 1 ]; then
    step probe 60 "$PY" -m benchmarks.gpu.gpu_probe --smoke "${R[@]}"
    step compile_sm90 90 bash -c "'$PY' -m benchmarks.gpu.compile_sm90 --json --kernels ssim > '$ROWS/compile_sm90.jsonl'"
    step gpu_tests 60 "$PY" -m pytest -q --co -p no:cacheprovider -k "cuda or triton" tests/kernels
    step bench_ssim 60 "$PY" -m benchmarks.bench_ssim --conventions gaussian --sizes 64 --batches 1 \
        --channels 1 --budget 0.1 "${R[@]}"
    step bench_similarity 60 "$PY" -m benchmarks.bench_similarity --dim 64 --pairs-n 2048 --topk-n 256 \
        --budget 0.1 "${R[@]}"
    step bench_score 60 "$PY" -m benchmarks.bench_score --models ViT-B-32 --candidates 16 --batch-size 8 "${R[@]}"
    step bench_score_edits 90 "$PY" -m benchmarks.bench_score --edits --models ViT-B-32 --candidates 8 \
        --batch-size 4 "${R[@]}"
    step bench_peers 90 "$PY" -m benchmarks.bench_peers --candidates 8 --size 128 --batch-size 4 \
        --contenders pixsift peer "${R[@]}"
    step bench_train 90 "$PY" -m benchmarks.bench_train --tiny "${R[@]}"
    step bench_vlm 90 "$PY" -m benchmarks.bench_vlm --shape tiny --images 4 --max-new-tokens 8 "${R[@]}"
    step bench_scorers 90 "$PY" -m benchmarks.bench_scorers --shape tiny --candidates 8 "${R[@]}"
    step bench_prompts 60 "$PY" -m benchmarks.bench_prompts --captions 20000 --peer-sample 2000 --minhash 2000 \
        --prompts 16 --max-new-tokens 8 "${R[@]}"
else
    step probe 90 "$PY" -m benchmarks.gpu.gpu_probe "${R[@]}"
    step compile_sm90 60 bash -c "'$PY' -m benchmarks.gpu.compile_sm90 --json > '$ROWS/compile_sm90.jsonl'"
    step gpu_tests 100 "$PY" -m pytest -q -x -p no:cacheprovider -k "cuda or triton" tests/kernels
    step bench_ssim 50 "$PY" -m benchmarks.bench_ssim --conventions gaussian --sizes 1024 --batches 32 \
        --channels 3 "${R[@]}"
    step bench_similarity 40 "$PY" -m benchmarks.bench_similarity "${R[@]}"
    step bench_score 70 "$PY" -m benchmarks.bench_score --models ViT-L-14 --candidates 4096 "${R[@]}"
    step bench_peers 60 "$PY" -m benchmarks.bench_peers --candidates 256 --size 1024 "${R[@]}"
    step bench_train_1b 60 "$PY" -m benchmarks.bench_train --shape 1b --steps 5 --warmup 2 "${R[@]}"
    step bench_train_7b 60 "$PY" -m benchmarks.bench_train --shape 7b --layers 2 --steps 4 --warmup 2 "${R[@]}"
    step bench_score_edits 45 "$PY" -m benchmarks.bench_score --edits --models ViT-L-14 --candidates 2048 "${R[@]}"
    step bench_vlm 90 "$PY" -m benchmarks.bench_vlm --shape 3b --images 128 --batch-size 16 --max-new-tokens 128 \
        "${R[@]}"
    step bench_scorers 150 "$PY" -m benchmarks.bench_scorers --model ViT-L-14 --candidates 512 --batch-size 64 \
        "${R[@]}"
    step bench_prompts 90 "$PY" -m benchmarks.bench_prompts --captions 0 --writer-shape 1.5b --prompts 256 \
        --max-new-tokens 64 "${R[@]}"
fi

"$PY" -m benchmarks.gpu.suite_results merge "$ROWS" "$OUT/results.jsonl" >>"$LOG" 2>&1
"$PY" -m benchmarks.gpu.suite_results table "$OUT/results.jsonl" "$STEPS" | tee "$OUT/summary.txt"
rm -rf "$ROWS"
echo "suite: $(($(date +%s) - START)) s; files in $OUT"
! grep -q '"status": "failed"' "$STEPS"
