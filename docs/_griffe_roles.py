"""A griffe extension for the docs build: Sphinx roles in docstrings become links or code.

The package's docstrings cross-reference with Sphinx roles (``:func:`apply```,
``:class:`~jaxch6.sweep.SweepResult```). mkdocstrings does not read them, so this rewrites each
one when the package is loaded: to an autorefs link ``[`name`][jaxch6.full.path]`` when the
target is a public object on one of the site's pages, else to plain code ``` `name` ```.
"""

from __future__ import annotations

import re

import griffe

ROLE = re.compile(r":(?:func|class|mod|data|meth|attr|exc|obj):`(~?)([\w.]+)(?:\(\))?`")

#: The modules with a page of their own (``::: module`` in docs/api/).
PAGES = frozenset((
    "jaxch6.optimizers", "jaxch6.schedules", "jaxch6.initializers", "jaxch6.layers",
    "jaxch6.mlp", "jaxch6.train", "jaxch6.precision", "jaxch6.data", "jaxch6.progress",
    "jaxch6.gradcheck", "jaxch6.verify", "jaxch6.sweep", "jaxch6.sweep.config",
    "jaxch6.sweep.params", "jaxch6.sweep.space", "jaxch6.sweep.schedulers",
    "jaxch6.sweep.schedulers.base",
    "jaxch6.sweep.schedulers.random", "jaxch6.sweep.schedulers.halving",
    "jaxch6.sweep.schedulers.pbt", "jaxch6.sweep.engine", "jaxch6.sweep.loop",
    "jaxch6.sweep.runner", "jaxch6.sweep.result", "jaxch6.sweep.store", "jaxch6.sweep.models",
    "jaxch6.sweep.optuna", "jaxch6.sweep.export", "jaxch6.plots", "jaxch6.sweep.tracking",
    "jaxch6.sweep.config_file", "jaxch6.sweep.book",
))

#: Pages that show only the module's docstring, not its members.
NO_MEMBERS = frozenset(("jaxch6.sweep",))


def _lookup(pkg: griffe.Module, path: str):
    """The object at ``path`` (dotted, from ``jaxch6``), followed through aliases, or None."""
    parts = path.split(".")
    if parts[0] != pkg.name:
        return None
    obj = pkg
    try:
        for part in parts[1:]:
            obj = obj.members[part]
            if obj.is_alias:
                obj = obj.final_target
    except (KeyError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None
    return obj


def _rendered(obj) -> bool:
    """Whether ``obj`` has an anchor on the site: a page's module, or a documented public
    member (and its documented public members) of a page's module."""
    if obj.is_module:
        return obj.path in PAGES
    if any(part.startswith("_") for part in obj.path.split(".")) or obj.docstring is None:
        return False
    module = obj.module.path
    return module in PAGES and module not in NO_MEMBERS and (
        obj.parent.is_module or _rendered(obj.parent))


def _candidates(obj, name: str):
    """Where a role's ``name`` may point, seen from ``obj``'s docstring."""
    yield name
    scope = obj
    while scope is not None:
        yield f"{scope.path}.{name}"
        scope = scope.parent


def _rewrite(pkg: griffe.Module, obj) -> None:
    doc = obj.docstring
    if doc is None or ":" not in doc.value:
        return

    def replace(match: re.Match) -> str:
        tilde, name = match.groups()
        text = name.rsplit(".", 1)[-1] if tilde else name
        for path in _candidates(obj, name):
            target = _lookup(pkg, path)
            if target is not None and _rendered(target):
                return f"[`{text}`][{target.path}]"
        return f"`{text}`"

    doc.value = ROLE.sub(replace, doc.value)


class SphinxRoles(griffe.Extension):
    """Rewrite the Sphinx roles of every docstring once the package is loaded."""

    def on_package(self, *, pkg: griffe.Module, **kwargs) -> None:
        stack = [pkg]
        while stack:
            obj = stack.pop()
            _rewrite(pkg, obj)
            stack.extend(m for m in obj.members.values() if not m.is_alias)
