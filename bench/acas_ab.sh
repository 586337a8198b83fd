#!/bin/bash
# ACAS Xu before/after, interleaved instance by instance, one thread each, mipnet only.
# Usage: bench/acas_ab.sh BEFORE_ROOT OUT_DIR [NET:PROP ...]   (no instances: all 42)
# BEFORE_ROOT is a checkout of the "before" commit (e.g. a git worktree); "after" is this checkout. Writes
# OUT_DIR/before.jsonl and OUT_DIR/after.jsonl (per-instance files under /tmp/acas_ab).
set -u
after=$(cd "$(dirname "$0")/.." && pwd)
before=$1; out=$2; shift 2
cd "$after"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
CASES="$*"
if [ -z "$CASES" ]; then
  CASES=$(.venv/bin/python -c "
import sys; sys.path.insert(0,'bench')
from bench_verify import instances
print(' '.join(f'{n}:{p}' for n,p in instances(False)))")
fi
mkdir -p /tmp/acas_ab "$out"
rm -f /tmp/acas_ab/*.jsonl
for c in $CASES; do
  for side in before after; do
    if [ $side = before ]; then root=$before; else root=$after; fi
    (cd "$root" && PYTHONPATH=src "$after/.venv/bin/python" bench/bench_verify.py --tool mipnet --time-limit 116 \
       --instances "$c" --out /tmp/acas_ab/$side.$c.jsonl) | tail -1
  done
done
for side in before after; do
  for c in $CASES; do cat /tmp/acas_ab/$side.$c.jsonl; done > "$out/$side.jsonl"
done
echo DONE
