"""``jaxch6 gradcheck``: the book's batch-norm gradient check, for jax.grad."""

from __future__ import annotations

HELP = "check autodiff against a numerical gradient on the book's batch-norm network (float64)"
DESCRIPTION = """\
The book's ch06/batch_norm_gradient_check.py for jax.grad: a 784-100-100-10 network with batch
norm and He initialisation, in float64, on a batch of real MNIST digits (the embedded sample);
for every parameter array it prints the mean |autodiff - numerical| where the numerical gradient
is the central difference (f(p + h) - f(p - h)) / 2h, h = 1e-4, one element at a time
(~180,000 loss evaluations: tens of seconds). Exit status 0 only if every mean is below 1e-6.

Why at least 3 digits, not the book's single sample: with one sample batch norm degenerates --
the batch variance is 0, every normalised value is 0, the layer outputs beta, so every gradient
through it is zero, and each ReLU input sits exactly on its kink, where the central difference
gives 0.5 but backprop 0 (the book's beta2 row then differs by 0.048). With 3 digits the book's
own NumPy code gives differences of 2e-7 to 7e-7.

examples:
  jaxch6 gradcheck
  jaxch6 gradcheck --samples 10 --seed 1
  jaxch6 gradcheck --hidden 20,20        # a smaller network, seconds
"""


def _sizes(text: str) -> tuple[int, ...]:
    import argparse

    try:
        sizes = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected positive sizes, got {text!r}")
    return sizes


#: Most parameters a numerical gradient check takes (two forward passes per parameter).
MAX_PARAMS = 10_000_000


def add_arguments(parser) -> None:
    parser.add_argument("--samples", type=int, default=3,
                        help="digits in the batch (default 3; >= 2 with batch norm)")
    parser.add_argument("--hidden", type=_sizes, default=(100, 100),
                        help="hidden layer sizes (default 100,100: the book's)")
    parser.add_argument("--seed", type=int, default=0, help="PRNG seed of the weights (default 0)")
    parser.add_argument("--no-batchnorm", action="store_true",
                        help="check the network without batch norm (default: with)")
    parser.add_argument("--book-loss", action="store_true",
                        help="differentiate the book's loss value numerically, 1e-7 inside the "
                             "log included (which backprop ignores, in the book as here): adds "
                             "the book's own ~1e-7 (default: off)")


def run(args) -> int:
    import time

    import jax

    from jaxch6 import gradcheck
    from jaxch6.errors import ConfigError

    if args.samples < 1:
        raise ConfigError(f"--samples must be >= 1, got {args.samples}")
    if not 0 <= args.seed < 2**32:
        raise ConfigError(f"--seed must be an integer in [0, 2**32), got {args.seed}")
    sizes = (784, *args.hidden, 10)
    n_params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=False))
    if n_params > MAX_PARAMS:
        raise ConfigError(f"--hidden {','.join(map(str, args.hidden))} has {n_params} "
                          f"parameters; a numerical gradient check takes at most {MAX_PARAMS}: "
                          "reduce --hidden")
    try:
        from jaxch6.data import load_mnist
    except ImportError as exc:  # pragma: no cover - the data module ships with the package
        raise ConfigError(f"jaxch6.data is unavailable ({exc}); cannot load MNIST digits") from None
    (x, t), _ = load_mnist(source="sample")
    if args.samples > len(x):
        raise ConfigError(f"--samples must be <= {len(x)} (embedded sample), got {args.samples}")
    sizes = (784, *args.hidden, 10)
    bn = not args.no_batchnorm
    print(
        f"network {'-'.join(map(str, sizes))}, {'batch norm, ' if bn else ''}He init, float64; "
        f"{args.samples} MNIST digit(s) (embedded sample); central difference h={gradcheck.H:g}; "
        + ("numerical side: the book's loss value (1e-7 in the log)" if args.book_loss
           else "numerical side: the loss backprop differentiates (no 1e-7 in the log)")
    )
    start = time.perf_counter()
    diffs = gradcheck.book_network_check(
        x[: args.samples], t[: args.samples], key=jax.random.key(args.seed), sizes=sizes,
        use_batchnorm=bn, ce_eps=1e-7 if args.book_loss else 0.0,
    )
    seconds = time.perf_counter() - start
    print(f"{'param':<8} mean |autodiff - numerical|")
    for name, value in diffs.items():
        mark = "" if value < gradcheck.TOLERANCE else "   > tolerance"
        print(f"{name:<8} {value:.3e}{mark}")
    ok = all(v < gradcheck.TOLERANCE for v in diffs.values())
    verdict = "OK: all" if ok else "FAIL: not all"
    print(f"{verdict} below {gradcheck.TOLERANCE:g} ({seconds:.1f} s)")
    return 0 if ok else 1
