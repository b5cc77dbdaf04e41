"""``--cdc-reuse-db`` (and pytest-django's ``--reuse-db``): templates on a server outlive the
session, keyed by the load files' contents and the pytest-cdc version (issue 17: every session
spent about 2 s per database building them)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from throwaway_helpers import SERVER, databases, drop, token

import pytest_cdc


@pytest.fixture
def db() -> Iterator[str]:
    name = token()
    yield name
    drop(list(_kept(name)))


def _kept(db: str) -> dict[str, str | None]:
    return databases(f"cdc\\_test\\_reuse\\_{db}\\_%")


def _origin(result: pytest.RunResult, db: str) -> str:
    result.assert_outcomes(passed=1)
    line = next(line for line in result.outlines if line.startswith(f"cdc: {db} = "))
    return line.rsplit("(", 1)[1].rstrip(")")


def test_kept_reused_and_rebuilt_when_a_file_or_the_version_changes(
    pytester: pytest.Pytester, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    schema = pytester.makefile(".sql", schema="create table seeded (id int);")
    pytester.makepyfile(
        f"def test_x(cdc_connect): cdc_connect({db!r}).fetchval('select count(*) from seeded')"
    )
    args = [f"--cdc-db={db}={SERVER}", f"--cdc-load={schema}"]

    assert _origin(pytester.runpytest(*args, "--cdc-reuse-db"), db) == "built and kept"
    (first,) = _kept(db).items()
    assert first[1] is not None and first[1].startswith("pytest-cdc reuse ")
    assert _origin(pytester.runpytest(*args, "--cdc-reuse-db"), db) == "reused"
    assert _origin(pytester.runpytest(*args, "--reuse-db"), db) == "reused"  # pytest-django's
    # without the option a session builds its own and leaves the kept one alone
    assert _origin(pytester.runpytest(*args), db) == "built"
    assert list(_kept(db)) == [first[0]]

    schema.write_text("create table seeded (id int, note text);")
    assert _origin(pytester.runpytest(*args, "--cdc-reuse-db"), db) == "built and kept"
    (second,) = _kept(db)  # the new one replaced its predecessor
    assert second != first[0]

    monkeypatch.setattr(pytest_cdc, "__version__", "99.0")
    assert _origin(pytester.runpytest(*args, "--cdc-reuse-db"), db) == "built and kept"
    (third,) = _kept(db)
    assert third not in (first[0], second)


SHOW = "def test_show(cdc_settings): print('REUSE', cdc_settings.reuse_db)"


@pytest.mark.parametrize(
    ("ini", "env", "cli", "expected"),
    [
        (None, None, None, "False"),
        ("true", None, None, "True"),
        (None, "1", None, "True"),
        ("false", "1", None, "False"),  # ini beats env
        ("false", None, "--cdc-reuse-db", "True"),  # command line beats ini
    ],
)
def test_setting_sources(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    ini: str | None,
    env: str | None,
    cli: str | None,
    expected: str,
) -> None:
    monkeypatch.delenv("PYTEST_CDC_REUSE_DB", raising=False)
    if env is not None:
        monkeypatch.setenv("PYTEST_CDC_REUSE_DB", env)
    if ini is not None:
        pytester.makeini(f"[pytest]\ncdc_reuse_db = {ini}\n")
    pytester.makepyfile(test_show=SHOW)
    result = pytester.runpytest("-s", *([cli] if cli else []))
    result.stdout.fnmatch_lines([f"*REUSE {expected}*"])
