"""``pytest-cdc validate`` and ``pytest-cdc merge-reports``: exit codes, formats and extra
copies, shards merged back, one line for every mistake, and a progress line only on a
terminal (issue 13)."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import connect, server_url

from pytest_cdc.cli import main


@pytest.fixture(scope="module")
def mapping(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A replica of 6 tables (one with a changed row) and its mapping file."""
    conn = connect()
    tag = uuid.uuid4().hex[:8]
    s, t = f"cdc_vcli_{tag}_s", f"cdc_vcli_{tag}_t"
    with conn.cursor() as cur:
        for schema in (s, t):
            cur.execute(f'CREATE SCHEMA "{schema}"')
            for i in range(6):
                cur.execute(f'CREATE TABLE "{schema}".t{i} (id int PRIMARY KEY, v text)')
                cur.execute(
                    f'INSERT INTO "{schema}".t{i} SELECT g, md5(g::text)'
                    f" FROM generate_series(1, {100 * (i + 1)}) g"
                )
        cur.execute(f"UPDATE \"{t}\".t3 SET v = 'x' WHERE id = 7")
    path = tmp_path_factory.mktemp("vcli") / "replica.toml"
    path.write_text(f'schemas = {{ {s} = "{t}" }}\n')
    try:
        yield path
    finally:
        with conn.cursor() as cur:
            for schema in (s, t):
                cur.execute(f'DROP SCHEMA "{schema}" CASCADE')
        conn.close()


def validate(mapping: Path, *more: str, target: str | None = None) -> int:
    url = server_url()
    return main(
        ["validate", "--source", url, "--target", target or url, "--config", str(mapping), *more]
    )


def test_text_report_failures_first_and_exit_1(
    mapping: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert validate(mapping) == 1
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert "6 tables: 1 mismatched, 5 validated" in lines[0]
    table = lines[2:9]
    assert table[0].split() == ["table", "rows", "state", "mismatches", "seconds"]
    assert ".t3 -> " in table[1] and "mismatched" in table[1]
    assert all("validated" in line for line in table[2:])
    assert "changed id=7:" in out


def test_every_format_and_the_extra_copies(
    mapping: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n")
    code = validate(
        mapping,
        "--format", "json",
        "--output", str(tmp_path / "r.json"),
        "--junitxml", str(tmp_path / "r.xml"),
        "--markdown", str(summary),
        "--metrics", str(tmp_path / "r.prom"),
    )  # fmt: skip
    assert code == 1
    assert capsys.readouterr().out.startswith("replica ")  # the summary line only
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["exit_code"] == 1 and data["counts"] == {"mismatched": 1, "validated": 5}
    cases = list(ET.parse(tmp_path / "r.xml").getroot().iter("testcase"))
    assert len(cases) == 6 and sum(c.find("failure") is not None for c in cases) == 1
    markdown = summary.read_text()
    assert markdown.startswith("# earlier step\n## Replica validation")  # appended
    assert markdown.count("| `cdc_vcli_") == 6
    assert "cdc_replica_mismatched_rows{" in (tmp_path / "r.prom").read_text()


def test_shards_merge_into_the_whole_run(
    mapping: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parts = []
    for i in (1, 2, 3):
        path = tmp_path / f"s{i}.json"
        validate(mapping, "--shard", f"{i}/3", "--json", str(path))
        parts.append(str(path))
    capsys.readouterr()
    assert main(["merge-reports", *parts, "--format", "json"]) == 1
    merged = json.loads(capsys.readouterr().out)
    assert merged["counts"] == {"mismatched": 1, "validated": 5}
    assert sorted(merged["shards"]) == ["1/3", "2/3", "3/3"]
    assert main(["merge-reports", *parts[:2]]) == 2
    assert "missing shard(s) 3/3" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tiers", "schema,cheksum"], "tier 'cheksum' is unknown (did you mean 'checksum'?)"),
        (["--shard", "3/2"], "shard '3/2': I must be from 1 to N"),
        (["--concurrency", "0"], "--concurrency 0 must be at least 1"),
        (["--config", "/nonexistent/replica.toml"], "/nonexistent/replica.toml"),
    ],
)
def test_mistakes_are_one_line_and_exit_2(
    mapping: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    given = list(args)
    if given[0] != "--config":
        given = ["--config", str(mapping), *given]
    url = server_url()
    assert main(["validate", "--source", url, "--target", url, *given]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_an_unreachable_target_is_one_line_and_a_report(
    mapping: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = "postgresql://postgres:placeholder2@127.0.0.1:9/postgres"
    assert validate(mapping, "--json", str(tmp_path / "r.json"), target=target) == 2
    captured = capsys.readouterr()
    assert "pytest-cdc validate: error: the target database is not reachable" in captured.err
    assert "placeholder2" not in captured.out + captured.err
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["error"].startswith("the target database is not reachable")
    assert "placeholder2" not in json.dumps(report)


def test_merge_refuses_a_file_that_is_not_a_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "summary.md"
    bad.write_text("## Replica validation\n")
    assert main(["merge-reports", str(bad)]) == 2
    assert "is not a pytest-cdc validate JSON report" in capsys.readouterr().err


def _run(mapping: Path, stderr_tty: bool) -> tuple[int, str, str]:
    url = server_url()
    cmd = [sys.executable, "-m", "pytest_cdc.cli", "validate", "--source", url, "--target", url]
    cmd += ["--config", str(mapping), "--format", "json"]
    if not stderr_tty:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        return done.returncode, done.stdout, done.stderr
    leader, follower = pty.openpty()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=follower, text=True)
    os.close(follower)
    err = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        err += chunk
    out = proc.stdout.read() if proc.stdout else ""
    code = proc.wait(timeout=60)
    os.close(leader)
    return code, out, err.decode()


def test_progress_only_on_a_terminal(mapping: Path) -> None:
    code, out, err = _run(mapping, stderr_tty=True)
    assert code == 1
    assert "6/6 tables" in err and "\r" in err
    json.loads(out)  # stdout stays the report alone
    code, out, err = _run(mapping, stderr_tty=False)
    assert code == 1 and err == ""
    json.loads(out)
