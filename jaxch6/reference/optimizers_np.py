"""NumPy port of the book's update rules (``common/optimizer.py``; AdaDelta from the slides).

Same interface and arithmetic as the book's classes: ``opt = Adam(lr=...)`` then
``opt.update(params, grads)`` changes the NumPy arrays of the dict ``params`` in place (state is
created from ``params`` on the first call). Each expression keeps the book's order of operations
so that float64 results can be compared with :mod:`jaxch6.optimizers` to rounding.

Differences from the sources, all deliberate and stated:

- ``params``/``grads`` may be any nested dict/list/tuple of arrays (the book uses flat dicts); the
  update walks the leaves in a fixed order. Leaves must be NumPy arrays (updated in place).
- RMSprop's default ``decay_rate`` is the book code's 0.99 (the chapter's slides show 0.95).
- AdaDelta is not in the book's ``common/optimizer.py``; :class:`AdaDelta` follows the slides'
  formulas (h updated first, Δ from the new h, ``p −= lr·Δ``) and creates both buffers on the
  first call. :class:`AdaDeltaSlidesCode` keeps the slides' *code* order instead (Δ computed
  from the old h, before h is updated), again with both buffers created on the first call: the
  slides' ``elif self.s is None`` would leave ``s`` unset on the first call and fail there.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "SGD",
    "AdaDelta",
    "AdaDeltaSlidesCode",
    "AdaGrad",
    "Adam",
    "Momentum",
    "Nesterov",
    "RMSprop",
    "leaves",
]


def leaves(tree) -> list[np.ndarray]:
    """The array leaves of a nested dict (sorted keys) / list / tuple, depth first."""
    if isinstance(tree, dict):
        return [leaf for k in sorted(tree) for leaf in leaves(tree[k])]
    if isinstance(tree, list | tuple):
        return [leaf for item in tree for leaf in leaves(item)]
    return [tree]


def _pairs(params, grads):
    ps, gs = leaves(params), leaves(grads)
    if len(ps) != len(gs):
        raise ValueError(f"params has {len(ps)} arrays but grads has {len(gs)}")
    return list(zip(ps, gs, strict=True))


class SGD:
    """``p −= lr·g`` (book default lr 0.01)."""

    def __init__(self, lr=0.01):
        self.lr = lr

    def update(self, params, grads):
        for p, g in _pairs(params, grads):
            p -= self.lr * g


class Momentum:
    """``v = μv − lr·g;  p += v`` (book defaults lr 0.01, μ 0.9)."""

    def __init__(self, lr=0.01, momentum=0.9):
        self.lr = lr
        self.momentum = momentum
        self.v = None

    def update(self, params, grads):
        pairs = _pairs(params, grads)
        if self.v is None:
            self.v = [np.zeros_like(p) for p, _ in pairs]
        for i, (p, g) in enumerate(pairs):
            self.v[i] = self.momentum * self.v[i] - self.lr * g
            p += self.v[i]


class Nesterov:
    """``v *= μ;  v −= lr·g;  p += μ·μ·v;  p −= (1+μ)·lr·g`` (book defaults lr 0.01, μ 0.9)."""

    def __init__(self, lr=0.01, momentum=0.9):
        self.lr = lr
        self.momentum = momentum
        self.v = None

    def update(self, params, grads):
        pairs = _pairs(params, grads)
        if self.v is None:
            self.v = [np.zeros_like(p) for p, _ in pairs]
        for i, (p, g) in enumerate(pairs):
            self.v[i] *= self.momentum
            self.v[i] -= self.lr * g
            p += self.momentum * self.momentum * self.v[i]
            p -= (1 + self.momentum) * self.lr * g


class AdaGrad:
    """``h += g·g;  p −= lr·g / (√h + eps)`` (book: lr 0.01, eps 1e-7 hard-coded)."""

    def __init__(self, lr=0.01, eps=1e-7):
        self.lr = lr
        self.eps = eps
        self.h = None

    def update(self, params, grads):
        pairs = _pairs(params, grads)
        if self.h is None:
            self.h = [np.zeros_like(p) for p, _ in pairs]
        for i, (p, g) in enumerate(pairs):
            self.h[i] += g * g
            p -= self.lr * g / (np.sqrt(self.h[i]) + self.eps)


class RMSprop:
    """``h *= ρ;  h += (1−ρ)·g·g;  p −= lr·g / (√h + eps)`` (book: lr 0.01, ρ 0.99, eps 1e-7)."""

    def __init__(self, lr=0.01, decay_rate=0.99, eps=1e-7):
        self.lr = lr
        self.decay_rate = decay_rate
        self.eps = eps
        self.h = None

    def update(self, params, grads):
        pairs = _pairs(params, grads)
        if self.h is None:
            self.h = [np.zeros_like(p) for p, _ in pairs]
        for i, (p, g) in enumerate(pairs):
            self.h[i] *= self.decay_rate
            self.h[i] += (1 - self.decay_rate) * g * g
            p -= self.lr * g / (np.sqrt(self.h[i]) + self.eps)


class AdaDelta:
    """Slides' formulas: ``h = ρh + (1−ρ)g²;  Δ = √((s+eps)/(h+eps))·g;  s = ρs + (1−ρ)Δ²;
    p −= lr·Δ`` (lr 1.0, ρ 0.95, eps 1e-7)."""

    def __init__(self, lr=1.0, decay_rate=0.95, eps=1e-7):
        self.lr = lr
        self.decay_rate = decay_rate
        self.eps = eps
        self.h = None
        self.s = None

    def update(self, params, grads):
        rho, eps = self.decay_rate, self.eps
        for i, (p, g) in enumerate(self._with_buffers(params, grads)):
            self.h[i] = rho * self.h[i] + (1 - rho) * g * g
            dx = np.sqrt((self.s[i] + eps) / (self.h[i] + eps)) * g
            self.s[i] = rho * self.s[i] + (1 - rho) * dx * dx
            p -= self.lr * dx

    def _with_buffers(self, params, grads):
        """The (param, grad) pairs; both buffers are created (zeros) on the first call."""
        pairs = _pairs(params, grads)
        if self.h is None:
            self.h = [np.zeros_like(p) for p, _ in pairs]
            self.s = [np.zeros_like(p) for p, _ in pairs]
        return pairs


class AdaDeltaSlidesCode(AdaDelta):
    """The slides' code order: ``Δ = √((s+eps)/(h+eps))·g`` with the *old* h, then h, s, and
    ``p −= Δ`` (the slides store ``lr`` but never use it; here ``p −= lr·Δ``, equal at lr 1)."""

    def update(self, params, grads):
        rho, eps = self.decay_rate, self.eps
        for i, (p, g) in enumerate(self._with_buffers(params, grads)):
            dx = np.sqrt((self.s[i] + eps) / (self.h[i] + eps)) * g
            self.h[i] = rho * self.h[i] + (1 - rho) * g * g
            self.s[i] = rho * self.s[i] + (1 - rho) * dx * dx
            p -= self.lr * dx


class Adam:
    """``iter += 1;  lr_t = lr·√(1−β2^iter)/(1−β1^iter);  m += (1−β1)(g−m);
    v += (1−β2)(g²−v);  p −= lr_t·m/(√v + eps)`` (book: lr 0.001, β1 0.9, β2 0.999, eps 1e-7)."""

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-7):
        self.lr = lr
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.iter = 0
        self.m = None
        self.v = None

    def update(self, params, grads):
        pairs = _pairs(params, grads)
        if self.m is None:
            self.m = [np.zeros_like(p) for p, _ in pairs]
            self.v = [np.zeros_like(p) for p, _ in pairs]
        self.iter += 1
        lr_t = self.lr * np.sqrt(1.0 - self.beta2**self.iter) / (1.0 - self.beta1**self.iter)
        for i, (p, g) in enumerate(pairs):
            self.m[i] += (1 - self.beta1) * (g - self.m[i])
            self.v[i] += (1 - self.beta2) * (g**2 - self.v[i])
            p -= lr_t * self.m[i] / (np.sqrt(self.v[i]) + self.eps)
