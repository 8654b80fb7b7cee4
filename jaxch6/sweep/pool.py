"""The run states a sweep keeps between steps, on the host and (with a directory) on disk.

Entries are keyed by ``(trial, repeat, epoch)``: the run state of that lane after that many
epochs. A step stores its lanes' new states as one *block* (a batched pytree); a later step
gathers the rows it needs from any blocks into one batch (compaction). With a directory, each
block is written to ``states/block-NNNNNN.npz`` and listed in ``states/index.jsonl`` (each
fsynced), so a sweep interrupted between or inside steps resumes from the states it had.

A sweep over static choices (:mod:`jaxch6.sweep.groups`) stores each block with its *group*,
whose run states have their own structure; the rows of one :meth:`StatePool.take` come from
blocks of one group.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jaxch6.errors import ConfigError
from jaxch6.sweep import keys as keys_module

Lane = tuple[int, int]  # (trial id, repeat)
Entry = tuple[int, int, int]  # (trial id, repeat, epoch)

INDEX = "index.jsonl"


class StatePool:
    """Run states by ``(trial, repeat, epoch)``.

    Args:
        treedef: the run state's pytree structure (``jax.tree.structure`` of one state).
        directory: where blocks are written (None: memory only).
        treedef_of: ``treedef_of(group)``, the structure of each group's run states (instead
            of one ``treedef``).
    """

    def __init__(self, treedef, directory: str | os.PathLike | None = None, *,
                 treedef_of: Callable[[tuple], Any] | None = None):
        self.treedef = treedef
        self._treedef_of = treedef_of
        self.dir = Path(directory) if directory is not None else None
        self.blocks: dict[int, list[np.ndarray]] = {}
        self.groups: dict[int, tuple] = {}
        self.where: dict[Entry, tuple[int, int]] = {}
        self.seq = 0
        if self.dir is not None:
            from jaxch6.sweep import store

            store.subdir(self.dir)
            self._load_index()

    def __contains__(self, entry: Entry) -> bool:
        return tuple(entry) in self.where

    def __len__(self) -> int:
        return len(self.where)

    def put(self, entries: Sequence[Entry], states, *, group: tuple = (),
            rows: Sequence[int] | None = None) -> None:
        """Store a batched run state (written to disk when the pool has a directory).

        Args:
            entries: each stored row's ``(trial, repeat, epoch)``.
            states: the batched run state, one row per entry (or more, with ``rows``).
            group: the static-choice group the states belong to.
            rows: the rows of ``states`` to store, one per entry (None: every row).
        """
        import jax

        leaves = [np.asarray(a) for a in jax.tree.leaves(states)]
        if rows is not None:
            if not len(rows):
                return
            leaves = [a[np.asarray(rows, np.int64)] for a in leaves]
        block = self.seq
        self.seq += 1
        group = tuple(group or ())
        if self.dir is not None:
            self._write_block(block, leaves, entries, group)
        self.blocks[block] = leaves
        self.groups[block] = group
        for row, e in enumerate(entries):
            self.where[tuple(int(v) for v in e)] = (block, row)

    def take(self, entries: Sequence[Entry], keys: dict[int, np.ndarray] | None = None,
             reseed: Callable[[Any, Any], Any] | None = None):
        """Gather the batched run state of ``entries``.

        Args:
            entries: the ``(trial, repeat, epoch)`` rows wanted, in order.
            keys: row index to ``(2,)`` key data of a fresh training key for that row.
            reseed: ``reseed(state, key) -> state`` (the task's), applied to each row of
                ``keys`` with its key; None: the rows keep their state as it is.

        Returns:
            The run state, rows in the order of ``entries``.

        Raises:
            KeyError: an entry not in the pool.
            ValueError: entries of different groups.
        """
        import jax

        missing = next((e for e in entries if tuple(e) not in self.where), None)
        if missing is not None:
            raise _damaged(self.dir / INDEX if self.dir is not None else "the state pool",
                           "no run state of trial {}, repeat {}, epoch {}".format(*missing))
        locs = [self.where[tuple(e)] for e in entries]
        groups = {self.groups.get(b, ()) for b, _ in locs}
        if len(groups) > 1:
            raise ValueError("a take mixes run states of different groups")
        treedef = self._treedef(groups.pop() if groups else ())
        leaves = []
        for j in range(treedef.num_leaves):
            rows = [self._leaves(b)[j][r] for b, r in locs]
            leaves.append(np.stack(rows))
        if keys and reseed is not None:
            for row, k in keys.items():
                one = jax.tree.unflatten(treedef, [a[row] for a in leaves])
                new = reseed(one, keys_module.wrap(np.asarray(k, np.uint32)))
                for a, leaf in zip(leaves, jax.tree.leaves(new), strict=True):
                    a[row] = np.asarray(leaf)
        return jax.tree.unflatten(treedef, leaves)

    def retain(self, needed: Iterable[Entry]) -> None:
        """Forget every entry not in ``needed``; delete blocks no entry uses any more.

        Args:
            needed: the entries to keep.
        """
        needed = {tuple(e) for e in needed}
        self.where = {e: loc for e, loc in self.where.items() if e in needed}
        used = {b for b, _ in self.where.values()}
        for b in [b for b in self.blocks if b not in used]:
            del self.blocks[b]
        self.groups = {b: g for b, g in self.groups.items() if b in used}
        if self.dir is not None:
            self._rewrite_index(used)

    def _treedef(self, group: tuple):
        return self._treedef_of(group) if self._treedef_of is not None else self.treedef

    # -- disk ---------------------------------------------------------------------------------
    def _leaves(self, block: int) -> list[np.ndarray]:
        if block not in self.blocks:
            n = self._treedef(self.groups.get(block, ())).num_leaves
            path = self._block_path(block)
            try:
                with np.load(path, allow_pickle=False) as z:
                    self.blocks[block] = [np.asarray(z[f"leaf{j}"]) for j in range(n)]
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
                raise _damaged(path, type(exc).__name__) from None
        return self.blocks[block]

    def _block_path(self, block: int) -> Path:
        return self.dir / f"block-{block:06d}.npz"

    def _write_block(self, block: int, leaves, entries, group: tuple = ()) -> None:
        from jaxch6.sweep import store

        store.write_file(self._block_path(block),
                         lambda f: np.savez(f, **{f"leaf{j}": a for j, a in enumerate(leaves)}))
        rec = {"block": block, "entries": [list(map(int, e)) for e in entries]}
        line = json.dumps({**rec, "group": [list(x) for x in group]} if group else rec)
        store.append_file(self.dir / INDEX, line + "\n")

    def _load_index(self) -> None:
        path = self.dir / INDEX
        if not path.exists():
            return
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise _damaged(path, type(exc).__name__) from None
        for number, line in enumerate(lines, start=1):
            try:
                rec = json.loads(line)
            except (ValueError, RecursionError):
                if number == len(lines):
                    break  # a write cut short: its block is not used
                raise _damaged(path, f"line {number} is not JSON") from None
            if not _index_record(rec):
                raise _damaged(path, f"line {number} is not a block record")
            if not self._block_path(rec["block"]).exists():
                continue
            self.groups[rec["block"]] = tuple((str(n), v) for n, v in rec.get("group", ()))
            for row, e in enumerate(rec["entries"]):
                self.where[tuple(e)] = (rec["block"], row)
            self.seq = max(self.seq, rec["block"] + 1)

    def _rewrite_index(self, used: set[int]) -> None:
        try:
            self._rewrite_index_files(used)
        except OSError as exc:
            raise ConfigError(f"cannot write {self.dir}: {exc.strerror or exc}") from None

    def _rewrite_index_files(self, used: set[int]) -> None:
        by_block: dict[int, list] = {}
        for e, (b, row) in sorted(self.where.items(), key=lambda kv: kv[1]):
            by_block.setdefault(b, []).append((row, e))
        lines = []
        for b in sorted(by_block):
            rows = dict(by_block[b])
            entries = [list(rows.get(r, (-1, -1, -1))) for r in range(max(rows) + 1)]
            rec = {"block": b, "entries": entries}
            group = self.groups.get(b, ())
            lines.append(json.dumps({**rec, "group": [list(x) for x in group]} if group else rec))
        from jaxch6.sweep import store

        store.write_file(self.dir / INDEX, "".join(x + "\n" for x in lines))
        for p in self.dir.glob("block-*.npz"):
            if int(p.stem.split("-")[1]) not in used:
                p.unlink(missing_ok=True)


def _damaged(path, what: str) -> ConfigError:
    return ConfigError(f"{path}: a kept run state is damaged or missing ({what}); the sweep "
                       "cannot continue from it (start it again in a new directory)")


def _index_record(rec: Any) -> bool:
    """Whether ``rec`` is an index line: a block number and its ``(trial, repeat, epoch)``s."""
    def ints(xs, n=None):
        return isinstance(xs, list) and (n is None or len(xs) == n) and all(
            type(x) is int for x in xs)

    return (isinstance(rec, dict) and type(rec.get("block")) is int and rec["block"] >= 0
            and isinstance(rec.get("entries"), list)
            and all(ints(e, 3) for e in rec["entries"])
            and isinstance(rec.get("group", []), list))
