#!/usr/bin/env bash
# benchmarks/gpu.sh: the GPU checks of issue 14, in one go, within 10 minutes on one GPU.
#
# In order, each part under `timeout`, its wall time printed and its output kept:
#   tests            the tests that exercise CUDA: every test function whose source
#                    mentions "cuda", less those that skip where CUDA is present    <= 60 s
#   dropper_speed    benchmarks/dropper_speed.py --device cuda                      <= 60 s
#   relevance_speed  benchmarks/relevance_speed.py --device cuda (PointNet,
#                    PointNet++ MSG with and without normals, DGCNN; 5 repeats)    <= 170 s
#   step_cost        benchmarks/step_cost.py --device cuda (10 timed batches)       <= 150 s
#   study            benchmarks/modelnet40_study.py --preset gpu-full --device cuda:
#                    none and RelDrop on the whole training split, 20 epochs,
#                    evaluated on the full test split       what is left of the budget
# The whole is held to RELDROP3D_GPU_BUDGET seconds (default 575) from the start:
# every part's limit is clipped to the time left, and the study gets all that is left
# (at least 575 - 440 - 15 s of margin, 2 min; typically more, as the benchmarks
# take less than their limits). Measured on one H200 (benchmarks/results/gpu/README.md):
# tests 12 s, the benchmarks about 35 s a model each (most of it process start and
# CUDA warm-up), the study 157 s (training 0.6 + 1.3 min, evaluation 0.3 min a run).
# A part that fails or runs out of time is recorded and the next one runs; the
# script exits 1 at the end if any part failed.
#
# Writes, into RELDROP3D_GPU_RESULTS (default benchmarks/results/gpu): the
# benchmarks' *_cuda.json and .png, modelnet40_gpu-full.json/.md/.png, logs/<part>.log
# and gpu_run.json (each part's command, exit status and seconds, nvidia-smi's
# name and memory, torch's versions). The study's runs go to
# benchmarks/runs/modelnet40_gpu-full and resume there: a second call after a
# timeout continues the training (delete that folder to start afresh).
#
# Without a CUDA device it prints one line `gpu.sh: error: no CUDA device here (...)`
# to stderr and exits 2, having created nothing.
#
#   bash benchmarks/gpu.sh            # PYTHON=... to use another interpreter
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-.venv/bin/python}
OUT=${RELDROP3D_GPU_RESULTS:-benchmarks/results/gpu}
BUDGET=${RELDROP3D_GPU_BUDGET:-575}
RESERVE=15 # seconds kept back at every part for timeout's kill grace and the report

now_us() {
    local t=${EPOCHREALTIME:-}
    if [[ -n $t ]]; then echo "${t/./}"; else date +%s%6N; fi
}
START=$(now_us)
DEADLINE=$((START + BUDGET * 1000000))

# --- CUDA or nothing: one line on stderr, exit 2, no file written -----------------
if ! preflight=$(
    "$PY" - 2>&1 <<'EOF'
import json, os, sys

import torch

if not torch.cuda.is_available():
    sys.exit(f"torch {torch.__version__}: torch.cuda.is_available() is False")
from reldrop3d.data import default_data_root

data = default_data_root() / "modelnet40_1024"
print(json.dumps({
    "torch": torch.__version__,
    "torch_cuda": torch.version.cuda,
    "device": torch.cuda.get_device_name(0),
    "python": sys.executable,
    "data": str(data),
    "modelnet40_present": (data / "train.h5").is_file(),
}))
EOF
); then
    echo "gpu.sh: error: no CUDA device here ($(printf '%s\n' "$preflight" | tail -n 1))" >&2
    exit 2
fi
preflight=$(printf '%s\n' "$preflight" | tail -n 1)

export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$OUT/logs"
PARTS=$(mktemp)
trap 'rm -f "$PARTS"' EXIT
nvidia=$(nvidia-smi --query-gpu=name,memory.total --format=csv 2>&1 || true)
echo "gpu.sh: $(printf '%s' "$nvidia" | tail -n +2 | head -n 1); budget ${BUDGET} s; writing to $OUT"
if [[ $preflight != *'"modelnet40_present": true'* ]]; then
    echo "gpu.sh: warning: no ModelNet40 under RELDROP3D_DATA: the benchmarks time synthetic" \
        "clouds and the study fails ($preflight)"
fi

