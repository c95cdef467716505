#!/usr/bin/env bash
# Every GPU figure the issues ask for: about 14 minutes on an H100/H200, compiles included, more than
# one short lease holds, so run what is left next time. The device image's CuPy
# builds gpu_throughput.py's CUDA reference.
# Each step has its own time limit, and its JSON is copied to $OUT (when set) as soon as it is
# written, so a step that runs long costs only itself.
#
#     bash benchmarks/gpu_suite.sh [STEP ...]      (default: every step)
#
# Needs jax with CUDA; arch and QuantLib for the reference columns (on a machine without them, install
# their wheels first: the device README shows how).
set -u
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$PWD"
save() { [ -n "${OUT:-}" ] && cp benchmarks/results/"$1" "$OUT"/ 2>/dev/null; true; }
step() { local limit=$1 name=$2; shift 2; echo "=== $name ($(date +%T), limit ${limit}s)"; timeout "$limit" "$@"; echo "=== $name exit $?"; }

nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader || true
python3 -c "import jax; print('jax', jax.__version__, jax.devices())"

# in order of what is least measured: a lease that ends early keeps the steps already done. A device
# command may run 10 minutes at most, so name the steps to run in one call, e.g.
#     bash benchmarks/gpu_suite.sh scan_profile gpu_throughput engine_vs_quantlib book_revaluation  (~9 min)
#     bash benchmarks/gpu_suite.sh nn_calibrator greeks_cost heston_calibration garch_mle  (~7 min)
ALL="scan_profile gpu_throughput engine_vs_quantlib book_revaluation nn_calibrator greeks_cost heston_calibration garch_mle"
for name in ${@:-$ALL}; do
  case $name in
    scan_profile) step 60 $name python3 benchmarks/scan_profile.py --paths 4000000 --repeats 3; save scan_profile_gpu.json ;;
    gpu_throughput) step 200 $name python3 benchmarks/gpu_throughput.py --paths 16M --sweep 1M,4M,16M,64M --repeats 2; save gpu_throughput_gpu.json ;;
    engine_vs_quantlib) step 45 $name python3 benchmarks/engine_vs_quantlib.py --paths 4000000 --quantlib-paths 20000; save engine_vs_quantlib_gpu.json ;;
    book_revaluation) step 200 $name python3 benchmarks/book_revaluation.py --paths 100000 --trades 10000 --repeats 1 --rows-per-call 16; save book_revaluation_gpu.json ;;
    nn_calibrator) step 60 $name python3 benchmarks/nn_calibrator.py --speed-only --series 10000 --arch-series 0; save nn_calibrator_gpu.json ;;
    greeks_cost) step 90 $name python3 benchmarks/greeks_cost.py --paths 1000000 --repeats 2; save greeks_cost_gpu.json ;;
    heston_calibration) step 150 $name python3 benchmarks/heston_calibration.py --surfaces 1000 --repeats 5 --batch-repeats 2 --skip-round-trip; save heston_calibration_gpu.json ;;
    garch_mle) step 120 $name python3 benchmarks/garch_mle.py --series 10000 --nobs 2500 --arch-series 20 --repeats 3 --other-scans sequential; save garch_mle_gpu.json ;;
    *) echo "unknown step $name (steps: $ALL)"; exit 2 ;;
  esac
done
echo "=== done $(date +%T)"
