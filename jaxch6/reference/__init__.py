"""NumPy ports of the book's code (*Deep Learning from Scratch*, ``common/`` and ``ch06/``).

These are the references the JAX library is checked against (``jaxch6 verify`` and the tests):
plain NumPy, the book's classes and in-place updates, no JAX. They are not part of the library's
API for research code; import the JAX modules (:mod:`jaxch6.optimizers`, …) for that.
"""
