"""Activation histograms of a 5-layer net per init: ``ch06/weight_init_activation_histogram.py``.

Book: 1,000 N(0, 1) inputs of 100 features through 5 layers of 100 units (no biases), each
``z = act(x @ W)``, W ~ N(0, std²); the histogram (30 bins) of every layer's activations, for
one activation and one std at a time (edited by hand in the script): sigmoid with std 1
(values pile up at 0 and 1: vanishing gradients), std 0.01 (everything collapses to 0.5: no
expressive power), Xavier 1/√n (spread over (0, 1)); ReLU with 0.01 / Xavier / He √(2/n).

Here: every combination of sigmoid, tanh and ReLU × std 1, std 0.01, Xavier and He, as a
12 × 5 grid of histograms. The four inits share the same standard-normal draws (one ``vmap``
over the std), and the summary statistics (mean, std, saturated fraction per layer) are taken
over several seeds at once (a second ``vmap``).
"""

from __future__ import annotations

import math

import numpy as np

from jaxch6.experiments import common

NAME = "weight_init_activation_histogram"
NODES = 100
LAYERS = 5
N_INPUTS = 1000
BINS = 30
INITS = {"std=1": 1.0, "std=0.01": 0.01, "Xavier": 1.0 / math.sqrt(NODES),
         "He": math.sqrt(2.0 / NODES)}
ACTIVATIONS = ("sigmoid", "tanh", "relu")
RANGES = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0), "relu": (0.0, 1.0)}


def _act(name):
    import jax
    import jax.numpy as jnp

    return {"sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh, "relu": jax.nn.relu}[name]


def activations(key, activation: str, stds, *, n_inputs=N_INPUTS, nodes=NODES, layers=LAYERS):
    """Activations of every layer: array (len(stds), layers, n_inputs, nodes).

    ``x ~ N(0, 1)``; layer l computes ``act(x @ (std · G_l))`` with G_l standard normal, the
    same G_l for every std (vmapped over ``stds``, which may be traced).
    """
    import jax
    import jax.numpy as jnp

    act = _act(activation)
    k_x, k_w = jax.random.split(key)
    x0 = jax.random.normal(k_x, (n_inputs, nodes), jnp.float32)
    gs = jax.random.normal(k_w, (layers, nodes, nodes), jnp.float32)

    def forward(std):
        def layer(x, g):
            z = act(x @ (std * g))
            return z, z

        return jax.lax.scan(layer, x0, gs)[1]

    return jax.vmap(forward)(jnp.asarray(stds, jnp.float32))


def saturated_fraction(z, activation: str):
    """Fraction of activations at the ends of the activation's range.

    sigmoid: z < 0.02 or z > 0.98; tanh: |z| > 0.98; ReLU: z == 0 (dead units).
    """
    import jax.numpy as jnp

    if activation == "sigmoid":
        return jnp.mean((z < 0.02) | (z > 0.98), axis=(-2, -1))
    if activation == "tanh":
        return jnp.mean(jnp.abs(z) > 0.98, axis=(-2, -1))
    return jnp.mean(z == 0.0, axis=(-2, -1))


def run(out_dir, *, seed: int = 0, quick: bool = False) -> dict:
    """Write ``weight_init_activation_histogram.png`` / ``.json``."""
    n_seeds = 2 if quick else 8
    hist, stats, seconds = _measure(seed, n_seeds, quick)
    fig = _figure(hist)
    summary = {
        "experiment": NAME,
        "book": "ch06/weight_init_activation_histogram.py",
        "settings": {"nodes": NODES, "layers": LAYERS, "inputs": N_INPUTS, "bins": BINS,
                     "inits_std": INITS, "ranges": RANGES, "seeds_for_stats": n_seeds,
                     "seed": seed},
        "vs_book": "book runs one (activation, std) pair per edit of the script; all 12 here, "
        "the 4 stds share the same normal draws, statistics averaged over seeds",
        "saturated_definition": "sigmoid: z<0.02 or z>0.98; tanh: |z|>0.98; relu: z==0",
        "stats_per_layer": stats,
        "hist_counts_seed0": {f"{a}/{i}": v for (a, i), v in hist.items()},
        "seconds": seconds,
    }
    return common.write_outputs(out_dir, NAME, fig, summary)


def _measure(seed: int, n_seeds: int, quick: bool):
    """Every (activation, init)'s activations over ``n_seeds`` seeds, in one program: the
    histograms of seed 0 per layer, the statistics per layer, and the seconds taken."""
    import jax
    import jax.numpy as jnp

    stds = jnp.asarray(list(INITS.values()), jnp.float32)
    hist, stats = {}, {}

    def all_activations(key):
        return tuple(activations(key, act, stds) for act in ACTIVATIONS)

    with common.Timer() as timer, common.fast_compile(quick):
        keys = jax.random.split(jax.random.PRNGKey(seed), n_seeds)
        zs = jax.jit(jax.vmap(all_activations))(keys)  # each (seeds, inits, layers, n, nodes)
        for act, z in zip(ACTIVATIONS, zs, strict=True):
            mean = np.asarray(jnp.mean(z, axis=(-2, -1)))
            std = np.asarray(jnp.std(z, axis=(-2, -1)))
            sat = np.asarray(saturated_fraction(z, act))
            z0 = np.asarray(z[0])
            lo, hi = RANGES[act]
            for i, init in enumerate(INITS):
                counts = [np.histogram(z0[i, layer].ravel(), BINS, range=(lo, hi))[0]
                          for layer in range(LAYERS)]
                hist[(act, init)] = np.stack(counts)
                stats[f"{act}/{init}"] = {
                    "mean": common.rounded(mean[:, i].mean(0)),
                    "std": common.rounded(std[:, i].mean(0)),
                    "std_min_over_seeds": common.rounded(std[:, i].min(0)),
                    "std_max_over_seeds": common.rounded(std[:, i].max(0)),
                    "saturated": common.rounded(sat[:, i].mean(0)),
                    "saturated_min_over_seeds": common.rounded(sat[:, i].min(0)),
                    "saturated_max_over_seeds": common.rounded(sat[:, i].max(0)),
                }
    return hist, stats, timer.seconds


def _figure(hist):
    """One row per (activation, init), one histogram per layer."""
    plt = common.pyplot()
    rows = [(act, init) for act in ACTIVATIONS for init in INITS]
    fig, axes = plt.subplots(len(rows), LAYERS, figsize=(9, 15), sharey=True)
    for r, (act, init) in enumerate(rows):
        lo, hi = RANGES[act]
        edges = np.linspace(lo, hi, BINS + 1)
        for layer in range(LAYERS):
            ax = axes[r, layer]
            ax.stairs(hist[(act, init)][layer], edges, fill=True, color="C0")
            ax.set_ylim(0, 7000)
            ax.set_xlim(lo, hi)
            ax.tick_params(labelsize=6)
            if r == 0:
                ax.set_title(f"{layer + 1}-layer", fontsize=8)
            if layer == 0:
                ax.set_ylabel(f"{act}\n{init}", fontsize=8)
            if r < len(rows) - 1 and rows[r + 1][0] == act:
                ax.set_xticklabels([])
    fig.suptitle("Activation histograms, 5 layers × 100 units, 1,000 N(0,1) inputs "
                 "(y clipped at 7,000 as in the book)", fontsize=9)
    fig.tight_layout(h_pad=0.3, w_pad=0.2)
    return fig
