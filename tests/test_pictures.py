"""The pages' pictures: each one a page shows exists, docs/make_pictures.py makes every one, and they stay small."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rows import row

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "docs" / "images"
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
PICTURE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)\)")
#: A picture as the pages show it: a link to its own file, so a reader can open it at full size.
LINKED = re.compile(r"\[!\[[^\]]*\]\(([^)\s]+)\)\]\(\1\)")


def load_script():
    spec = importlib.util.spec_from_file_location("make_pictures", ROOT / "docs" / "make_pictures.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


SCRIPT = load_script()


def shown() -> dict[Path, list[str]]:
    """Each picture file the pages show, resolved from the page's folder, with the pages showing it."""
    pictures: dict[Path, list[str]] = {}
    for page in PAGES:
        for _, link in PICTURE.findall(page.read_text()):
            pictures.setdefault((page.parent / link).resolve(), []).append(str(page.relative_to(ROOT)))
    return pictures


@row("docs-pictures-shown")
def test_every_picture_a_page_shows_exists_in_docs_images():
    pictures = shown()
    assert len(pictures) >= 10  # the pattern really finds the pages' pictures
    for path, pages in pictures.items():
        assert path.is_file(), f"{', '.join(pages)} show {path}, which does not exist"
        assert path.parent == IMAGES, f"{', '.join(pages)} show {path}: pictures live in docs/images"


def test_the_script_makes_every_picture_in_docs_images_and_the_pages_show_each():
    on_disk = sorted(p.name for p in IMAGES.iterdir())
    assert sorted(SCRIPT.PICTURES) == on_disk, "docs/make_pictures.py must list exactly the files of docs/images"
    assert len(set(SCRIPT.PICTURES)) == len(SCRIPT.PICTURES)
    unshown = sorted(set(on_disk) - {path.name for path in shown()})
    assert not unshown, f"no page shows {unshown}"


@row("docs-pictures-full-size")
def test_every_picture_is_a_link_to_its_full_size_file():
    """A phone, or a picture wider than the column, shows it shrunk: a click opens the file itself."""
    for page in PAGES:
        for i, line in enumerate(page.read_text().splitlines()):
            if PICTURE.search(line):
                assert LINKED.fullmatch(line.strip()), (
                    f"{page.name}:{i + 1}: a picture stands on a line of its own as [![alt](file)](file)"
                )


def test_every_picture_has_a_caption_under_it():
    """A picture is followed by one italic line saying what to see in it."""
    for page in PAGES:
        lines = page.read_text().splitlines()
        for i, line in enumerate(lines):
            if PICTURE.search(line):
                caption = lines[i + 2] if i + 2 < len(lines) else ""
                assert lines[i + 1] == "" and re.fullmatch(r"\*[^*].*[^*]\*", caption), (
                    f"{page.name}:{i + 1}: the picture needs a blank line, then a one-line *caption*"
                )


def test_the_home_page_shows_the_readmes_pictures():
    """README.md (on GitHub, from the root) and docs/index.md (from docs/) show the same pictures and captions."""
    readme = [(alt, link.removeprefix("docs/")) for alt, link in PICTURE.findall((ROOT / "README.md").read_text())]
    index = PICTURE.findall((ROOT / "docs" / "index.md").read_text())
    assert readme and readme == index
    for _, link in index:
        captions = [
            re.search(rf"{re.escape(link)}\)\n\n(\*.*\*)\n", page.read_text()).group(1)
            for page in (ROOT / "README.md", ROOT / "docs" / "index.md")
        ]
        assert captions[0] == captions[1]


def test_the_pictures_stay_small():
    sizes = {p.name: p.stat().st_size for p in IMAGES.iterdir()}
    for name in sizes:
        assert (IMAGES / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{name} is not a PNG"
    assert sum(sizes.values()) <= SCRIPT.BUDGET, f"the pictures weigh {sum(sizes.values()):,} bytes: {sizes}"


def run_script(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "MPLBACKEND")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, str(ROOT / "docs" / "make_pictures.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=600,
    )


def test_quick_mode_draws_every_picture_but_mnists_and_the_timed_one(tmp_path):
    done = run_script("--quick", "--out", str(tmp_path / "pictures"))
    assert done.returncode == 0, done.stderr
    expected = [name for source in SCRIPT.SOURCES if source.needs is None for name in source.pictures]
    assert sorted(p.name for p in (tmp_path / "pictures").iterdir()) == sorted(expected)
    for name in expected:
        assert (tmp_path / "pictures" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "skipped cnn_filters.png, cnn_feature_maps.png: --quick runs no MNIST training" in done.stdout
    assert "skipped performance.png" in done.stdout


def test_help_names_every_picture(capsys):
    with pytest.raises(SystemExit) as exit:
        SCRIPT.main(["--help"])
    assert exit.value.code == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert all(name in help_text for name in SCRIPT.PICTURES)


@row("pictures-quick-into-docs")
def test_quick_pictures_are_never_written_over_the_pages(capsys, monkeypatch, tmp_path):
    images = tmp_path / "images"  # stands for docs/images, so that a broken check cannot overwrite the real ones
    images.mkdir()
    (images / "two_moons.png").write_bytes(b"the page's picture")
    monkeypatch.setattr(SCRIPT, "IMAGES", images)
    for argv in (["--quick"], ["--quick", "--out", str(images)]):
        with pytest.raises(SystemExit) as exit:
            SCRIPT.main(argv)
        assert exit.value.code == 2
        assert "--quick draws from runs of an epoch or two, not the pages' pictures" in capsys.readouterr().err
    assert [(p.name, p.read_bytes()) for p in images.iterdir()] == [("two_moons.png", b"the page's picture")]


@row("pictures-unknown-name")
def test_an_unknown_picture_is_refused_with_the_list(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit:
        SCRIPT.main(["two_moon.png", "--out", str(tmp_path)])
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert "no picture named two_moon.png; the pictures are: article_loss.png" in err
    assert list(tmp_path.iterdir()) == []
