"""Reading SQL files: decoding, and ``-- noqa`` suppression comments."""

from __future__ import annotations

import codecs
import re
from pathlib import Path
from typing import NamedTuple

__all__ = ["Noqa", "SourceError", "decode", "normalize_newlines", "parse_noqa", "read_source"]


class SourceError(NamedTuple):
    line: int
    col: int
    message: str


def normalize_newlines(text: str) -> str:
    """CRLF and lone CR (classic Mac OS, some exporters) become LF.

    Every later step (``--`` comments, ``GO`` alone on its line, T-SQL statements that start a
    line, line numbers) reads lines by ``\\n``: a CR-only file would otherwise be one long line
    whose first ``--`` comment hides the rest.  Replacing the line break keeps every line and
    column where an editor shows it.
    """
    if "\r" not in text:
        return text
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _place(data: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column of byte ``offset``, counting CRLF, CR and LF as line breaks."""
    head = normalize_newlines(data[:offset].decode("latin-1"))
    return head.count("\n") + 1, len(head) - (head.rfind("\n") + 1) + 1


def decode(data: bytes) -> str | SourceError:
    """UTF-8 (with or without BOM) or BOM-marked UTF-16, with LF line breaks; anything else is
    an error with a place."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # SSMS saves scripts as UTF-16 with a BOM.
        try:
            return normalize_newlines(data.decode("utf-16"))
        except UnicodeDecodeError as error:
            return SourceError(1, 1, f"invalid UTF-16 ({error.reason}): re-save the file as UTF-8")
    nul = data.find(b"\x00")
    if nul >= 0:
        return SourceError(*_place(data, nul), "file looks binary (NUL byte): it is not SQL text")
    try:
        return normalize_newlines(data.decode("utf-8"))
    except UnicodeDecodeError as error:
        bad = error.start
        return SourceError(
            *_place(data, bad),
            f"not valid UTF-8 (byte 0x{data[bad]:02x}): re-save the file as UTF-8",
        )


def read_source(path: Path) -> tuple[bytes, str | SourceError]:
    data = path.read_bytes()
    return data, decode(data)


class Noqa(NamedTuple):
    #: line -> codes suppressed there (empty set: every code)
    lines: dict[int, frozenset[str]]
    #: codes suppressed in the whole file (empty set with ``all_codes``: every code)
    file_codes: frozenset[str]
    all_codes: bool

    def suppressed(self, line: int, code: str) -> bool:
        if self.all_codes or code in self.file_codes:
            return True
        codes = self.lines.get(line)
        return codes is not None and (not codes or code in codes)


# ``--`` in SQL; ``#`` in pyproject.toml, where cdc-index-coverage reports on table entries
_NOQA = re.compile(r"(?:--|#)\s*noqa\b(?::\s*(?P<codes>[A-Za-z0-9, ]+))?", re.I)
_FILE_NOQA = re.compile(r"(?:--|#)\s*cdc:\s*noqa\b(?::\s*(?P<codes>[A-Za-z0-9, ]+))?", re.I)


def _codes(text: str | None) -> frozenset[str]:
    return frozenset(c.upper() for c in re.split(r"[\s,]+", text or "") if c)


def parse_noqa(text: str) -> Noqa:
    """``-- noqa`` / ``-- noqa: CDC101,CDC102`` on a line; ``-- cdc: noqa[: CODES]`` per file."""
    lines: dict[int, frozenset[str]] = {}
    file_codes: frozenset[str] = frozenset()
    all_codes = False
    if "noqa" not in text and "NOQA" not in text.upper():
        return Noqa(lines, file_codes, all_codes)
    for m in _FILE_NOQA.finditer(text):
        codes = _codes(m.group("codes"))
        if codes:
            file_codes |= codes
        else:
            all_codes = True
    for m in _NOQA.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        codes = _codes(m.group("codes"))
        previous = lines.get(line)
        lines[line] = (
            frozenset()
            if (previous == frozenset() or not codes)
            else (codes | (previous or frozenset()))
        )
    return Noqa(lines, file_codes, all_codes)
