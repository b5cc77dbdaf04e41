"""``pytest --cdc-replica``: one test item a table pair, so -k, --lf, xdist and --junitxml work
on them as on any test (issue 13).  Each test runs pytest in a scratch directory (pytester)
against a replica built in two scratch schemas of the running server."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest
from helpers import connect, server_url

# Imported here, before any in-process pytester run: pytester drops the modules a run
# imported when it ends, and a later run would then hold two copies of the metrics module
# (one enabled by the metrics plugin, another read when the session ends).
import pytest_cdc.metrics  # noqa: F401

pytest_plugins = ["pytester"]


@pytest.fixture(scope="module")
def replica() -> Iterator[dict[str, str]]:
    """Source schema s, target schema t: 'same' equal, 'changed' with one changed row,
    'keyless' without a key, 'gone' only on the source."""
    conn = connect()
    tag = uuid.uuid4().hex[:8]
    s, t = f"cdc_items_{tag}_s", f"cdc_items_{tag}_t"
    with conn.cursor() as cur:
        for schema in (s, t):
            cur.execute(f'CREATE SCHEMA "{schema}"')
            cur.execute(f'CREATE TABLE "{schema}".same (id int PRIMARY KEY, v text)')
            cur.execute(
                f'INSERT INTO "{schema}".same SELECT g, g::text FROM generate_series(1, 500) g'
            )
            cur.execute(f'CREATE TABLE "{schema}".changed (id int PRIMARY KEY, v text)')
            cur.execute(
                f'INSERT INTO "{schema}".changed SELECT g, g::text FROM generate_series(1, 500) g'
            )
            cur.execute(f'CREATE TABLE "{schema}".keyless (v text)')
        cur.execute(f"UPDATE \"{t}\".changed SET v = 'other' WHERE id = 42")
        cur.execute(f'CREATE TABLE "{s}".gone (id int PRIMARY KEY)')
    try:
        yield {"source": s, "target": t}
    finally:
        with conn.cursor() as cur:
            for schema in (s, t):
                cur.execute(f'DROP SCHEMA "{schema}" CASCADE')
        conn.close()


@pytest.fixture
def project(pytester: pytest.Pytester, replica: dict[str, str]) -> pytest.Pytester:
    pytester.makefile(
        ".toml",
        pyproject=f"""
