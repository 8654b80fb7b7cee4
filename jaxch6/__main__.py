"""``python -m jaxch6`` is the ``jaxch6`` command."""

import sys

from jaxch6.cli import main

sys.exit(main())
