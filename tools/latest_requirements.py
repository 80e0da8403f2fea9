"""Print every dependency of pyproject.toml without its version bounds (latest.yml).

The weekly ``latest`` workflow installs the newest release of every
dependency, the optional ``book`` and ``test`` ones included, so the book
cannot rot silently behind its lower bounds::

    python tools/latest_requirements.py > latest.txt
    pip install --upgrade --upgrade-strategy eager -r latest.txt

Markers are kept (``tensorflow-cpu`` on Linux, ``tensorflow`` elsewhere).
``--keep NAME`` keeps one requirement's bounds; the workflow keeps none.
"""
from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[Requirement]:
    project = tomllib.loads(pyproject.read_text())["project"]
    lines = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        lines += extra
    return [Requirement(line.split("#")[0].strip()) for line in lines]


def unbounded(reqs: list[Requirement], keep: frozenset[str] = frozenset()) -> list[str]:
    out = []
    for req in reqs:
        if req.name.lower() not in keep:
            req.specifier = type(req.specifier)("")
        line = str(req)
        if line not in out:
            out.append(line)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="append", default=[], metavar="NAME",
                        help="keep this package's version bounds (repeatable)")
    args = parser.parse_args(argv)
    print("\n".join(unbounded(requirements(), frozenset(k.lower() for k in args.keep))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
