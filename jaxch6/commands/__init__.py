"""Sub-commands of the ``jaxch6`` CLI, one module each (see :mod:`jaxch6.cli`)."""
