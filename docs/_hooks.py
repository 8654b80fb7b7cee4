"""mkdocs hook: the figures that the experiments and benchmarks write (``experiments/figures``,
``experiments/results``) become files of the site at the same paths, so a page links them as
the README does (``![…](experiments/figures/x.png)``) and they are not copied into docs/."""

from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("experiments/figures", "experiments/results")


def on_files(files, config):
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).glob("*.png")):
            uri = path.relative_to(ROOT).as_posix()
            if files.get_file_from_path(uri) is None:
                files.append(File.generated(config, uri, abs_src_path=str(path)))
    return files
