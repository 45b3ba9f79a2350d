#!/usr/bin/env bash
# The GPU figures in one run, within 5 minutes on one CUDA GPU; one archive of every report.
#
#     bash benchmarks/gpu_check.sh                 # from the repository root (or anywhere)
#     bash benchmarks/gpu_check.sh --quick         # a shorter check for a rerun: no speed-up, no CPU tests
#     bash benchmarks/gpu_check.sh --dry-run       # each stage and its time limit, then `total: N s`; runs nothing
#     PYTHON=/path/to/python bash benchmarks/gpu_check.sh
#     GPU_CHECK_SECONDS=600 bash benchmarks/gpu_check.sh   # another overall budget
#
# Python: $PYTHON when given, else the project's .venv/bin/python when there is one, else python3.
# Needs torch with CUDA, numpy, scipy, scikit-image, matplotlib, pyyaml, imageio, tqdm, pytest
# (any recent torch: nothing here insists on the version pinned in requirements.txt). The
# optional packages (wandb, pypng, soundfile, pystoi, pesq, libigl) may be missing: the image
# task does not import them, and the tests that need them are skipped
# (benchmarks/gpu/optional_deps.py).
#
# Output: one archive, gpu_check.tar.gz, in the folder $OUT names when that variable is set (a
# lent GPU machine's output folder), else in results/gpu/. It holds summary.md (each stage's
# exit status and seconds, and the headline figures) and each stage's report <stage>.txt. Each
# stage's report is written, and the archive packed again, as soon as that stage ends, so a
# check cut short still leaves every finished stage's report. The working copies are in
# outputs/gpu_check/report/ (not tracked).
#
# Stages, in this order, each with its own time limit inside the overall budget; a stage that
# would not fit in what is left is skipped and says so; the budget is enforced (a stage's limit is
# cut to what is left):
#   env         the machine: GPU, driver, torch, CUDA
#   cuda_tests  tests/test_cuda.py (every image sampler on the GPU against the CPU, NTK scores,
#               the clock's synchronisation, the steady step without host waits),
#               tests/test_ntk_generic.py and the GPU resume test of tests/test_devices.py
#   ntk_cost    benchmarks/ntk_cost.py --sizes 256 512 --device cuda (the paper: 3.2 ms per NTK
#               score at 512x512 on an RTX 4090)
#   syncs       benchmarks/gpu/syncs.py: which lines of a step make the host wait (syncs.md)
#   speedup     python reproduce.py benchmarks/gpu/speedup.yaml --preset gpu: Standard, INT, EVOS,
#               Expansive, NINT (K g and the release score) on images/01.png (512x512), SIREN
#               5x256, 1000 iterations; runs go to outputs/gpu_check/ (a second call resumes what
#               the first left unfinished). The runs stop 20 s before the stage's limit (each
#               checkpoints), and the table and the speed-up report are then written from the
#               runs that finished, whatever happened before.
#   image_tests the image test files on this machine's CPU, with whatever time is left
set -u
cd "$(dirname "$0")/.."

DRY=0; QUICK=0
for arg in "$@"; do
  case "$arg" in
    --dry-run) DRY=1 ;;
    --quick) QUICK=1 ;;
    -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown option $arg (options: --dry-run, --quick)" >&2; exit 2 ;;
  esac
done

if [ -n "${PYTHON:-}" ]; then PY=$PYTHON
elif [ -x .venv/bin/python ]; then PY=.venv/bin/python
else PY=$(command -v python3 || command -v python); fi

if (( QUICK )); then
  BUDGET=${GPU_CHECK_SECONDS:-150}
  STAGES="env:15 cuda_tests:60 ntk_cost:30 syncs:25"
else
  BUDGET=${GPU_CHECK_SECONDS:-300}
  STAGES="env:15 cuda_tests:75 ntk_cost:40 syncs:30 speedup:120 image_tests:0"
fi
GRACE=10  # seconds `timeout` waits after its SIGTERM before it kills

