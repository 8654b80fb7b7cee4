"""Several networks trained side by side on the same mini-batches — the book's loss-curve setup.

``ch06/optimizer_compare_mnist.py`` and ``ch06/weight_init_compare.py`` train one network per
"arm" (an update rule, or a weight init) in the same Python loop: at every iteration one batch
of 128 digits is drawn *with replacement* (``np.random.choice``), every arm takes a gradient step
on it and then records its loss on that batch *after* the update. :func:`race` is that loop as
one ``lax.scan`` over the iterations, all arms in the same step, ``vmap`` ped over seeds (one
PRNG key per seed: the batches, the inits). One program for all arms compiles once, where
:func:`jaxch6.train.make_train_fn` would compile once per rule (the optimizer is static there).
"""

from __future__ import annotations

from typing import NamedTuple


class Arm(NamedTuple):
    """One network of a race: its label, update rule and hyperparameters, and weight init."""

    label: str
    optimizer: str = "sgd"
    hparams: dict = {}  # noqa: RUF012 - read-only default
    weight_init: object = "he"


def race(arms, key, x_train, t_train, x_test, t_test, *, hidden=(100, 100, 100, 100),
         batch_size=128, iterations=2000, seeds=1, fast_compile=False):
    """Train every arm for ``iterations`` steps on shared batches; ``seeds`` runs vmapped.

    Returns NumPy ``loss`` (seeds, arms, iterations) — each arm's loss on the batch after its
    update, as the book records it — and ``test_acc`` (seeds, arms): accuracy on the test set at
    the end (the book prints losses only), and ``diverged`` (seeds, arms).
    ``fast_compile``: compile with :data:`~jaxch6.experiments.common.FAST_COMPILE`.
    """
    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxch6 import mlp
    from jaxch6.optimizers import apply_updates, get_optimizer

    x_train = jnp.asarray(x_train)
    t_train = jnp.asarray(t_train)
    x_test = jnp.asarray(x_test)
    t_test = jnp.asarray(t_test)
    n_train = x_train.shape[0]
    sizes = (x_train.shape[1], *hidden, 10)
    opts = [get_optimizer(a.optimizer, **a.hparams) for a in arms]

    def one_seed(key):
        k_init, k_batch = jax.random.split(key)
        init_keys = jax.random.split(k_init, len(arms))
        nets = [mlp.init(sizes, key=k, weight_init=a.weight_init)
                for k, a in zip(init_keys, arms, strict=True)]
        params = [p for p, _ in nets]
        states = [s for _, s in nets]
        opt_states = [o.init(p) for o, p in zip(opts, params, strict=True)]

        def step(carry, i):
            params, opt_states = carry
            idx = jax.random.randint(jax.random.fold_in(k_batch, i), (batch_size,), 0, n_train)
            xb, tb = x_train[idx], t_train[idx]
            new_params, new_opt_states, losses = [], [], []
            for p, s, o, os_ in zip(params, states, opts, opt_states, strict=True):
                grads = jax.grad(lambda p, s=s: mlp.loss(p, s, xb, tb, train=True)[0])(p)
                updates, os_ = o.update(grads, os_, p)
                p = apply_updates(p, updates)
                losses.append(mlp.loss(p, s, xb, tb)[0])
                new_params.append(p)
                new_opt_states.append(os_)
            return (new_params, new_opt_states), jnp.stack(losses)

        (params, _), losses = jax.lax.scan(step, (params, opt_states), jnp.arange(iterations))
        test_acc = jnp.stack([mlp.accuracy(p, s, x_test, t_test)
                              for p, s in zip(params, states, strict=True)])
        finite = jnp.stack([jnp.all(jnp.isfinite(losses[:, j])) & jnp.all(jnp.stack(
            [jnp.all(jnp.isfinite(v)) for v in jax.tree.leaves(p)]))
            for j, p in enumerate(params)])
        return losses.T, test_acc, ~finite

    keys = jax.random.split(key, seeds)
    from jaxch6.experiments.common import jit_run

    loss, test_acc, diverged = jit_run(jax.vmap(one_seed), keys, fast_compile=fast_compile)
    return np.asarray(loss), np.asarray(test_acc), np.asarray(diverged)