# run_part NAME CAP_SECONDS COMMAND...: COMMAND under timeout, limit min(CAP, time left)
run_part() {
    local name=$1 cap=$2 left limit rc t0 seconds status
    shift 2
    left=$(((DEADLINE - $(now_us)) / 1000000 - RESERVE))
    limit=$((cap < left ? cap : left))
    limit=$((limit > 0 ? limit : 0))
    echo "=== $name (limit ${limit} s): $*"
    t0=$(now_us)
    if ((limit < 5)); then
        rc=124 status="skipped: no time left"
    else
        set +e
        timeout -k 10 "$limit" "$@" 2>&1 | tee "$OUT/logs/$name.log"
        rc=${PIPESTATUS[0]}
        set -e
        case $rc in
            0) status=ok ;;
            124 | 137) status="timed out after ${limit} s" ;;
            *) status="failed (exit $rc)" ;;
        esac
    fi
    seconds=$((($(now_us) - t0) / 1000))
    seconds=$(printf '%d.%03d' $((seconds / 1000)) $((seconds % 1000)))
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$rc" "$seconds" "$limit" "$status" "$*" >>"$PARTS"
    printf '\n=== %s: %s, %s s\n' "$name" "$status" "$seconds"
}

# the tests that exercise CUDA: every test function whose source mentions it, less those
# written for machines without one (`if torch.cuda.is_available(): pytest.skip(...)`)
mapfile -t cuda_tests < <(
    "$PY" - <<'EOF'
import ast, pathlib, re

NO_GPU_ONLY = re.compile(r"if torch\.cuda\.is_available\(\):\s+pytest\.skip")

for path in sorted(pathlib.Path("tests").glob("test_*.py")):
    source = path.read_text()
    for node in ast.parse(source).body:
        found = [(node.name, node)] if isinstance(node, ast.FunctionDef) else []
        if isinstance(node, ast.ClassDef):
            found = [(f"{node.name}::{f.name}", f) for f in node.body
                     if isinstance(f, ast.FunctionDef)]
        for name, fn in found:
            text = ast.get_source_segment(source, fn)
            if fn.name.startswith("test") and "cuda" in text.lower() and not NO_GPU_ONLY.search(text):
                print(f"{path}::{name}")
EOF
)
if ((${#cuda_tests[@]})); then
    run_part tests 60 "$PY" -m pytest -q -rs -p no:cacheprovider "${cuda_tests[@]}"
else
    run_part tests 60 bash -c 'echo "no test mentions cuda under tests/" >&2; exit 1'
fi
run_part dropper_speed 60 "$PY" benchmarks/dropper_speed.py --device cuda --out "$OUT"
run_part relevance_speed 170 "$PY" benchmarks/relevance_speed.py --device cuda \
    --models pointnet pointnet2-msg dgcnn --repeats 5 --out "$OUT"
run_part step_cost 150 "$PY" benchmarks/step_cost.py --device cuda --batches 11 --out "$OUT"
run_part study "$BUDGET" "$PY" benchmarks/modelnet40_study.py --preset gpu-full \
    --device cuda --results "$OUT"

total=$((($(now_us) - START) / 1000))
NVIDIA=$nvidia PREFLIGHT=$preflight TOTAL_MS=$total BUDGET=$BUDGET \
    "$PY" - "$PARTS" "$OUT/gpu_run.json" <<'EOF'
import datetime, json, os, subprocess, sys

parts = []
for line in open(sys.argv[1]).read().splitlines():
    name, rc, seconds, limit, status, command = line.split("\t")
    parts.append({"part": name, "exit_status": int(rc), "status": status,
                  "seconds": float(seconds), "limit_s": int(limit), "command": command})
git = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True)
report = {
    "benchmark": "gpu.sh (issue 14): CUDA tests, dropper/relevance/step speed, gpu-full study",
    "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    "commit": git.stdout.strip() or None,
    "budget_s": int(os.environ["BUDGET"]),
    "total_seconds": int(os.environ["TOTAL_MS"]) / 1000,
    "nvidia_smi": os.environ["NVIDIA"].splitlines(),
    **json.loads(os.environ["PREFLIGHT"]),
    "parts": parts,
    "failed": [p["part"] for p in parts if p["exit_status"] != 0],
}
with open(sys.argv[2], "w") as f:
    f.write(json.dumps(report, indent=2) + "\n")
print(f"\n{'part':16s} {'seconds':>8s}  status")
for p in parts:
    print(f"{p['part']:16s} {p['seconds']:8.1f}  {p['status']}")
print(f"{'total':16s} {report['total_seconds']:8.1f}  (budget {report['budget_s']} s)")
print(f"wrote {sys.argv[2]}")
sys.exit(1 if report["failed"] else 0)
EOF
