#!/usr/bin/env bash
# One prepared check for a lent H100/H200 (torch there, no snakemake): in about 6 minutes it runs
#   1. the tests of the engine, the counter-based noise and the GPU lease, and every test marked
#      `cuda` (training methods and loop, soft targets, the certify command on CUDA),
#   2. benchmarks/certify_throughput.py on CUDA (bare / engine / fast / Cohen-style loop),
#   3. the CI config through Snakemake with --resources gpu=1 and device auto (jobs on CUDA, each
#      through the GPU lease), with a watchdog that records the process tree, kernel wait channels
#      and GPU-lock holders if the run is still going near its limit.
# Every step runs under `timeout -k` and logs into $OUT as it goes; the workflow's job logs come
# back as one archive. Wheels carried in .whl/ (snakemake and its dependencies, see the device
# notes) are installed into /tmp/site first.
#
#   benchmarks/gpu_check.sh                                          # on the device, repo root
#   RANDSMOOTH_GPU_CHECK_DEVICE=cpu OUT=/tmp/gpu-check benchmarks/gpu_check.sh   # CPU dry run
#
# Exit status: 0 if every step passed, else the number of failed steps.
set -uo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-/tmp/gpu-check-out}
DEVICE=${RANDSMOOTH_GPU_CHECK_DEVICE:-cuda}
PYTHON=${PYTHON:-python3}
WORK=${RANDSMOOTH_GPU_CHECK_WORKDIR:-/tmp/gpu-check-workflow}
# step limits (seconds): 370 in all on the device (the workflow's 10 GPU jobs run one at a time);
# the CPU dry run gives the workflow longer
T_TESTS=${T_TESTS:-50}
T_CUDA_TESTS=${T_CUDA_TESTS:-60}
T_BENCH=${T_BENCH:-80}
if [ "$DEVICE" = cpu ]; then T_WORKFLOW=${T_WORKFLOW:-240}; else T_WORKFLOW=${T_WORKFLOW:-180}; fi
mkdir -p "$OUT"
cd "$REPO" || exit 1
export PYTHONUNBUFFERED=1
SITE=""
if compgen -G ".whl/*.whl" > /dev/null; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        > "$OUT/env.log" 2>&1 && SITE=/tmp/site
fi
export PYTHONPATH="$REPO/src${SITE:+:$SITE}${PYTHONPATH:+:$PYTHONPATH}"
FAILED=0
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"

step() {  # step NAME SECONDS LOG COMMAND...: run under timeout -k, log, record the outcome
    local name=$1 limit=$2 log=$3
    shift 3
    local start=$SECONDS
    echo "== $name (limit ${limit}s): $*" | tee -a "$log"
    timeout -k 10 "$limit" "$@" >> "$log" 2>&1
    local rc=$?
    local line="$name: rc=$rc in $((SECONDS - start)) s"
    [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && line="$line (TIMED OUT)"
    echo "$line" | tee -a "$SUMMARY"
    [ "$rc" -eq 0 ] || FAILED=$((FAILED + 1))
    return 0
}

# ---------------------------------------------------------------------------------- environment
{
    echo "== environment"
    date -u
    echo "device=$DEVICE nproc=$(nproc) cpus_online=$(getconf _NPROCESSORS_ONLN)"
    echo "cgroup cpu.max: $(cat /sys/fs/cgroup/cpu.max 2>/dev/null || echo n/a)"
    echo "CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES-<unset>} NVIDIA_VISIBLE_DEVICES=${NVIDIA_VISIBLE_DEVICES-<unset>}"
    echo "PYTHONPATH=$PYTHONPATH"
    command -v nvidia-smi && timeout 30 nvidia-smi -L
    command -v nvidia-smi && timeout 30 nvidia-smi --query-gpu=name,mig.mode.current,persistence_mode,memory.used \
        --format=csv
    timeout 60 "$PYTHON" - <<'EOF'
import os, sys, torch
print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda)
print("cuda available", torch.cuda.is_available(), "devices", torch.cuda.device_count())
if torch.cuda.is_available():
    print("device 0:", torch.cuda.get_device_name(0))
print("torch threads", torch.get_num_threads(), "os.cpu_count", os.cpu_count(), "affinity", len(os.sched_getaffinity(0)))
try:
    import triton
    print("triton", triton.__version__)
except Exception as exc:  # noqa: BLE001
    print("triton unavailable:", exc)
try:
    import snakemake, pulp
    print("snakemake", snakemake.__version__, "pulp", pulp.__version__, "cbc", pulp.getSolver("PULP_CBC_CMD").available())
except Exception as exc:  # noqa: BLE001
    print("snakemake/pulp:", exc)
EOF
} >> "$OUT/env.log" 2>&1

