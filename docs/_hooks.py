"""mkdocs hooks.

- The figures that the experiments and benchmarks write (``experiments/figures``,
  ``experiments/results``) become files of the site at the same paths, so a page links them as
  the README does (``![…](experiments/figures/x.png)``) and they are not copied into docs/.
- Math renders without a network: the TeX that ``pymdownx.arithmatex`` marks (generic mode:
  ``<span class="arithmatex">\\(…\\)</span>``, ``<div class="arithmatex">\\[…\\]</div>``)
  becomes MathML at build time (latex2mathml), which browsers render natively; no script.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from latex2mathml.converter import convert
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("experiments/figures", "experiments/results")
ARITHMATEX = re.compile(r'<(span|div) class="arithmatex">(.*?)</\1>', re.S)
DELIMITERS = {"\\(": ("\\)", "inline"), "\\[": ("\\]", "block")}
#: Environments latex2mathml lacks, as the one it has with the same layout.
SAME_LAYOUT = {"{aligned}": "{split}"}
#: What latex2mathml writes for markup it does not know: a command as text, a raw ``&``, or a
#: line break that MathML Core ignores (the formula would render as one run-on line).
UNRENDERED = re.compile(r'>\\[A-Za-z]|&(?!#?\w+;)|linebreak="newline"')


def on_files(files, config):
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).glob("*.png")):
            uri = path.relative_to(ROOT).as_posix()
            if files.get_file_from_path(uri) is None:
                files.append(File.generated(config, uri, abs_src_path=str(path)))
    return files


def on_page_content(content, page, config, files):
    return ARITHMATEX.sub(lambda m: _mathml(m.group(1), m.group(2), page.file.src_uri), content)


def _mathml(tag: str, body: str, where: str) -> str:
    """One arithmatex element with its TeX as MathML (a build error names the formula)."""
    tex = html.unescape(body).strip()
    close, display = DELIMITERS.get(tex[:2], (None, None))
    if close is None or not tex.endswith(close):
        raise PluginError(f"{where}: unexpected math element {tex[:60]!r}")
    source = tex[2:-2].strip()
    for old, new in SAME_LAYOUT.items():
        source = source.replace(old, new)
    try:
        math = convert(source, display=display)
    except Exception as exc:  # noqa: BLE001 - any failure of the converter is this formula's
        raise PluginError(f"{where}: cannot convert {tex[:60]!r} to MathML ({exc})") from None
    if UNRENDERED.search(math):
        raise PluginError(f"{where}: {tex[:60]!r} has markup latex2mathml does not render")
    return f'<{tag} class="arithmatex">{math}</{tag}>'
