#!/usr/bin/env bash
# VNN-COMP install script: install_tool.sh v1
# Installs mipnet (with ONNX and Dask support) from this repository into the Python given by $MIPNET_PYTHON.
set -euo pipefail
VERSION_STRING=${1:-v1}
if [ "$VERSION_STRING" != "v1" ]; then echo "expected version string v1, got $VERSION_STRING" >&2; exit 1; fi
PY=${MIPNET_PYTHON:-python3}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
"$PY" -m pip install "$HERE/..[onnx,dask]"
