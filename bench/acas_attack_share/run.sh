#!/bin/bash
# ACAS Xu 116 s, the instances that run past the first wide attack (10 s of search), mipnet before (cf9f345: the
# next attack `ratio` times the last one's cost after it) and after (once the search without attacks has run
# `ratio` times as long as all attacks, the next included), interleaved by instance. Before = /work/before.
cd /work/main
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
mkdir -p /tmp/attack_ab
for c in 4_2:2 1_9:7 1_1:6 5_3:2 3_3:9 3_3:2; do
  for side in before after; do
    if [ $side = before ]; then root=/work/before; else root=/work/main; fi
    (cd $root && PYTHONPATH=src /work/main/.venv/bin/python bench/bench_verify.py --tool mipnet --time-limit 116 \
       --instances $c --out /tmp/attack_ab/$side.$c.jsonl) | tail -1
  done
done
cat /tmp/attack_ab/before.*.jsonl > bench/acas_attack_share/before.jsonl
cat /tmp/attack_ab/after.*.jsonl > bench/acas_attack_share/after.jsonl
echo DONE
