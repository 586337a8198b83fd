#!/bin/bash
# Digits robustness 60 s, mipnet before (HEAD f43e8f9) and after, interleaved by instance: the first 8 instances of
# each network of bench/robust/instances.csv (bench_robust.py generate --dir bench/robust).
cd /work/main
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
mkdir -p /tmp/digits_ab
for net in dense100 dense256 cnn; do
  for stem in $(grep "onnx/$net.onnx" bench/robust/instances.csv | head -8 | sed 's/.*vnnlib\/\(.*\)\.vnnlib.*/\1/'); do
    for side in before after; do
      if [ $side = before ]; then root=/work/before; else root=/work/main; fi
      (cd $root && PYTHONPATH=src /work/main/.venv/bin/python /work/main/bench/bench_robust.py run --tool mipnet \
         --dir /work/main/bench/robust --time-limit 60 --nets $net --props $stem \
         --out /tmp/digits_ab/$side.$stem.jsonl) | tail -1
    done
  done
done
cat /tmp/digits_ab/before.*.jsonl > /tmp/digits_ab/before.jsonl
cat /tmp/digits_ab/after.*.jsonl > /tmp/digits_ab/after.jsonl
echo DONE
