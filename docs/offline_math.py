"""MathJax served by the site itself, so the math shows offline and no page asks another host for anything.

MathJax comes from a pinned Python package of the docs extra (``django-static-mathjax``,
which ships MathJax's release files and nothing else Django needs here). This mkdocs hook
(see mkdocs.yml) adds its browser bundle to the site under ``javascripts/mathjax/``, with
the parts the bundle loads on demand: the TeX extensions (``\\boldsymbol`` and the like),
the fonts, and the accessibility tools of the right-click menu.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

TARGET = "javascripts/mathjax"
BUNDLE = "tex-chtml.js"  # TeX in, HTML and CSS out: mkdocs.yml's extra_javascript loads it
ON_DEMAND = ("input/tex/extensions", "output/chtml/fonts/woff-v2", "a11y", "sre", "ui")


def release() -> Path:
    """The folder of MathJax's browser files (``es5``) in the installed package."""
    folder = Path(str(files("mathjax") / "static" / "mathjax" / "es5"))
    if not (folder / BUNDLE).is_file():
        raise FileNotFoundError(
            f"MathJax's {BUNDLE} is not in {folder}: install the docs extra (pip install -e '.[docs]')"
        )
    return folder


def on_files(files: Files, config: MkDocsConfig) -> Files:
    root = release()
    paths = [root / BUNDLE, *(p for part in ON_DEMAND for p in sorted((root / part).rglob("*")) if p.is_file())]
    for path in paths:
        uri = f"{TARGET}/{path.relative_to(root).as_posix()}"
        files.append(File.generated(config, uri, abs_src_path=str(path)))
    return files
