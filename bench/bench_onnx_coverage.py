"""ONNX import coverage: generate ONNX files of the kinds issue 13 names, load each with mipnet, compare with
onnxruntime.

The corpus: PyTorch exports (Linear-BatchNorm1d-ReLU, Conv-BatchNorm2d-ReLU, a ResNet block and a dense residual
block, a flat input reshaped to an image, an input with no batch axis, a Softmax tail, padded/ceil-mode and dilated
max pooling), each with and without the exporter's constant folding (which fuses Conv-BatchNorm itself);
scikit-learn MLPs converted by skl2onnx (when installed); mipnet's own float32/float64 exports; the ACAS Xu files
in ``../shared/external/acasxu/onnx`` when present. Each file that loads is run on 20 random inputs in
onnxruntime (onnx's reference evaluator where onnxruntime has no kernel) and compared with ``Network.forward``: the
values, or the argmax where a Softmax/ArgMax tail was dropped.

Usage (run from the repository root; PYTHONPATH=src for the branch under test)::

    PYTHONPATH=src python bench/bench_onnx_coverage.py --corpus /tmp/onnx_corpus          # generate and measure
    PYTHONPATH=src python bench/bench_onnx_coverage.py --corpus /tmp/onnx_corpus --no-generate
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import warnings
from pathlib import Path

import numpy as np

ACAS = Path(__file__).resolve().parents[1] / ".." / "shared" / "external" / "acasxu" / "onnx"


def generate(out: Path) -> None:
    """Write the corpus into ``out``."""
    import onnx
    import torch
    from torch import nn

    from mipnet.io.onnx_io import to_onnx
    from mipnet.layers import AvgPool2D, Conv2D, Dense, Flatten, MaxPool2D
    from mipnet.network import Network

    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)

    def randomise(m: nn.Module) -> None:
        for b in m.modules():
            if isinstance(b, (nn.BatchNorm1d, nn.BatchNorm2d)):
                with torch.no_grad():
                    b.running_mean.uniform_(-1, 1)
                    b.running_var.uniform_(0.5, 2)
                    b.weight.uniform_(0.5, 2)
                    b.bias.uniform_(-0.5, 0.5)

    def export(name: str, m: nn.Module, x: torch.Tensor, fold: bool, batch: bool = True) -> None:
        m.eval()
        randomise(m)
        axes = {"dynamic_axes": {"x": {0: "N"}}} if batch else {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(m, x, str(out / f"{name}.onnx"), dynamo=False, do_constant_folding=fold,
                              input_names=["x"], output_names=["y"], **axes)

    class Residual(nn.Module):
        def __init__(self, dense: bool) -> None:
            super().__init__()
            if dense:
                self.stem = nn.Sequential(nn.Linear(6, 8), nn.ReLU())
                self.branch = nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 8))
                self.head = nn.Linear(8, 3)
            else:
                self.stem = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
                self.branch = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                                            nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4))
                self.head = nn.Sequential(nn.Flatten(), nn.Linear(4 * 8 * 8, 10))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.stem(x)
            return self.head(torch.relu(self.branch(h) + h))

    class ImageReshape(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                                      nn.Linear(64, 10))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.body(x.reshape(-1, 3, 8, 8))

    for fold in (True, False):
        tag = "fold" if fold else "nofold"
        export(f"torch_linear_bn_relu_{tag}", nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(),
                                                            nn.Linear(16, 16), nn.BatchNorm1d(16), nn.ReLU(),
                                                            nn.Linear(16, 3)), torch.zeros(2, 6), fold)
        export(f"torch_conv_bn_relu_{tag}", nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                                                          nn.Conv2d(4, 4, 3, stride=2, padding=1), nn.BatchNorm2d(4),
                                                          nn.ReLU(), nn.Flatten(), nn.Linear(64, 10)),
               torch.zeros(1, 3, 8, 8), fold)
        export(f"torch_resnet_block_{tag}", Residual(dense=False), torch.zeros(1, 3, 8, 8), fold)
        export(f"torch_dense_residual_{tag}", Residual(dense=True), torch.zeros(2, 6), fold)
        export(f"torch_image_reshape_{tag}", ImageReshape(), torch.zeros(1, 192), fold)
        export(f"torch_no_batch_axis_{tag}", nn.Sequential(nn.Linear(5, 10), nn.ReLU(), nn.Linear(10, 2)),
               torch.zeros(5), fold, batch=False)
        export(f"torch_softmax_tail_{tag}", nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.2),
                                                          nn.Linear(8, 3), nn.Softmax(dim=1)), torch.zeros(1, 4), fold)
        export(f"torch_padded_ceil_maxpool_{tag}", nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(),
                                                                 nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
                                                                 nn.Flatten(), nn.Linear(48, 4)),
               torch.zeros(1, 1, 8, 8), fold)
        export(f"torch_dilated_maxpool_{tag}", nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.MaxPool2d(2, dilation=2),
                                                             nn.Flatten(), nn.Linear(12, 4)), torch.zeros(1, 1, 8, 8),
               fold)
    try:
        import skl2onnx
        from sklearn.datasets import load_breast_cancer, load_iris
        from sklearn.neural_network import MLPClassifier, MLPRegressor
    except ImportError:
        print("skl2onnx is not installed: no scikit-learn MLPs in the corpus")
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            X, y = load_iris(return_X_y=True)
            for zipmap in (True, False):
                clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=200, random_state=0).fit(X, y)
                model = skl2onnx.to_onnx(clf, X[:1].astype(np.float32), options={id(clf): {"zipmap": zipmap}})
                onnx.save(model, str(out / f"skl2onnx_mlp_iris_zipmap{int(zipmap)}.onnx"))
            Xb, yb = load_breast_cancer(return_X_y=True)
            clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=200, random_state=0).fit(Xb, yb)
            onnx.save(skl2onnx.to_onnx(clf, Xb[:1].astype(np.float32), options={id(clf): {"zipmap": False}}),
                      str(out / "skl2onnx_mlp_binary.onnx"))
            reg = MLPRegressor(hidden_layer_sizes=(8, 8), max_iter=200, random_state=0).fit(X[:, :3], X[:, 3])
            onnx.save(skl2onnx.to_onnx(reg, X[:1, :3].astype(np.float32)), str(out / "skl2onnx_mlp_regressor.onnx"))
    rng = np.random.default_rng(0)
    net = Network([Conv2D(2, 3, padding=1), MaxPool2D(2), AvgPool2D(1), Flatten(), Dense(3)], (1, 6, 6))
    for layer in net.affine_layers():
        shape = ((layer.units, layer.in_shape[0]) if isinstance(layer, Dense)
                 else (layer.out_channels, layer.in_shape[0], *layer.kernel))
        layer.weight, layer.bias = rng.normal(size=shape), rng.normal(size=shape[0])
    to_onnx(net, out / "mipnet_conv_float64.onnx", dtype="float64")
    to_onnx(net, out / "mipnet_conv_float32.onnx", dtype="float32")
    for f in glob.glob(str(ACAS / "*.onnx")):
        shutil.copy(f, out)


def _reference(path: str):  # noqa: ANN202 - an onnxruntime or onnx.reference session, and the input's name/shape/type
    import onnx
    import onnxruntime as ort

    model = onnx.load(path)
    init = {i.name for i in model.graph.initializer}
    inp = next(i for i in model.graph.input if i.name not in init)
    shape = [d.dim_value if d.HasField("dim_value") else 1 for d in inp.type.tensor_type.shape.dim]
    dtype = np.float64 if inp.type.tensor_type.elem_type == onnx.TensorProto.DOUBLE else np.float32
    try:
        sess = ort.InferenceSession(path)
        how = "onnxruntime"
    except Exception:  # noqa: BLE001 - no kernel for this type (float64 Conv): onnx's reference evaluator
        from onnx.reference import ReferenceEvaluator

        sess, how = ReferenceEvaluator(path), "onnx.reference"
    return sess, how, inp.name, shape, dtype


def measure(files: list[str]) -> None:
    """Load each file with mipnet and compare with the reference; print the counts and the refusals."""
    from mipnet.io import load_onnx

    loaded, refused, worst = [], [], 0.0
    for f in files:
        name = os.path.basename(f)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                net = load_onnx(f)
            except Exception as exc:  # noqa: BLE001 - every refusal is reported with its message
                refused.append((name, str(exc).splitlines()[0]))
                continue
        dropped = any("dropped" in str(w.message) for w in caught)
        sess, how, in_name, shape, dtype = _reference(f)
        rng = np.random.default_rng(0)
        agree = True
        for _ in range(20):
            x = rng.uniform(-1, 1, size=shape).astype(dtype)
            outs = sess.run(None, {in_name: x})
            y = net.forward(x.reshape(1, -1).astype(float))[0]
            floats = [np.ravel(o) for o in outs
                      if isinstance(o, np.ndarray) and o.dtype.kind == "f" and o.size == y.size]
            if floats and not dropped:
                err = float(np.max(np.abs(floats[0] - y) / (1 + np.abs(y))))
                worst = max(worst, err)
                agree &= err < 1e-4
            elif floats:
                agree &= int(np.argmax(floats[0])) == int(np.argmax(y))
            else:
                agree &= int(np.ravel(outs[0])[0]) == int(np.argmax(y))
        loaded.append((name, agree, dropped, how))
    print(f"{len(files)} files: {len(loaded)} loaded ({sum(a for _, a, _, _ in loaded)} agree with the reference, "
          f"{sum(d for _, _, d, _ in loaded)} with a dropped Softmax/ArgMax tail), {len(refused)} refused; "
          f"largest |difference| / (1 + |y|) {worst:.1e}")
    for name, agree, _, how in loaded:
        if how != "onnxruntime":
            print(f"  {name}: compared with {how} (onnxruntime has no kernel for it)")
        if not agree:
            print(f"  DISAGREES: {name}")
    for name, why in refused:
        print(f"  refused {name}: {why}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", type=Path, default=Path("/tmp/onnx_corpus"))
    p.add_argument("--no-generate", action="store_true", help="measure the files already in --corpus")
    args = p.parse_args()
    if not args.no_generate:
        generate(args.corpus)
    measure(sorted(glob.glob(str(args.corpus / "*.onnx"))))


if __name__ == "__main__":
    main()
