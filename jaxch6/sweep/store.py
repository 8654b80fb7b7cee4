"""A sweep's results on disk: ``trials.jsonl`` (one JSON object per trial) and ``summary.json``.

``trials.jsonl`` is append-only: each chunk's trials are written, flushed and fsynced before the
next chunk starts, so a killed sweep loses at most the chunk in flight. A partial last line
(a write cut short) is dropped when the file is read back for ``--resume`` and the trial redone.

``summary.json`` is replaced atomically (write to a temporary file, fsync, rename): written with
``"status": "running"`` when a sweep starts and ``"complete"`` when it ends.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from jaxch6.errors import ConfigError

TRIALS = "trials.jsonl"
SUMMARY = "summary.json"
REQUIRED = ("id", "round", "hparams", "val_acc", "train_acc", "final_val_acc", "diverged")


def append_trials(out_dir: str | os.PathLike, records: Iterable[Mapping]) -> None:
    """Append one JSON line per trial, then flush and fsync."""
    path = Path(out_dir) / TRIALS
    text = "".join(json.dumps(dict(r), separators=(",", ":")) + "\n" for r in records)
    with open(path, "a", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def read_trials(out_dir: str | os.PathLike, *, repair: bool = False) -> list[dict]:
    """All complete trial records in ``trials.jsonl`` (last occurrence of an id wins).

    A line that is not valid JSON is tolerated only at the end of the file (a write cut short);
    with ``repair=True`` the file is truncated to drop it. A bad line elsewhere is an error.
    """
    path = Path(out_dir) / TRIALS
    if not path.exists():
        return []
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    records: dict[int, dict] = {}
    good_bytes = 0
    offset = 0
    for i, line in enumerate(lines):
        end = offset + len(line) + 1
        if line.strip():
            try:
                rec = json.loads(line)
                if not all(k in rec for k in REQUIRED):
                    raise ValueError("missing fields")
                complete = end <= len(raw)  # has its newline
            except ValueError:
                rec, complete = None, False
            if rec is None or not complete:
                if any(x.strip() for x in lines[i + 1 :]):
                    raise ConfigError(f"{path}: line {i + 1} is not a trial record")
                break
            records[int(rec["id"])] = rec
        good_bytes = min(end, len(raw))
        offset = end
    if repair and good_bytes < len(raw):
        with open(path, "r+b") as f:
            f.truncate(good_bytes)
            f.flush()
            os.fsync(f.fileno())
    return [records[k] for k in sorted(records)]


def write_summary(out_dir: str | os.PathLike, summary: Mapping) -> None:
    """Atomically replace ``summary.json``."""
    path = Path(out_dir) / SUMMARY
    tmp = path.with_suffix(".json.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2, sort_keys=False)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_summary(out_dir: str | os.PathLike) -> dict:
    path = Path(out_dir) / SUMMARY
    if not path.exists():
        raise ConfigError(f"--resume {out_dir}: no {SUMMARY} there (not a sweep directory)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        raise ConfigError(f"--resume {out_dir}: {SUMMARY} is not valid JSON") from None