[tool.pytest-cdc.replica]
schemas = {{ {replica["source"]} = "{replica["target"]}" }}
""",
    )
    return pytester


def args(*more: str, target: str | None = None) -> list[str]:
    url = server_url()
    return [f"--cdc-db=source={url}", f"--cdc-db=target={target or url}", "--cdc-replica", *more]


def item(replica: dict[str, str], table: str) -> str:
    return f"replica::{replica['source']}.{table}"


def test_one_item_a_table_pair_with_its_report_as_the_failure(
    project: pytest.Pytester, replica: dict[str, str]
) -> None:
    result = project.runpytest(*args("-v", "-rs"))
    result.assert_outcomes(passed=1, failed=2, skipped=1)
    result.stdout.fnmatch_lines(["*collected 4 items"])
    result.stdout.fnmatch_lines(
        [
            f"{item(replica, 'changed')} FAILED*",
            f"{item(replica, 'gone')} FAILED*",
            f"{item(replica, 'keyless')} SKIPPED*",
            f"{item(replica, 'same')} PASSED*",
        ]
    )
    # The failure is the table's report: what differs, value by value; no traceback.
    result.stdout.fnmatch_lines(
        [
            "*mismatched: rows differ: 1 changed",
            "  changed id=42:",
            "    v  source='42'  target='other'",
        ]
    )
    result.stdout.fnmatch_lines(["*gone: missing: the target has no table of this name*"])
    result.stdout.fnmatch_lines(["SKIPPED*no key: no primary key or unique index*"])
    assert "Traceback" not in result.stdout.str()


def test_k_selects_tables_by_name(project: pytest.Pytester, replica: dict[str, str]) -> None:
    result = project.runpytest(*args("-v", "-k", "same or keyless"))
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*collected 4 items / 2 deselected / 2 selected"])


def test_lf_reruns_only_the_tables_that_failed(
    project: pytest.Pytester, replica: dict[str, str]
) -> None:
    project.runpytest(*args()).assert_outcomes(passed=1, failed=2, skipped=1)
    rerun = project.runpytest(*args("--lf", "-v"))
    rerun.assert_outcomes(failed=2)
    rerun.stdout.fnmatch_lines(
        [f"{item(replica, 'changed')} FAILED*", f"{item(replica, 'gone')} FAILED*"]
    )


def test_xdist_workers_collect_the_same_items(
    project: pytest.Pytester, replica: dict[str, str]
) -> None:
    result = project.runpytest(*args("-n", "2", "-v"))
    result.assert_outcomes(passed=1, failed=2, skipped=1)
    result.stdout.fnmatch_lines([f"*PASSED {item(replica, 'same')}*"])


def test_junit_xml_holds_a_testcase_a_table_with_its_state(
    project: pytest.Pytester, replica: dict[str, str]
) -> None:
    xml = project.path / "junit.xml"
    project.runpytest(*args(f"--junitxml={xml}"))
    cases = {c.get("name"): c for c in ET.parse(xml).getroot().iter("testcase")}
    assert {c.get("classname") for c in cases.values()} == {"replica"}
    assert set(cases) == {
        f"{replica['source']}.{t}" for t in ("changed", "gone", "keyless", "same")
    }
    changed = cases[f"{replica['source']}.changed"]
    failure = changed.find("failure")
    assert failure is not None
    assert "changed id=42" in (failure.text or "")
    props = {p.get("name"): p.get("value") for p in changed.iter("property")}
    assert props == {
        "cdc_replica_state": "mismatched",
        "cdc_replica_rows_checked": "1000",
        "cdc_replica_mismatches": "1",
    }
    assert cases[f"{replica['source']}.keyless"].find("skipped") is not None
    same = cases[f"{replica['source']}.same"]
    assert same.find("failure") is None and same.find("skipped") is None


def test_the_ini_key_turns_it_on(project: pytest.Pytester, replica: dict[str, str]) -> None:
    project.makeini("[pytest]\ncdc_replica = true\n")
    # (the ini file is now pytest.ini; the mapping stays in pyproject.toml beside it)
    url = server_url()
    result = project.runpytest(f"--cdc-db=source={url}", f"--cdc-db=target={url}")
    result.assert_outcomes(passed=1, failed=2, skipped=1)


def test_per_table_gauges_in_the_metrics_file(
    project: pytest.Pytester, replica: dict[str, str]
) -> None:
    metrics = project.path / "cdc.prom"
    project.runpytest(*args(f"--cdc-metrics-file={metrics}"))
    text = metrics.read_text()
    changed = f'table="{replica["source"]}.changed"'
    assert f"cdc_replica_mismatched_rows{{{changed}}} 1.0" in text
    assert f"cdc_replica_rows_checked{{{changed}}} 1000.0" in text
    assert f'cdc_replica_table_state{{cdc_replica_table_state="mismatched",{changed}}} 1.0' in text


def test_without_source_and_target_databases_it_says_what_to_pass(
    project: pytest.Pytester,
) -> None:
    result = project.runpytest(f"--cdc-db=source={server_url()}", "--cdc-replica")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: --cdc-replica compares the databases named source and target, but target is"
            " not configured: pass --cdc-db source=URL --cdc-db target=URL"
        ]
    )


def test_an_unreachable_target_is_one_failing_item_in_one_line(
    project: pytest.Pytester,
) -> None:
    result = project.runpytest(
        *args(target="postgresql://postgres:placeholder2@127.0.0.1:9/postgres")
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*replica table (run)*",
            "the replica cannot be validated: database 'target' is not reachable*",
            "FAILED replica::(run)*",
        ]
    )
    assert "placeholder2" not in result.stdout.str()
    assert "Traceback" not in result.stdout.str()


def test_off_unless_asked(project: pytest.Pytester) -> None:
    url = server_url()
    project.makepyfile("def test_nothing(): pass")
    result = project.runpytest(f"--cdc-db=source={url}", f"--cdc-db=target={url}")
    result.assert_outcomes(passed=1)


def test_checkpoints_are_kept_only_by_a_clean_run_of_every_table(
    pytester: pytest.Pytester, replica: dict[str, str]
) -> None:
    pytester.makefile(
        ".toml",
        pyproject=f"""
[tool.pytest-cdc.replica]
schemas = {{ {replica["source"]} = "{replica["target"]}" }}

[tool.pytest-cdc.replica.validation]
lag-column = "id"
state-file = "state.json"
""",
    )
    failing = pytester.runpytest(*args())
    failing.assert_outcomes(passed=1, failed=2, skipped=1)
    failing.stdout.fnmatch_lines(["cdc: replica checkpoints not advanced: the run was not clean*"])
    assert not (pytester.path / "state.json").exists()
    some = pytester.runpytest(*args("-k", "same"))
    some.assert_outcomes(passed=1)
    some.stdout.fnmatch_lines(["cdc: replica checkpoints not saved: this process checked only*"])
    assert not (pytester.path / "state.json").exists()
