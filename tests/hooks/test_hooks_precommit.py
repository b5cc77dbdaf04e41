"""End to end, as a consumer uses the hooks: ``pre-commit run`` in a temporary git repo whose
.pre-commit-config.yaml names this repository and pins a ``rev:``.

The repository under test is cloned at its committed HEAD (the ``rev:``), pre-commit builds
its own virtualenv for it from PyPI into a home of its own (so this is slow: one environment
per session, shared by both hooks and by the xdist workers; ``try-repo`` would build one on
every call), and the consumer repository has its own pyproject.toml.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

CONFIG = """\
[tool.pytest-cdc]
dialects = { "db/mssql/**" = "tsql" }
ddl = ["db/**/migrations/*.sql"]
queries = ["recon/**/*.sql"]

[[tool.pytest-cdc.reconciliation-tables]]
name = "public.orders"
key = ["order_id"]
timestamp = "updated_at"
"""
MIGRATION = """\
CREATE TABLE orders (order_id bigint PRIMARY KEY, updated_at timestamptz, customer_id bigint);
CREATE INDEX CONCURRENTLY ix_orders_updated_at ON orders (updated_at);
"""


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def shared_dir(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A directory every xdist worker of this session shares (the session's base temporary
    directory when there are no workers): the hook environment is then built once."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # pytest-of-USER/pytest-N, above each worker's popen-gwN
    path = root / name
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="session")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (REPO / ".git").exists() or shutil.which("git") is None:
        pytest.skip("needs git and the repository's .git directory")
    shared = shared_dir(tmp_path_factory, "hook-repo")
    target = shared / "pytest-cdc"
    with open(shared / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one worker clones, the other finds the clone
        if not (target / ".git").is_dir():
            git("clone", "--quiet", "--no-hardlinks", str(REPO), str(target), cwd=REPO)
    if not (target / ".pre-commit-hooks.yaml").is_file():
        pytest.fail(".pre-commit-hooks.yaml is not committed: consumers could not use the hooks")
    return target


@pytest.fixture(scope="session")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # pre-commit locks its home while it installs: a second worker waits for the environment
    # and then uses it.
    return shared_dir(tmp_path_factory, "pre-commit-home")


@pytest.fixture
def consumer(tmp_path: Path) -> Path:
    repo = tmp_path / "consumer"
    (repo / "db" / "pg" / "migrations").mkdir(parents=True)
    (repo / "db" / "mssql" / "migrations").mkdir(parents=True)
    (repo / "recon").mkdir()
    (repo / "pyproject.toml").write_text(CONFIG, encoding="utf-8")
    (repo / "db" / "pg" / "migrations" / "V1.sql").write_text(MIGRATION, encoding="utf-8")
    (repo / "recon" / "good.sql").write_text(
        "SELECT order_id FROM orders WHERE updated_at > $1;\n", encoding="utf-8"
    )
    (repo / "recon" / "bad.sql").write_text(
        "SELECT * FROM orders WHERE customer_id = $1;\n", encoding="utf-8"
    )
    (repo / "db" / "mssql" / "migrations" / "V1.sql").write_text(
        "CREATE INDEX ix ON dbo.t (a)\nGO\n", encoding="utf-8"
    )
    git("init", "--quiet", cwd=repo)
    git("add", ".", cwd=repo)
    return repo


def try_repo(
    hook_repo: Path, home: Path, consumer: Path, hook: str, *files: str
) -> subprocess.CompletedProcess[str]:
    """``pre-commit run HOOK --files ...`` in ``consumer``, configured with ``hook`` of
    ``hook_repo`` at its HEAD."""
    rev = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=hook_repo, check=True, capture_output=True, text=True
    ).stdout.strip()
    config = f"repos:\n- repo: {hook_repo}\n  rev: {rev}\n  hooks:\n  - id: {hook}\n"
    (consumer / ".pre-commit-config.yaml").write_text(config, encoding="utf-8")
    git("add", ".pre-commit-config.yaml", cwd=consumer)
    env = {
        **os.environ,
        "PRE_COMMIT_HOME": str(home),
        "PYTEST_CDC_CACHE_DIR": str(consumer.parent / "cache"),
    }
    env.pop("PRE_COMMIT", None)
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "run", hook, "--files", *files],
        cwd=consumer,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_sql_lint_through_pre_commit(
    hook_repo: Path, pre_commit_home: Path, consumer: Path
) -> None:
    clean = try_repo(hook_repo, pre_commit_home, consumer, "cdc-sql-lint", "recon/good.sql")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "Passed" in clean.stdout

    bad = try_repo(
        hook_repo,
        pre_commit_home,
        consumer,
        "cdc-sql-lint",
        "recon/bad.sql",
        "db/mssql/migrations/V1.sql",
    )
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "recon/bad.sql:1:8: CDC101 SELECT * in a query: name the columns" in bad.stdout
    # the dialect came from the consumer's pyproject: T-SQL, so ONLINE = ON is the fix
    assert "db/mssql/migrations/V1.sql:1:1: CDC106 CREATE INDEX without ONLINE = ON" in bad.stdout


def test_index_coverage_through_pre_commit(
    hook_repo: Path, pre_commit_home: Path, consumer: Path
) -> None:
    clean = try_repo(hook_repo, pre_commit_home, consumer, "cdc-index-coverage", "recon/good.sql")
    assert clean.returncode == 0, clean.stdout + clean.stderr

    bad = try_repo(hook_repo, pre_commit_home, consumer, "cdc-index-coverage", "recon/bad.sql")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert (
        "recon/bad.sql:1:15: CDC205 query on 'public.orders' filters or joins on customer_id but "
        'no index leads with it: CREATE INDEX CONCURRENTLY IF NOT EXISTS "ix_orders_customer_id" '
        'ON "public"."orders" ("customer_id")'
    ) in bad.stdout
