#!/usr/bin/env bash
# One-shot GPU check (issue 14), from a fresh checkout on a machine with a CUDA GPU, in under 8 minutes:
#   1. build spotkern (the C++ extension must build), with the machine's torch and Triton;
#   2. the CUDA tests (pytest -m cuda): the "cuda" backend of every op test (tests/backends.py: spec vectors,
#      properties against the references, every Triton kernel against the CPU op at training sizes, the
#      fused CALF loss; real kernels, no interpreter) and a training step of every method under
#      torch.cuda.set_sync_debug_mode("error"), eager and with the whole step compiled
#      (tests/test_train_cuda.py); a skipped CUDA test fails the check;
#   3. the GPU benchmarks (bench/bench_gpu.py: each op's CUDA kernel against its reference; the CALF step
#      and loss groups of bench/bench_train_step.py on CUDA; the ResNet-152 video encoder on CUDA, eager,
#      channels_last, bf16 autocast and compiled, bench/bench_video_encoder.py);
#   4. training and inference chunks/s of the u-net, Transformer and CALF at the paper's batch sizes,
#      eager and compiled (bench/gpu_check.py), printed as one table.
# Everything it writes lands in $GPU_CHECK_OUT (default gpu_check_out/): gpu_check.json (the table),
# bench.json (pytest-benchmark), log.txt. Without a CUDA GPU it fails at once, saying so.
#   usage: bash bench/gpu_check.sh            (PYTHON=... to pick the interpreter)
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT=${GPU_CHECK_OUT:-gpu_check_out}
mkdir -p "$OUT"
start=$(date +%s)
fail() { echo "gpu_check: FAILED: $*" | tee -a "$OUT/log.txt" >&2; exit 1; }
log() { echo "gpu_check: $*" | tee -a "$OUT/log.txt"; }

"$PY" -c "import torch" 2>/dev/null || fail "torch is not installed for $PY"
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" \
  || fail "no CUDA GPU is visible to torch on this machine; this check needs one"
missing=0
for pkg in triton pybind11 setuptools numpy numba tqdm pytest hypothesis pytest_benchmark; do
  "$PY" -c "import $pkg" 2>/dev/null || { log "missing Python package: $pkg"; missing=1; }
done
[ "$missing" = 0 ] || fail "install the missing packages above"
"$PY" -c "import torch, triton; print('gpu_check:', torch.cuda.get_device_name(0), 'torch', torch.__version__, 'triton', triton.__version__)" | tee -a "$OUT/log.txt"

log "1/4 build"
SPOTKERN_REQUIRE_EXT=1 "$PY" -m pip install -q --no-build-isolation --no-deps -e . >>"$OUT/log.txt" 2>&1 \
  || fail "the build failed (see $OUT/log.txt)"
"$PY" -c "import spotkern._C" || fail "spotkern._C does not import"
export TRITON_INTERPRET=0 PYTHONUNBUFFERED=1
status=0

log "2/4 CUDA tests (real Triton kernels vs the CPU ops; sync-free training steps)"
"$PY" -m pytest tests -m cuda -q -p no:cacheprovider -rs 2>&1 | tee "$OUT/cuda_tests.txt" | tee -a "$OUT/log.txt"
[ "${PIPESTATUS[0]}" = 0 ] || { log "CUDA tests FAILED"; status=1; }
# the summary line ("N passed, M skipped, ... deselected in S s"): a skip here means a kernel went untested
if ! tail -n 1 "$OUT/cuda_tests.txt" | grep -q " passed"; then
  log "CUDA tests FAILED: none passed"; status=1
elif tail -n 1 "$OUT/cuda_tests.txt" | grep -q " skipped"; then
  log "CUDA tests FAILED: some were skipped (see the SKIPPED lines above)"; status=1
fi

log "3/4 GPU benchmarks"
"$PY" -m pytest bench/bench_gpu.py bench/bench_train_step.py bench/bench_video_encoder.py -k "gpu or cuda" \
  --benchmark-only -q \
  -p no:cacheprovider --benchmark-json "$OUT/bench.json" --benchmark-columns=mean,stddev,rounds 2>&1 \
  | tee -a "$OUT/log.txt"
[ "${PIPESTATUS[0]}" = 0 ] || { log "GPU benchmarks FAILED"; status=1; }

log "4/4 training / inference throughput at the paper's batch sizes"
"$PY" bench/gpu_check.py --out "$OUT/gpu_check.json" 2>&1 | tee -a "$OUT/log.txt"
[ "${PIPESTATUS[0]}" = 0 ] || { log "throughput rows FAILED"; status=1; }

log "done in $(( $(date +%s) - start )) s, status $status"
exit $status
