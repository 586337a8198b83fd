#!/usr/bin/env bash
# VNN-COMP run script: run_instance.sh v1 CATEGORY ONNX_FILE VNNLIB_FILE RESULTS_FILE TIMEOUT
# Writes RESULTS_FILE: sat (then the counterexample as ((X_0 v) ... (Y_0 v))), unsat, unknown, timeout or error.
set -uo pipefail
VERSION_STRING=$1
ONNX_FILE=$3
VNNLIB_FILE=$4
RESULTS_FILE=$5
TIMEOUT=$6
if [ "$VERSION_STRING" != "v1" ]; then echo "expected version string v1, got $VERSION_STRING" >&2; exit 1; fi
PY=${MIPNET_PYTHON:-python3}
exec "$PY" -m mipnet.cli vnncomp-instance "$ONNX_FILE" "$VNNLIB_FILE" "$RESULTS_FILE" "$TIMEOUT"
