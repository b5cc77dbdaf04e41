"""Values that print the same get their code points in a reconcile diff (issue 17: an NFC and
an NFD spelling of the same name showed as ``source='Café'  target='Café'``)."""

from __future__ import annotations

import unicodedata
from typing import Any

from pytest_cdc.checksums import reconcile
from pytest_cdc.checksums.report import ChangedRow, ReconcileReport, look_alike

NFC = unicodedata.normalize("NFC", "Café Müller")
NFD = unicodedata.normalize("NFD", "Café Müller")


def test_a_real_diff_shows_the_code_points(cdc_db: Any) -> None:
    cdc_db.execute("create table src (id int primary key, name text)")
    cdc_db.execute("create table dst (id int primary key, name text)")
    cdc_db.execute("insert into src values (1, %s), (2, 'same')", (NFC,))
    cdc_db.execute("insert into dst values (1, %s), (2, 'same')", (NFD,))
    report = reconcile(cdc_db, cdc_db, table="src", target_table="dst", key="id")
    assert report.changed_count == 1
    text = report.to_text()
    (value_line, code_line) = text.splitlines()[-2:]
    # as before, the two values look the same on screen...
    assert value_line.strip() == f"name  source={NFC!r}  target={NFD!r}"
    # ...and now the next line tells them apart
    assert code_line.strip() == (
        "same look, other code points from character 4: source U+00E9 U+0020 U+004D U+00FC,"
        " target U+0065 U+0301 U+0020 U+004D U+0075 U+0308 (NFC against NFD)"
    )


def test_only_values_that_look_alike_get_them() -> None:
    assert look_alike("abc", "abd") == ""
    assert look_alike("Müller", "Mueller") == ""
    assert look_alike(None, NFC) == ""
    assert look_alike(NFC, NFC) == ""
    # compatibility forms and look-alikes from another script
    assert "U+FB01" in look_alike("\ufb01le", "file")
    assert look_alike("paypal", "p\u0430ypal") == (
        "same look, other code points from character 2: source U+0061, target U+0430"
    )


def test_text_without_look_alikes_is_unchanged() -> None:
    report = ReconcileReport(
        source="s", target="t", source_table="a", target_table="b", key=["id"], columns=["x"]
    )
    report.changed = [ChangedRow(key=["1"], differences={"x": ["1", "2"]})]
    report.changed_count = 1
    assert report.to_text().splitlines()[-1] == "    x  source='1'  target='2'"
