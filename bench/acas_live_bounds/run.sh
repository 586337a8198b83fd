#!/bin/bash
# ACAS Xu 116 s, mipnet before (HEAD f43e8f9: backward passes from the neurons undecided in some box of the batch) and after (from every neuron not off on its own box, gathered box by box), interleaved by instance
cd /work/main
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
CASES=$(.venv/bin/python -c "
import sys; sys.path.insert(0,'bench')
from bench_verify import instances
print(' '.join(f'{n}:{p}' for n,p in instances(False)))")
for c in $CASES; do
  for side in before after; do
    if [ $side = before ]; then root=/work/before; else root=/work/main; fi
    (cd $root && PYTHONPATH=src /work/main/.venv/bin/python bench/bench_verify.py --tool mipnet --time-limit 116 \
       --instances $c --out /tmp/acas_ab/$side.$c.jsonl) | tail -1
  done
done
cat /tmp/acas_ab/before.*.jsonl > /tmp/acas_ab/before.jsonl
cat /tmp/acas_ab/after.*.jsonl > /tmp/acas_ab/after.jsonl
echo DONE
