#!/usr/bin/env bash
# VNN-COMP prepare script: prepare_instance.sh v1 CATEGORY ONNX_FILE VNNLIB_FILE
# mipnet needs no preparation; the network is read here once so that an unsupported network fails early
# (exit 1, the reason on stderr), as the competition's scripts expect.
set -uo pipefail
VERSION_STRING=$1
ONNX_FILE=$3
if [ "$VERSION_STRING" != "v1" ]; then echo "expected version string v1, got $VERSION_STRING" >&2; exit 1; fi
PY=${MIPNET_PYTHON:-python3}
"$PY" -c "import sys; from mipnet.io import load_network; load_network(sys.argv[1])" "$ONNX_FILE" || exit 1
exit 0
