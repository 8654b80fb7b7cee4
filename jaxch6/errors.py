"""Exceptions users can act on.

Every error that bad input can cause is one of these, raised with a one-line message that names
what is wrong. The CLI prints that line and exits with status 2, never a traceback.
"""


class Jaxch6Error(Exception):
    """Base class of jaxch6's user-facing errors."""


class ConfigError(Jaxch6Error, ValueError):
    """An impossible argument or configuration (a range, a name, a shape)."""


class DataError(Jaxch6Error):
    """Data that is missing, unavailable offline, corrupt or inconsistent."""
