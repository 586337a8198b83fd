"""ACAS Xu at 116 s, the slow instances (those that run past the first wide attack at 10 s of search): the wide
attacks every 2 against every 4 seconds of search per second of attack, interleaved instance by instance.

Run from the repository root::

    OMP_NUM_THREADS=1 PYTHONPATH=src python bench/acas_attack_ratio/run.py > bench/acas_attack_ratio/results.jsonl

(The recorded run set ``BabOptions.region_attack_ratio``, before the input-splitting field existed; ACAS Xu's search
splits inputs, so ``region_attack_ratio_input`` now plays that part.)
"""

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_verify import ACAS, onnx_path  # noqa: E402

from mipnet import verify  # noqa: E402
from mipnet.io import load_any, load_vnnlib  # noqa: E402
from mipnet.verify.bab import BabOptions  # noqa: E402

CASES = [("4_2", 2), ("1_9", 7), ("1_1", 6), ("5_3", 2), ("3_3", 9), ("1_1", 3), ("1_1", 5)]

for net_id, p in CASES:
    net = load_any(onnx_path(net_id))
    prop = load_vnnlib(ACAS / "vnnlib" / f"prop_{p}.vnnlib", 5, 5)
    for ratio in (2.0, 4.0):
        t0 = time.perf_counter()
        r = verify.check_property(net, prop, time_limit=116, bab=BabOptions(region_attack_ratio_input=ratio))
        print(json.dumps({"net": net_id, "prop": p, "ratio": ratio, "status": r.status,
                          "time": round(time.perf_counter() - t0, 2)}), flush=True)
