"""A release states one version everywhere, its date, its changes and its licences.

The version lives in ``companion/__init__.py`` (``pyproject.toml`` reads it);
``CITATION.cff``, the title page ``book/intro.md``, the README's citation and
``CHANGELOG.md`` must agree with it, and ``make dist`` archives the built book
under that version.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import tarfile
import tomllib

import pytest
import yaml

from tests.conftest import ROOT


def _version() -> str:
    match = re.search(r'^__version__ = "([^"]+)"', (ROOT / "companion" / "__init__.py").read_text(),
                      flags=re.M)
    assert match, "companion/__init__.py has no __version__ literal"
    return match[1]


def _citation() -> dict:
    return yaml.safe_load((ROOT / "CITATION.cff").read_text())


def _changelog_releases() -> list[tuple[str, str]]:
    text = (ROOT / "CHANGELOG.md").read_text()
    return re.findall(r"^## \[(\d+\.\d+\.\d+)\] - (\d{4}-\d{2}-\d{2})$", text, flags=re.M)


def test_version_is_semantic_and_companion_exports_it():
    import companion

    assert re.fullmatch(r"\d+\.\d+\.\d+", _version())
    assert companion.__version__ == _version()


def test_pyproject_reads_the_version_from_companion():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in pyproject["project"] and "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "companion.__version__"}
    from setuptools.config.expand import read_attr

    assert read_attr("companion.__version__", root_dir=ROOT) == _version()


def test_citation_states_the_version_and_the_date_of_the_changelog():
    citation = _citation()
    assert str(citation["version"]) == _version()
    version, date = _changelog_releases()[0]
    assert version == _version() and str(citation["date-released"]) == date
    assert sorted(citation["license"]) == ["CC-BY-4.0", "MIT"]


def test_title_page_and_readme_state_the_version():
    intro = (ROOT / "book" / "intro.md").read_text()
    title_page = intro.split("\n## ", 1)[0]
    date = _changelog_releases()[0][1]
    assert f"*Version {_version()}, released {date}*" in title_page
    assert set(re.findall(r"Version (\d+\.\d+\.\d+)", intro)) == {_version()}
    readme = (ROOT / "README.md").read_text()
    assert set(re.findall(r"Version (\d+\.\d+\.\d+)", readme)) == {_version()}


def test_changelog_keeps_a_changelog():
    text = (ROOT / "CHANGELOG.md").read_text()
    assert text.startswith("# Changelog") and "keepachangelog.com" in text
    assert "## [Unreleased]" in text
    releases = _changelog_releases()
    versions = [tuple(map(int, v.split("."))) for v, _ in releases]
    assert versions == sorted(versions, reverse=True) and releases[-1][0] == "0.1.0"
    assert [d for _, d in releases] == sorted((d for _, d in releases), reverse=True)
    for version, _ in releases:
        assert re.search(rf"^\[{re.escape(version)}\]: https://", text, flags=re.M), version


def test_licences_exist_and_are_named_in_readme_and_book():
    code, text = (ROOT / "LICENSE").read_text(), (ROOT / "LICENSE-text.md").read_text()
    assert code.startswith("MIT License") and "Permission is hereby granted" in code
    assert "CC BY 4.0" in text and "creativecommons.org/licenses/by/4.0/legalcode" in text
    licence = (ROOT / "README.md").read_text().split("## Licence", 1)[1]
    assert "`LICENSE`" in licence and "`LICENSE-text.md`" in licence
    assert "CC BY 4.0" in licence and "MIT" in licence
    intro = (ROOT / "book" / "intro.md").read_text().split("## Licence", 1)[1]
    assert "`LICENSE`" in intro and "`LICENSE-text.md`" in intro
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"] == "MIT"


@pytest.mark.skipif(shutil.which("make") is None or shutil.which("tar") is None,
                    reason="make dist needs make and GNU tar")
def test_make_dist_archives_the_built_book(tmp_path):
    """In a scratch copy: a clear error without a built book, then the versioned archive."""
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    (tmp_path / "companion").mkdir()
    shutil.copy(ROOT / "companion" / "__init__.py", tmp_path / "companion" / "__init__.py")
    missing = subprocess.run(["make", "-s", "dist"], cwd=tmp_path, capture_output=True, text=True)
    assert missing.returncode != 0 and "run make book first" in missing.stderr

    html = tmp_path / "_build" / "html"
    (html / "book").mkdir(parents=True)
    (html / "index.html").write_text("<html></html>")
    (html / "book" / "intro.html").write_text("<html>intro</html>")
    built = subprocess.run(["make", "-s", "dist"], cwd=tmp_path, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    name = f"neural-networks-executable-{_version()}-html"
    archive = tmp_path / "dist" / f"{name}.tar.gz"
    with tarfile.open(archive) as tar:
        members = set(tar.getnames())
    assert {f"{name}/index.html", f"{name}/book/intro.html"} <= members
    assert all(m == name or m.startswith(f"{name}/") for m in members)
