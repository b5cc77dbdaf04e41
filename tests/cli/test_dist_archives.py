"""What ``python -m build`` makes is a release: LICENSE and Project-URLs in the wheel, the SPDX
licence expression, the docs in the sdist, and the SQL templates installed with the package,
where ``pytest-cdc sql-template`` finds them (issue 17).  Built without isolation, from the
environment's setuptools, so the test downloads nothing (about 2 s)."""

from __future__ import annotations

import email
import importlib.util
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
#: A placeholder until the project is published; pyproject.toml and README.md use it alike.
REPOSITORY = "https://github.com/pytest-cdc/pytest-cdc"


def _setuptools_is_new_enough() -> bool:
    from importlib.metadata import version

    return int(version("setuptools").split(".")[0]) >= 77


#: What a checkout holds beside the sources (never packaged, and large or in use).
_NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv", ".tox", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "reports"
)

# One build per run where the suite is spread with --dist loadgroup (make test); elsewhere
# each worker builds from a copy of its own.
pytestmark = pytest.mark.xdist_group("dist_archives")


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if importlib.util.find_spec("build") is None or not _setuptools_is_new_enough():
        pytest.skip("needs build and setuptools>=77 (the dev extra): pip install -e '.[dev]'")
    # From a copy: setuptools assembles the sdist in the source directory, where another
    # build (another worker's, a developer's) may be at it.
    source = tmp_path_factory.mktemp("source") / "pytest-cdc"
    shutil.copytree(REPO, source, ignore=_NOT_SOURCES, symlinks=True)
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return out


def _wheel(dist: Path) -> zipfile.ZipFile:
    (path,) = dist.glob("*.whl")
    return zipfile.ZipFile(path)


def test_wheel_metadata(dist: Path) -> None:
    with _wheel(dist) as wheel:
        names = wheel.namelist()
        (metadata_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = email.message_from_bytes(wheel.read(metadata_name))
        (license_name,) = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
        assert wheel.read(license_name).decode().startswith("MIT License")
    assert metadata["License-Expression"] == "MIT"
    assert metadata.get_all("License-File") == ["LICENSE"]
    assert metadata["License"] is None  # the deprecated free-text field is gone
    urls = dict(value.split(", ", 1) for value in metadata.get_all("Project-URL") or [])
    assert {"Homepage", "Source", "Issues", "Documentation"} <= set(urls)
    assert all(url.startswith(REPOSITORY) for url in urls.values())


def test_wheel_installs_the_sql_templates_where_the_cli_finds_them(
    dist: Path, tmp_path: Path
) -> None:
    with _wheel(dist) as wheel:
        wheel.extractall(tmp_path)  # what pip would put into site-packages
    installed = sorted(p.name for p in (tmp_path / "pytest_cdc" / "sql").glob("*.sql"))
    assert installed == sorted(p.name for p in (REPO / "scripts" / "sql").glob("*.sql"))
    code = (
        "from pytest_cdc.cli.templates import template_dir; print(template_dir());"
        " from pytest_cdc.cli import main; main(['sql-template', 'postgresql_bloat'])"
    )
    done = subprocess.run(
        # -S and cwd: neither the editable install nor the checkout can stand in for the wheel
        [sys.executable, "-S", "-c", code],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    where, _, printed = done.stdout.partition("\n")
    assert Path(where) == tmp_path / "pytest_cdc" / "sql"
    assert printed == (REPO / "scripts" / "sql" / "postgresql_bloat.sql").read_text()


def test_sdist_has_the_docs_and_the_license(dist: Path) -> None:
    (path,) = dist.glob("*.tar.gz")
    with tarfile.open(path) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    for doc in (REPO / "docs").glob("*.md"):
        assert f"docs/{doc.name}" in names
    assert "LICENSE" in names
    assert "scripts/sql/postgresql_bloat.sql" in names


def test_readme_links_work_on_pypi() -> None:
    """PyPI shows the README without the repository around it: every link is absolute (or an
    anchor of the README itself), and every one into the repository names a file that
    exists."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)\s]+)\)", readme)
    assert targets
    for target in targets:
        assert target.startswith(("https://", "http://", "#")), f"relative link {target!r}"
        if target.startswith(f"{REPOSITORY}/blob/main/"):
            assert (REPO / target.removeprefix(f"{REPOSITORY}/blob/main/")).exists(), target
