"""A session drops what dead sessions left on a server, and nothing else (issue 17: runs left
``cdc_test_*`` databases behind, and nothing ever removed them).

The rule (pytest_cdc.throwaway): a ``cdc_test_<session>_*`` database whose comment is an owner
mark of that session, whose session's lock nobody holds, whose pid (on this host) is gone, and
that nobody is connected to.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from throwaway_helpers import SERVER, databases, drop, server

from pytest_cdc.dialects.postgres import OWNER_LOCK_CLASS
from pytest_cdc.throwaway import Owner, owner_key, stale


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _sid() -> str:
    return os.urandom(3).hex()


def _host() -> str:
    return Owner.this_process("000000").host


@pytest.fixture
def leftovers() -> Iterator[dict[str, Any]]:
    """Databases of every kind the rule tells apart, and the connections that keep some alive."""
    conn = server()
    dead, elsewhere, live_lock, live_pid, in_use = (_sid() for _ in range(5))
    names = {
        "dead here": (f"cdc_test_{dead}_gw0_default_t1", Owner(dead, _host(), _dead_pid())),
        "dead elsewhere": (
            f"cdc_test_{elsewhere}_main_x_tpl1",
            Owner(elsewhere, "elsewhere.example", 1),
        ),
        "locked": (f"cdc_test_{live_lock}_main_x_t1", Owner(live_lock, "elsewhere.example", 1)),
        "pid alive": (f"cdc_test_{live_pid}_main_x_t1", Owner(live_pid, _host(), os.getpid())),
        "in use": (f"cdc_test_{in_use}_main_x_t1", Owner(in_use, "elsewhere.example", 1)),
        "no comment": (f"cdc_test_{_sid()}_main_x_t1", None),
        "not ours": (f"other_{dead}_x", Owner(dead, "elsewhere.example", 1)),
        "reuse template": (f"cdc_test_reuse_x_{_sid()}_0123456789ab", "reuse"),
    }
    import psycopg2

    # Other sessions of the suite sweep the same server: the lock is taken, and the "in use"
    # database connected to, before a database becomes sweepable (gets its owner mark).
    looking = None
    with conn.cursor() as cur:
        cur.execute(f"SELECT pg_advisory_lock_shared({OWNER_LOCK_CLASS}, {owner_key(live_lock)})")
        for label, (name, owner) in names.items():
            cur.execute(f'CREATE DATABASE "{name}"')
            if label == "in use":
                looking = psycopg2.connect(SERVER.rsplit("/", 1)[0] + "/" + name)
            if owner == "reuse":
                comment = "pytest-cdc reuse 0123456789ab version 0.1.0"
            elif owner is not None:
                comment = owner.comment()
            else:
                continue
            cur.execute(f"COMMENT ON DATABASE \"{name}\" IS '{comment}'")
    assert looking is not None
    try:
        yield {label: name for label, (name, _) in names.items()}
    finally:
        looking.close()
        conn.close()
        drop([name for name, _ in names.values()])


def test_a_session_sweeps_only_the_leftovers_of_dead_sessions(
    pytester: pytest.Pytester, leftovers: dict[str, str]
) -> None:
    pytester.makepyfile("def test_x(cdc_db): cdc_db.execute('select 1')")
    result = pytester.runpytest(f"--cdc-db={SERVER}")
    result.assert_outcomes(passed=1)
    # (another session of the suite may sweep them first: the header's count is not checked)
    remaining = set(databases("%")) & set(leftovers.values())
    gone = {label for label, name in leftovers.items() if name not in remaining}
    assert gone == {"dead here", "dead elsewhere"}


def test_the_rule_without_a_server() -> None:
    here = "host-a"
    alive = {111}

    def rows(*entries: tuple[str, Owner | None]) -> list[tuple[str, str | None]]:
        return [(name, owner.comment() if owner else None) for name, owner in entries]

    listing = rows(
        ("cdc_test_00006f_main_a_t1", Owner("00006f", here, 999)),  # dead here
        ("cdc_test_000070_main_a_t1", Owner("000070", "host-b", 999)),  # locked
        ("cdc_test_000071_main_a_t1", Owner("000071", here, 111)),  # its pid runs
        ("cdc_test_000072_main_a_t1", Owner("000073", "host-b", 1)),  # names another session
        ("cdc_test_000074_main_a_t1", None),
        ("cdc_test_000075_main_a_t1", Owner("000075", "host-b", 1)),  # dead elsewhere
    )
    found = stale(listing, {owner_key("000070")}, host=here, pid_alive=alive.__contains__)
    assert found == ["cdc_test_00006f_main_a_t1", "cdc_test_000075_main_a_t1"]


def test_owner_marks_round_trip() -> None:
    owner = Owner.this_process("abcdef")
    assert owner.host == Owner.parse(owner.comment()).host  # type: ignore[union-attr]
    assert Owner.parse(owner.comment()) == owner
    assert Owner.parse("pytest-cdc reuse 0123 version 1") is None
    assert Owner.parse(None) is None
    assert socket.gethostname()  # the host part comes from it, made safe for a literal
