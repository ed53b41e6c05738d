#!/usr/bin/env bash
# electionlib: the two commands.
#   ./run_all.sh            set up .venv, run every notebook in order (quick profile) -> results/
#   ./run_all.sh --full     the same at the paper's scale (needs the hardware)
#   ./run_all.sh test       set up .venv, run the whole test suite (notebooks at the ci profile)
#   ./run_all.sh test --fast  the unit, property and doctests only (no MPI, DDP, example,
#                           slow or notebook tests): a few minutes; CI runs everything
#   ./run_all.sh bench      run the benchmarks under benchmarks/ and print their ratios
#   ./run_all.sh lab        open JupyterLab in the same environment
# Options: --profile ci|quick|full (notebook runs), --force (recompute cached results).
set -euo pipefail
cd "$(dirname "$0")"
ROOT="$(pwd)"

mode=run
profile=quick
force=0
fast=0
while [ $# -gt 0 ]; do
  case "$1" in
    test|bench|lab|run) mode="$1" ;;
    --full) profile=full ;;
    --quick) profile=quick ;;
    --profile) shift; profile="${1:?--profile needs ci, quick or full}" ;;
    --force) force=1 ;;
    --fast) fast=1 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "run_all.sh: unknown argument '$1' (see ./run_all.sh --help)" >&2; exit 2 ;;
  esac
  shift
done
case "$profile" in ci|quick|full) ;; *) echo "run_all.sh: --profile must be ci, quick or full" >&2; exit 2 ;; esac

log() { printf '[run_all %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

# ---------------------------------------------------------------- environment
PY=""
for cand in python3.11 python3 python; do
  if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
    PY="$cand"; break
  fi
done
if [ -z "$PY" ]; then
  echo "run_all.sh: Python 3.11 is required (python3.11 not found on PATH)" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  log "creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
VPY="$ROOT/.venv/bin/python"
stamp=".venv/.electionlib-installed"
want="$(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  log "installing pinned requirements (first run takes a few minutes)"
  "$VPY" -m pip install --quiet --disable-pip-version-check -r requirements.txt
  "$VPY" -m pip install --quiet --disable-pip-version-check --no-deps -e .
  echo "$want" > "$stamp"
fi
# Fashion-MNIST comes from Debian's dataset-fashion-mnist (IDX files in
# /usr/share/datasets/fashion-mnist). Installed here when we are root on Debian; otherwise
# the loader says how to get the files ($ELECTIONLIB_DATA).
if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] && [ -z "${ELECTIONLIB_DATA:-}" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing Fashion-MNIST (apt-get install dataset-fashion-mnist)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; } >/dev/null 2>&1 \
      || log "WARNING: could not install dataset-fashion-mnist; the Fashion-MNIST notebooks will stop with instructions"
  else
    log "NOTE: Fashion-MNIST not found; run 'sudo apt-get install dataset-fashion-mnist' or set ELECTIONLIB_DATA"
  fi
fi
# The notebooks name the kernel "python3": make it this venv's interpreter, whatever
# kernels the user has installed elsewhere.
export JUPYTER_PATH="$ROOT/.venv/share/jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}"
if [ ! -f .venv/share/jupyter/kernels/python3/kernel.json ] || ! grep -q "$ROOT/.venv" .venv/share/jupyter/kernels/python3/kernel.json; then
  "$VPY" -m ipykernel install --prefix "$ROOT/.venv" --name python3 --display-name "Python 3 (electionlib)" >/dev/null
fi
export PATH="$ROOT/.venv/bin:$PATH"
export MPLBACKEND=Agg  # headless; notebooks show their figures as PNGs (experiments.save_figure)
export ELECTIONLIB_QUIET=1  # no progress-bar noise in executed notebooks and CI logs
export PYDEVD_DISABLE_FILE_VALIDATION=1
export ELECTIONLIB_RESULTS="$ROOT/results"
[ "$force" = 1 ] && export ELECTIONLIB_FORCE=1
mkdir -p results

run_notebooks() {
  local prof="$1" out="results/executed/$1"
  mkdir -p "$out"
  local timings="results/timings-$prof.csv"
  echo "notebook,profile,seconds" > "$timings"
  for nb in notebooks/[0-9][0-9]_*.ipynb; do
    local name; name="$(basename "$nb")"
    log "running $name at profile=$prof"
    local t0; t0=$(date +%s)
    "$VPY" -m papermill "$nb" "$out/$name" -p profile "$prof" --cwd notebooks \
      --kernel python3 --progress-bar --log-level WARNING
    local t1; t1=$(date +%s)
    echo "$name,$prof,$((t1 - t0))" >> "$timings"
    log "$name done in $((t1 - t0)) s"
  done
  log "executed notebooks in $out/, figures in results/figures/, timings in $timings"
  if [ "$prof" != ci ]; then
    # the summary is written after the last notebook, so that every notebook's verdicts
    # reach it; its copy under results/published/ is committed
    "$VPY" -m electionlib summary --profile "$prof" --publish
  fi
}

case "$mode" in
  run)
    run_notebooks "$profile"
    ;;
  test)
    export ELECTIONLIB_PROFILE=ci
    if [ "$fast" = 1 ]; then
      log "fast subset: unit, property and doctests without the mpi, ddp, example and slow marks"
      "$VPY" -m pytest tests electionlib --doctest-modules -q -p no:cacheprovider \
        -m "not mpi and not ddp and not example and not slow"
      exit 0
    fi
    log "unit, property and doctests; then nbval over the notebooks at profile=ci"
    "$VPY" -m pytest tests electionlib --doctest-modules -q
    "$VPY" -m pytest --nbval-lax notebooks/[0-9][0-9]_*.ipynb -q -p no:cacheprovider
    ;;
  bench)
    for b in benchmarks/bench_*.py; do
      log "benchmark $b"
      "$VPY" "$b"
    done
    ;;
  lab)
    exec "$VPY" -m jupyter lab --notebook-dir=notebooks
    ;;
esac
