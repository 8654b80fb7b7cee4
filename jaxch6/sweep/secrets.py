"""Credentials out of everything shown or stored: database URLs' passwords become ``***``.

Used by the Optuna storage (:mod:`jaxch6.sweep.optuna_storage`) for what it prints and raises,
and by the run directory (:mod:`jaxch6.sweep.store`) for the command line it records. No Optuna.
"""

from __future__ import annotations

import re
import urllib.parse

__all__ = ["redact", "scrub"]

# user:password@ (or :password@) right after a scheme. SQLAlchemy ends the password at its first
# "@"; we hide up to the last "@" of the word, in case the password holds an unencoded "@".
_USERINFO = re.compile(r"(?P<pre>\b[A-Za-z][A-Za-z0-9+.\-]*://[^:/\s]*):\S*@")
# password=… in a query string or a libpq conninfo (also sslpassword, passwd).
_PARAM = re.compile(
    r"(?i)(?P<pre>pass(?:word|wd)\s*=\s*)(?:'[^']*'|\"[^\"]*\"|[^\s&;'\"]*)")
# 'password': '…' in the repr of a dict of connection arguments.
_ITEM = re.compile(r"(?i)(?P<pre>['\"](?:ssl)?pass(?:word|wd)['\"]\s*:\s*)(?:'[^']*'|\"[^\"]*\")")


def redact(url: str) -> str:
    """``url`` (or any text holding URLs) with every password replaced by ``***``.

    Covers ``user:password@``, ``:password@``, ``?password=…`` / ``sslpassword=`` query
    parameters, in any percent-encoding; the user name is kept.

    Args:
        url: a database URL, or a line of text (e.g. a command line) that may contain some.

    Returns:
        The text safe to print or store.
    """
    text = _USERINFO.sub(r"\g<pre>:***@", url)
    text = _PARAM.sub(r"\g<pre>***", text)
    return _ITEM.sub(r"\g<pre>'***'", text)


def _secrets(url: str) -> set[str]:
    """The passwords a URL carries, as written and percent-decoded."""
    found = set()
    for pattern in (r"://[^:/\s]*:(\S*)@", r"://[^:/\s]*?:([^@\s]*)@"):
        found.update(m.group(1) for m in re.finditer(pattern, url))
    for m in re.finditer(r"(?i)pass(?:word|wd)=([^&#\s]*)", url):
        found.add(m.group(1))
    decoded = {urllib.parse.unquote(s) for s in found} | {urllib.parse.unquote_plus(s)
                                                          for s in found}
    encoded = {urllib.parse.quote(s, safe="") for s in decoded}
    return {s for s in found | decoded | encoded if len(s) >= 3}


def scrub(text: str, url: str | None = None) -> str:
    """``text`` (e.g. an exception's message) with no credential left in it.

    Args:
        text: the text to print, store or raise.
        url: the URL whose passwords must go in every form (as written, percent-decoded or
            -encoded), even where the text does not show them as part of a URL.

    Returns:
        :func:`redact` of the text, with each of ``url``'s passwords replaced by ``***``.
    """
    if url:
        text = text.replace(url, redact(url))
    text = redact(text)
    for secret in sorted(_secrets(url or ""), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


