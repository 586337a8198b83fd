"""Weight domains: the set each weight may take, and its exact encoding by binaries.

A discrete weight is an affine function of binaries, ``w = c0 + sum_t c_t * beta_t``, so that its product with
a bounded activation is exact through ``r_t = beta_t * a`` (DESIGN.md section 2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from mipnet.errors import SettingsError

KINDS = ("continuous", "sign", "ternary", "grid", "continuous-bilinear")


@dataclass(frozen=True)
class WeightDomain:
    """One weight domain.

    Parameters
    ----------
    kind : {"continuous", "sign", "ternary", "grid", "continuous-bilinear"}
    bits : int
        Number of binaries per weight for ``grid`` (at least 2): the levels are ``(omega/K) * {-K..K}`` with
        ``K = 2**(bits-1) - 1``.
    """

    kind: str
    bits: int = 0

    @classmethod
    def parse(cls, spec: str | WeightDomain) -> WeightDomain:
        """Parse ``"continuous"``, ``"sign"``, ``"ternary"``, ``"grid(3)"`` or ``"continuous-bilinear"``."""
        if isinstance(spec, WeightDomain):
            return spec
        text = str(spec).strip().lower()
        m = re.fullmatch(r"grid\s*\(\s*(\d+)\s*\)", text)
        if m:
            bits = int(m.group(1))
            if bits < 2 or bits > 16:
                raise SettingsError(f"grid(bits) needs 2 <= bits <= 16, got {bits}")
            return cls("grid", bits)
        if text not in KINDS or text == "grid":
            raise SettingsError(f"unknown weight domain {spec!r}: choose continuous, sign, ternary, grid(bits) "
                                "or continuous-bilinear")
        return cls(text)

    def __str__(self) -> str:
        return f"grid({self.bits})" if self.kind == "grid" else self.kind

    @property
    def discrete(self) -> bool:
        return self.kind in ("sign", "ternary", "grid")

    @property
    def grid_k(self) -> int:
        return 2 ** (self.bits - 1) - 1

    def magnitude(self, omega: float) -> float:
        """The largest ``|w|`` the domain allows."""
        return 1.0 if self.kind == "sign" else float(omega)

    def levels(self, omega: float, prunable: bool = True) -> np.ndarray:
        """Every value a discrete weight may take."""
        if self.kind == "sign":
            return np.array([-1.0, 0.0, 1.0]) if prunable else np.array([-1.0, 1.0])
        if self.kind == "ternary":
            return np.array([-omega, 0.0, omega])
        if self.kind == "grid":
            k = self.grid_k
            return np.arange(-k, k + 1) * (omega / k)
        raise SettingsError(f"the {self.kind} domain has no finite set of levels")

    def encoding(self, omega: float, prunable: bool) -> tuple[float, np.ndarray]:
        """``(c0, c)`` with ``w = c0 + c @ beta`` for the domain's binaries ``beta``."""
        if self.kind == "sign":
            return (0.0, np.array([1.0, -1.0])) if prunable else (-1.0, np.array([2.0]))
        if self.kind == "ternary":
            return 0.0, np.array([omega, -omega])
        if self.kind == "grid":
            k = self.grid_k
            return -float(omega), (omega / k) * 2.0 ** np.arange(self.bits)
        raise SettingsError(f"the {self.kind} domain has no binary encoding")

    def binaries_of(self, w: np.ndarray, omega: float, prunable: bool) -> np.ndarray:
        """The binary values that encode weights ``w`` (which must lie on the levels): shape ``(*w.shape, T)``."""
        w = np.asarray(w, dtype=float)
        if self.kind in ("sign", "ternary"):
            unit = 1.0 if self.kind == "sign" else omega
            if self.kind == "sign" and not prunable:
                return (w > 0).astype(float)[..., None]
            return np.stack([(w > 0.5 * unit), (w < -0.5 * unit)], axis=-1).astype(float)
        k = self.grid_k
        n = np.rint(w * k / omega + k).astype(np.int64)
        return ((n[..., None] >> np.arange(self.bits)) & 1).astype(float)

    def project(self, w: np.ndarray, omega: float, prunable: bool = True) -> np.ndarray:
        """The nearest allowed value to each entry of ``w`` (clipping continuous weights to ``[-omega, omega]``)."""
        w = np.asarray(w, dtype=float)
        if not self.discrete:
            return np.clip(w, -omega, omega)
        levels = self.levels(omega, prunable)
        return levels[np.argmin(np.abs(w[..., None] - levels), axis=-1)]


def resolve_domains(spec: str | WeightDomain | list, n_affine: int, n_outputs: int,
                    convolutional: bool = False) -> list[WeightDomain]:
    """Turn the user's ``weights`` option into one domain per affine layer.

    ``"auto"``: continuous weights where the layer's input is data (the first layer), then ``sign`` for a
    last layer with one output after one hidden layer (exact by positive homogeneity), else ``ternary``.
    For a network with convolutions (``convolutional=True``) ``"auto"`` gives ``grid(3)`` after the first
    layer: a filter's scale is shared by all its positions, so the homogeneity argument behind ``sign`` does not
    hold per output weight. A single domain applies to every layer; a list gives one per layer.
    """
    if isinstance(spec, (list, tuple)):
        if len(spec) != n_affine:
            raise SettingsError(f"weights lists {len(spec)} domains for {n_affine} affine layers")
        return [WeightDomain.parse(s) for s in spec]
    if str(spec).lower() == "auto":
        if convolutional:
            return [WeightDomain("continuous")] + [WeightDomain("grid", 3)] * (n_affine - 1)
        if n_affine == 2 and n_outputs == 1:
            return [WeightDomain("continuous"), WeightDomain("sign")]
        return [WeightDomain("continuous")] + [WeightDomain("ternary")] * (n_affine - 1)
    d = WeightDomain.parse(spec)
    return [d] * n_affine
