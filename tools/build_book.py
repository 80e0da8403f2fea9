"""Build the HTML book with a readable console (``make book``; ``make test`` too).

Runs ``jupyter-book build`` with warnings as errors and passes its output
through, with two changes:

* each chapter's execution is announced as one progress line,
  ``[ 7/27] book/cnn/alexnet: executing`` or ``...: from the cache``;
* the start-up notices that every executed notebook's kernel prints (ipykernel's
  note that it talks over local TCP, TensorFlow's oneDNN and CPU-feature
  notices and absl's pre-initialisation line) are dropped. Only those exact
  lines: every other line, warnings and errors included, is printed as is.

Before the build, the execution cache is emptied when ``companion/``,
``pyproject.toml`` or the profile changed since the cache was filled (the
cache itself only hashes the chapters' code cells), so a changed library
always re-executes the chapters. ``--reset-cache`` empties it and records the
current fingerprint without building: ``make test`` does that before nbval
fills the cache. ``--expect-cached`` fails the build's caller if any chapter
had to be executed (``make test`` executes each chapter once, under nbval).
"""
from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "_build"
CACHE = BUILD / ".jupyter_cache"
FINGERPRINT = BUILD / ".companion-fingerprint"

NOISE = [re.compile(p) for p in (
    r"\[IPKernelApp\] WARNING \| Kernel is running over TCP without encryption",
    r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$",
    r"^I\d{4} [\d:.]+ +\d+ (port|cpu_feature_guard)\.cc:\d+\] ",
    r"^To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags\.$",
)]
ANSI = re.compile(r"\x1b\[[0-9;]*m")
EXECUTING = re.compile(r"^(?P<path>\S+\.md): (?P<what>Executing notebook|Using cached notebook)")


def fingerprint(profile: str, root: Path = ROOT) -> str:
    """A hash of the library, the dependencies and the profile the chapters run with."""
    digest = hashlib.sha256(profile.encode())
    for path in [root / "pyproject.toml", *sorted((root / "companion").rglob("*.py"))]:
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def active_profile() -> str:
    sys.path.insert(0, str(ROOT))
    import companion  # noqa: E402  (reads COMPANION_PROFILE, else looks for a GPU)

    return companion.profile().name


def reset_cache(reason: str, current: str) -> None:
    print(f"{reason}: emptying the execution cache", flush=True)
    shutil.rmtree(CACHE, ignore_errors=True)
    BUILD.mkdir(exist_ok=True)
    FINGERPRINT.write_text(current + "\n")


def chapters_in_toc() -> int:
    from tests.book_files import toc_files
    from tests.nbval_myst import is_notebook

    return sum(is_notebook(ROOT / f"{f}.md") for f in toc_files())


def is_noise(line: str) -> bool:
    """A kernel start-up notice (see the module docstring), and nothing else."""
    return any(p.search(ANSI.sub("", line.rstrip("\n"))) for p in NOISE)


def build(extra_args: list[str]) -> tuple[int, int]:
    """Run the build; return (exit status, number of chapters it executed)."""
    total = chapters_in_toc()
    cmd = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(ROOT),
           "--warningiserror", "--nitpick", "--keep-going", *extra_args]
    seen, executed = 0, 0
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               bufsize=1, cwd=ROOT)
    for line in process.stdout:
        if is_noise(line):
            continue
        plain = ANSI.sub("", line.rstrip("\n"))
        match = EXECUTING.match(plain)
        if match:
            seen += 1
            executing = match["what"] == "Executing notebook"
            executed += executing
            chapter = Path(match["path"]).relative_to(ROOT).with_suffix("")
            what = "executing" if executing else "from the cache"
            print(f"[{seen:2d}/{total}] {chapter}: {what}", flush=True)
            continue
        print(line, end="", flush=True)
    return process.wait(), executed


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reset-cache", action="store_true",
                        help="empty the execution cache and record the fingerprint; do not build")
    parser.add_argument("--expect-cached", action="store_true",
                        help="exit with status 3 if any chapter had to be executed")
    args, extra = parser.parse_known_args(argv)
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")   # TensorFlow's INFO lines; warnings stay

    current = fingerprint(active_profile())
    if args.reset_cache:
        reset_cache("make test", current)
        return 0
    recorded = FINGERPRINT.read_text().strip() if FINGERPRINT.exists() else None
    if recorded != current:
        reset_cache("companion/, pyproject.toml or the profile changed", current)

    status, executed = build(extra)
    if status == 0:
        print(f"The book is in _build/html: open file://{ROOT}/_build/html/index.html")
    if status == 0 and args.expect_cached and executed:
        print(f"{executed} chapter(s) were executed by the build although nbval had run them: "
              "the build must reuse nbval's executions (see tests/nbval_myst.py)")
        return 3
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