# ------------------------------------------------------------------------------------ 1. tests
step tests "$T_TESTS" "$OUT/tests.log" "$PYTHON" -m pytest -q -rs -p no:cacheprovider \
    tests/test_philox.py tests/test_engine.py tests/test_workflow_gpu_lease.py -m "not slow" -k "not interpreter"
# the CUDA cases of the other modules: training methods, the training loop, soft targets, certify CLI
step cuda-tests "$T_CUDA_TESTS" "$OUT/cuda-tests.log" "$PYTHON" -m pytest -q -rs -p no:cacheprovider -m "cuda and not slow" \
    tests/test_losses_methods.py tests/test_train.py tests/test_soft_targets.py tests/test_certify_cli.py \
    tests/test_noise_sampling.py

# -------------------------------------------------------------------------------- 2. benchmark
if [ "$DEVICE" = cpu ]; then
    step benchmark "$T_BENCH" "$OUT/bench.log" "$PYTHON" benchmarks/certify_throughput.py --device cpu --quick
else
    step benchmark "$T_BENCH" "$OUT/bench.log" "$PYTHON" benchmarks/certify_throughput.py --device cuda --repeats 3
fi

# --------------------------------------------------------------------------------- 3. workflow
# The CI config in a separate working directory, with device auto: on a GPU machine the train and
# certify jobs run on CUDA, one at a time (--resources gpu=1), each through `randsmooth gpu-lease`.
rm -rf "$WORK" && mkdir -p "$WORK"
WF_LOG="$OUT/workflow.log"
watchdog() {  # record what every process of the run is doing, shortly before the limit
    local pid=$1
    sleep $((T_WORKFLOW - 8))
    kill -0 "$pid" 2> /dev/null || return 0
    {
        echo "== still running after $((T_WORKFLOW - 8)) s: every process of the run, its state and wait channel"
        "$PYTHON" - "$pid" <<'EOF'
import sys
from pathlib import Path
from randsmooth.gpu_lease import default_lock_dir, describe_holder

def read(path, default=""):
    try:
        return Path(path).read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return default

children = {}
for stat in Path("/proc").glob("[0-9]*/stat"):
    fields = read(stat).rsplit(")", 1)[-1].split()
    if len(fields) > 2:
        children.setdefault(int(fields[1]), []).append((int(stat.parent.name), fields[0]))
todo = [(int(sys.argv[1]), "?", 0)]
while todo:
    pid, state, depth = todo.pop()
    print(f"{'  ' * depth}{pid} {state} wchan={read(f'/proc/{pid}/wchan', '?')} {read(f'/proc/{pid}/cmdline')[:200]}")
    for line in read(f"/proc/{pid}/stack").splitlines()[:8]:
        print(f"{'  ' * depth}    {line}")
    todo += [(c, s, depth + 1) for c, s in children.get(pid, [])]
print("== GPU locks in", default_lock_dir())
for lock in sorted(Path(default_lock_dir()).glob("gpu-*.lock")):
    print(lock, "->", describe_holder(lock))
EOF
        command -v nvidia-smi > /dev/null && timeout 20 nvidia-smi
    } > "$OUT/stuck.txt" 2>&1
}
start=$SECONDS
echo "== workflow (limit ${T_WORKFLOW}s) in $WORK" | tee "$WF_LOG"
(
    cd "$WORK" && exec timeout -k 10 "$T_WORKFLOW" "$PYTHON" -m snakemake -s "$REPO/Snakefile" --cores 8 \
        --resources gpu=1 --configfile "$REPO/config/ci.yaml" --config device=auto --printshellcmds
) >> "$WF_LOG" 2>&1 &
wf=$!
watchdog "$wf" &
dog=$!
wait "$wf"
rc=$?
kill "$dog" 2> /dev/null
wait "$dog" 2> /dev/null
line="workflow: rc=$rc in $((SECONDS - start)) s"
[ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && line="$line (TIMED OUT; see stuck.txt)"
echo "$line" | tee -a "$SUMMARY"
[ "$rc" -eq 0 ] || FAILED=$((FAILED + 1))
# every job log, Snakemake's own log and the job benchmarks, as one file
(cd "$WORK" && tar -czf "$OUT/workflow_logs.tar.gz" --ignore-failed-read .snakemake/log \
    $(find . -path '*/logs' -o -path '*/benchmarks' -o -name 'train.log' 2> /dev/null | grep -v '^./.snakemake') \
    2> /dev/null)

echo "== summary ($FAILED failed)" | tee -a "$SUMMARY"
cat "$SUMMARY"
exit "$FAILED"
