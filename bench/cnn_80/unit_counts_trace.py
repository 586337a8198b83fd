import sys, time
sys.path.insert(0, "bench")
from bench_cnn import load_pair, parse_architecture, Network, TrainConfig, train_network, Hinge, SolveOptions
from mipnet.progress import LineDisplay
X, y, Xt, yt = load_pair((0, 1), 80)
template = Network(parse_architecture("conv(3,k=3)-maxpool(2)-flatten-dense(2)"), (1, 8, 8))
t0 = time.perf_counter()
net, rep = train_network(template, X, y, Hinge(), TrainConfig(l1=0.001, filter_penalty=0.01),
                         options=SolveOptions(time_limit=float(sys.argv[1])), callback=LineDisplay(started=t0))
print(rep.status, rep.objective, rep.bound, rep.solve_time, rep.total_time)
for k, v in rep.extra.items(): print(k, ":", str(v)[:600])
