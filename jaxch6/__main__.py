"""``python -m jaxch6`` is the ``jaxch6`` command."""

from jaxch6.cli import entry

entry()
