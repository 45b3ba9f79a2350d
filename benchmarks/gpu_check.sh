#!/usr/bin/env bash
# The GPU figures in one run, within about 6 minutes on a CUDA machine; writes results/gpu/.
#
#     bash benchmarks/gpu_check.sh                  # from the repository root (or anywhere)
#     GPU_CHECK_SECONDS=900 bash benchmarks/gpu_check.sh   # a longer budget
#     PYTHON=/path/to/python bash benchmarks/gpu_check.sh
#
# Needs torch with CUDA, numpy, scipy, scikit-image, matplotlib, pyyaml, imageio, tqdm, pytest
# (any recent torch: nothing here insists on the version pinned in requirements.txt). The
# optional packages (wandb, pypng, soundfile, pystoi, pesq, libigl) may be missing: the image
# task does not import them, and the tests that need them are skipped
# (benchmarks/gpu/optional_deps.py).
#
# Stages, in this order, each with its own time limit inside the overall budget (a stage that
# would not fit is skipped and says so); each writes its output to results/gpu/<stage>.txt:
#   env         the machine: GPU, driver, torch, CUDA
#   cuda_tests  tests/test_cuda.py (every image sampler on the GPU against the CPU, NTK scores,
#               the clock's synchronisation) and tests/test_ntk_generic.py
#   ntk_cost    benchmarks/ntk_cost.py --sizes 256 512 --device cuda (the paper: 3.2 ms per NTK
#               score at 512x512 on an RTX 4090)
#   syncs       benchmarks/gpu/syncs.py: which lines of a step make the host wait (syncs.md)
#   speedup     python reproduce.py benchmarks/gpu/speedup.yaml --preset gpu: Standard, INT, EVOS,
#               Expansive, NINT (K g and the release score) on images/01.png (512x512), SIREN
#               5x256, 1000 iterations; runs go to outputs/gpu_check/ (a second call resumes what
#               the first left unfinished), the table, report and curves are copied to results/gpu/
#   image_tests the image test files on this machine's CPU, with whatever time is left
# and results/gpu/summary.md: each stage's exit status and seconds, and the headline figures.
set -u
cd "$(dirname "$0")/.."
OUT=results/gpu
mkdir -p "$OUT"
PY=${PYTHON:-$(command -v python3 || command -v python)}
BUDGET=${GPU_CHECK_SECONDS:-350}
START=$(date +%s)
export PYTHONPATH="benchmarks/gpu${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
SUMMARY="$OUT/summary.md"
{
  echo "# GPU check ($(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  echo "\`bash benchmarks/gpu_check.sh\` with a budget of ${BUDGET} s; each stage's output is in results/gpu/<stage>.txt."
  echo
  echo "| stage | exit status | seconds | output |"
  echo "|---|---:|---:|---|"
} > "$SUMMARY"

left() { echo $(( BUDGET - ($(date +%s) - START) )); }

# stage NAME LIMIT_SECONDS COMMAND...: run with at most min(LIMIT, time left - 5) seconds.
stage() {
  local name=$1 limit=$2; shift 2
  local t; t=$(left); t=$(( t - 5 )); (( limit < t )) && t=$limit
  if (( t < 15 )); then
    echo "| $name | skipped (no time left) | 0 | |" >> "$SUMMARY"
    echo "== $name: skipped, no time left"
    return
  fi
  echo "== $name (at most ${t} s)"
  local t0; t0=$(date +%s)
  timeout -k 10 "$t" "$@" > "$OUT/$name.txt" 2>&1
  local rc=$?
  local status=$rc; (( rc == 124 || rc == 137 )) && status="$rc (time limit)"
  echo "| $name | $status | $(( $(date +%s) - t0 )) | $name.txt |" >> "$SUMMARY"
  tail -n 3 "$OUT/$name.txt"
}

stage env 30 bash -c "nvidia-smi; echo; '$PY' -c 'import sys, torch; print(\"python\", sys.version.split()[0]); print(\"torch\", torch.__version__, \"cuda\", torch.version.cuda, \"available\", torch.cuda.is_available()); print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else \"no CUDA device\")'"

stage cuda_tests 100 "$PY" -m pytest -p optional_deps -p no:cacheprovider -rs tests/test_cuda.py tests/test_ntk_generic.py

stage ntk_cost 70 "$PY" benchmarks/ntk_cost.py --sizes 256 512 --device cuda --repeats 10

stage syncs 45 "$PY" benchmarks/gpu/syncs.py --size 128 --steps 30 --out "$OUT/syncs.md"

stage speedup 210 "$PY" reproduce.py benchmarks/gpu/speedup.yaml --preset gpu --results outputs/gpu_check
cp outputs/gpu_check/speedup_gpu* "$OUT/" 2>/dev/null

stage image_tests 600 "$PY" -m pytest -p optional_deps -p no:cacheprovider -rs \
  tests/test_nint.py tests/test_samplers_basic.py tests/test_models.py tests/test_train_image.py \
  tests/test_samplers_comparison.py tests/test_siren.py tests/test_schedules.py tests/test_metrics.py \
  tests/test_ntk_patches.py tests/test_config.py

{
  echo
  echo "Total: $(( $(date +%s) - START )) s."
  echo
  echo "## NTK cost (benchmarks/ntk_cost.py, CUDA)"
  echo
  echo '```'
  grep -E "^[0-9]+x[0-9]+ image|ntk score |user score |full step |user step |ratio|generic vs" "$OUT/ntk_cost.txt" 2>/dev/null
  echo '```'
  echo
  echo "## Speed-up (1000 iterations, 512x512, SIREN 5x256)"
  echo
  if [ -f "$OUT/speedup_gpu_report.md" ]; then cat "$OUT/speedup_gpu_report.md"; else echo "(no report: see speedup.txt)"; fi
  echo
  echo "## Tests"
  echo
  echo '```'
  for f in cuda_tests image_tests; do
    [ -f "$OUT/$f.txt" ] && echo "$f: $(grep -E '(passed|failed|error|skipped)' "$OUT/$f.txt" | tail -n 1)"
  done
  echo '```'
} >> "$SUMMARY"
echo "== done in $(( $(date +%s) - START )) s: $SUMMARY"