if (( DRY )); then
  echo "python: $PY"
  echo "archive: ${OUT:-results/gpu}/gpu_check.tar.gz"
  for s in $STAGES; do
    name=${s%%:*}; limit=${s##*:}
    if (( limit == 0 )); then echo "stage $name: what is left of the budget"
    else echo "stage $name: at most $limit s"; fi
  done
  echo "total: $BUDGET s"
  exit 0
fi

DEST=${OUT:-results/gpu}
WORK=outputs/gpu_check/report
rm -rf "$WORK"
mkdir -p "$WORK" "$DEST"
ARCHIVE="$DEST/gpu_check.tar.gz"
START=$(date +%s)
export PYTHONPATH="benchmarks/gpu${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
SUMMARY="$WORK/summary.md"
{
  echo "# GPU check ($(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  echo "\`bash benchmarks/gpu_check.sh$( (( QUICK )) && echo ' --quick')\` with a budget of ${BUDGET} s, python $PY;"
  echo "each stage's output is <stage>.txt in this archive."
  echo
  echo "| stage | exit status | seconds | output |"
  echo "|---|---:|---:|---|"
} > "$SUMMARY"

left() { echo $(( BUDGET - ($(date +%s) - START) )); }

# The archive, packed again from everything written so far (written whole, then renamed).
pack() {
  tar -czf "$ARCHIVE.tmp" -C "$WORK" . && mv "$ARCHIVE.tmp" "$ARCHIVE"
}

# stage NAME LIMIT COMMAND...: run with at most min(LIMIT, time left - GRACE - 5) seconds
# (LIMIT 0: whatever is left); its report and the archive are written as soon as it ends.
stage() {
  local name=$1 limit=$2; shift 2
  local t; t=$(( $(left) - GRACE - 5 )); (( limit > 0 && limit < t )) && t=$limit
  if (( t < 10 )); then
    echo "| $name | skipped (no time left) | 0 | |" >> "$SUMMARY"
    echo "== $name: skipped, no time left"
    pack
    return
  fi
  echo "== $name (at most ${t} s)"
  local t0; t0=$(date +%s)
  STAGE_SECONDS=$t timeout -k "$GRACE" "$t" "$@" > "$WORK/$name.txt" 2>&1
  local rc=$?
  local status=$rc; (( rc == 124 || rc == 137 )) && status="$rc (time limit)"
  echo "| $name | $status | $(( $(date +%s) - t0 )) | $name.txt |" >> "$SUMMARY"
  tail -n 3 "$WORK/$name.txt"
  pack
}

limit_of() { for s in $STAGES; do [ "${s%%:*}" = "$1" ] && echo "${s##*:}"; done; }

stage env "$(limit_of env)" bash -c "nvidia-smi; echo; '$PY' -c 'import sys, torch; print(\"python\", sys.version.split()[0]); print(\"torch\", torch.__version__, \"cuda\", torch.version.cuda, \"available\", torch.cuda.is_available()); print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else \"no CUDA device\")'"

if (( QUICK )); then
  stage cuda_tests "$(limit_of cuda_tests)" "$PY" -m pytest -p optional_deps -p no:cacheprovider -rs tests/test_cuda.py
  stage ntk_cost "$(limit_of ntk_cost)" "$PY" benchmarks/ntk_cost.py --sizes 512 --device cuda --repeats 5
else
  stage cuda_tests "$(limit_of cuda_tests)" "$PY" -m pytest -p optional_deps -p no:cacheprovider -rs tests/test_cuda.py \
    tests/test_ntk_generic.py tests/test_devices.py::test_resume_across_devices_on_a_gpu
  stage ntk_cost "$(limit_of ntk_cost)" "$PY" benchmarks/ntk_cost.py --sizes 256 512 --device cuda --repeats 10
fi

stage syncs "$(limit_of syncs)" "$PY" benchmarks/gpu/syncs.py --size 128 --steps 30 --out "$WORK/syncs.md"

if (( ! QUICK )); then
  # The runs stop (SIGTERM: each checkpoints) 20 s before the stage's limit; the table and the
  # report are then written from the runs that finished, whatever the runs' exit status.
  stage speedup "$(limit_of speedup)" bash -c "
    timeout -k 5 \$(( STAGE_SECONDS - 20 )) '$PY' reproduce.py benchmarks/gpu/speedup.yaml --preset gpu --results outputs/gpu_check
    echo \"== runs: exit status \$?; the table and report from the runs that finished:\"
    '$PY' reproduce.py benchmarks/gpu/speedup.yaml --preset gpu --results outputs/gpu_check --table-only --no-figures
    cp outputs/gpu_check/speedup_gpu* '$WORK/' 2>/dev/null; true"

  stage image_tests 0 "$PY" -m pytest -p optional_deps -p no:cacheprovider -rs \
    tests/test_nint.py tests/test_samplers_basic.py tests/test_models.py tests/test_train_image.py \
    tests/test_samplers_comparison.py tests/test_siren.py tests/test_schedules.py tests/test_metrics.py \
    tests/test_ntk_patches.py tests/test_config.py
fi

{
  echo
  echo "Total: $(( $(date +%s) - START )) s."
  echo
  echo "## NTK cost (benchmarks/ntk_cost.py, CUDA)"
  echo
  echo '```'
  grep -E "^[0-9]+x[0-9]+ image|ntk score |user score |full step |user step |ratio|generic vs" "$WORK/ntk_cost.txt" 2>/dev/null
  echo '```'
  if (( ! QUICK )); then
    echo
    echo "## Speed-up (1000 iterations, 512x512, SIREN 5x256)"
    echo
    if [ -f "$WORK/speedup_gpu_report.md" ]; then cat "$WORK/speedup_gpu_report.md"; else echo "(no report: see speedup.txt)"; fi
  fi
  echo
  echo "## Tests"
  echo
  echo '```'
  for f in cuda_tests image_tests; do
    [ -f "$WORK/$f.txt" ] && echo "$f: $(grep -E '(passed|failed|error|skipped)' "$WORK/$f.txt" | tail -n 1)"
  done
  echo '```'
} >> "$SUMMARY"
pack
echo "== done in $(( $(date +%s) - START )) s: $ARCHIVE (summary.md inside; working copies in $WORK/)"
