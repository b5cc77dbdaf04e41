"""SQL Server showplan XML -> :class:`~pytest_cdc.plans.model.Plan`, and the live pyodbc path.

Plans reach us as UTF-8, UTF-8 with a BOM or UTF-16 with a BOM, and some claim
``encoding="utf-16"`` while stored as UTF-8: so the bytes are decoded here and the XML
declaration is dropped before ElementTree sees the text.  Showplans never use DTDs, so a
document with one is refused instead of being expanded (no entity tricks, no defusedxml).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from typing import Any

from pytest_cdc.errors import CdcError, PlanFormatError
from pytest_cdc.plans.model import MissingIndex, Plan, PlanNode, Statement

SCAN_OPERATORS = frozenset(
    {
        "Table Scan",
        "Clustered Index Scan",
        "Index Scan",
        "Columnstore Index Scan",
    }
)
SEEK_OPERATORS = frozenset({"Index Seek", "Clustered Index Seek"})
LOOKUP_OPERATORS = frozenset({"Key Lookup", "RID Lookup"})

# Elements of a RelOp that are not the operator-specific element holding Object/child RelOps.
_RELOP_META = frozenset(
    {
        "OutputList",
        "RunTimeInformation",
        "Warnings",
        "MemoryFractions",
        "RunTimePartitionSummary",
        "InternalInfo",
    }
)
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>", re.S)
_DTD = re.compile(r"<!(?:DOCTYPE|ENTITY)", re.I)


def decode_showplan(data: bytes | str) -> str:
    """Bytes -> text by BOM (or by the NUL pattern of BOM-less UTF-16), never by the XML
    declaration, which is stripped because it may lie about the encoding."""
    if isinstance(data, str):
        text = data.lstrip("\ufeff")
    elif data.startswith(b"\xef\xbb\xbf"):
        text = data[3:].decode("utf-8")
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16")
    elif data[:2] == b"<\x00":
        text = data.decode("utf-16-le")
    elif data[:2] == b"\x00<":
        text = data.decode("utf-16-be")
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PlanFormatError(
                f"not utf-8 or utf-16 text (byte {exc.start}); save the plan as utf-8"
            ) from None
    return _XML_DECL.sub("", text, count=1)


def parse_showplan(data: bytes | str, *, source: str | None = None) -> Plan:
    """Parse one showplan XML document (estimated or actual)."""
    text = decode_showplan(data)
    if _DTD.search(text):
        raise PlanFormatError(
            "refusing an xml document with a DOCTYPE or ENTITY: showplans have none"
        )
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise PlanFormatError(f"not well-formed xml: {exc}") from None
    ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    if root.tag != f"{ns}ShowPlanXML":
        raise PlanFormatError(
            f"not a showplan: root element is {_local(root.tag)!r}, not 'ShowPlanXML'"
        )
    parser = _Parser(ns)
    statements = [parser.statement(el) for el in parser.statement_elements(root)]
    return Plan(
        dialect="mssql",
        statements=tuple(statements),
        actual=parser.actual,
        source=source,
    )


def merge_plans(plans: Sequence[Plan]) -> Plan:
    """One Plan from the several showplans a batch returns (one per statement)."""
    statements = tuple(s for plan in plans for s in plan.statements)
    return Plan(dialect="mssql", statements=statements, actual=any(p.actual for p in plans))


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _bool(value: str | None) -> bool:
    return value is not None and value.strip().lower() in ("true", "1")


def _float(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _unbracket(name: str | None) -> str | None:
    if name is None:
        return None
    if name.startswith("[") and name.endswith("]"):
        return name[1:-1].replace("]]", "]")
    return name


class _Parser:
    def __init__(self, ns: str) -> None:
        self.ns = ns
        self.actual = False
        self.relop = f"{ns}RelOp"

    def statement_elements(self, root: ET.Element) -> Iterator[ET.Element]:
        for el in root.iter():
            tag = _local(el.tag)
            if tag.startswith("Stmt"):
                yield el

    def _own_query_plans(self, el: ET.Element) -> Iterator[ET.Element]:
        # A StmtCond holds its own condition's plan and nested statements: take the former
        # only, the nested ones are statements of their own.
        for child in el:
            tag = _local(child.tag)
            if tag == "QueryPlan":
                yield child
            elif not tag.startswith("Stmt") and tag != "Statements":
                yield from self._own_query_plans(child)

    def statement(self, el: ET.Element) -> Statement:
        ns = self.ns
        roots: list[PlanNode] = []
        missing: list[MissingIndex] = []
        warnings: list[str] = []
        elapsed: float | None = None
        for qp in self._own_query_plans(el):
            for relop in qp.findall(f"{ns}RelOp"):
                roots.append(self.node(relop))
            missing.extend(self.missing_indexes(qp))
            plan_warnings = qp.find(f"{ns}Warnings")
            if plan_warnings is not None:
                warnings.extend(self.warnings(plan_warnings))
            stats = qp.find(f"{ns}QueryTimeStats")
            if stats is not None:
                self.actual = True
                elapsed = _float(stats.get("ElapsedTime"))
        root = (
            roots[0]
            if len(roots) == 1
            else (PlanNode(operator="Sequence", children=tuple(roots)) if roots else None)
        )
        return Statement(
            root=root,
            text=el.get("StatementText"),
            statement_type=el.get("StatementType"),
            estimated_rows=_float(el.get("StatementEstRows")),
            cost=_float(el.get("StatementSubTreeCost")),
            missing_indexes=tuple(missing),
            warnings=tuple(warnings),
            execution_time_ms=elapsed,
        )

    def _child_relops(self, el: ET.Element) -> Iterator[ET.Element]:
        for child in el:
            if child.tag == self.relop:
                yield child
            elif _local(child.tag) != "Statements":
                # A scalar UDF's body sits inside the operator as statements of its own; it
                # is reported as those statements, not as children of this operator.
                yield from self._child_relops(child)

    def node(self, relop: ET.Element) -> PlanNode:
        ns = self.ns
        physical = relop.get("PhysicalOp", "?")
        op_el: ET.Element | None = None
        for child in relop:
            if _local(child.tag) not in _RELOP_META:
                op_el = child
                break
        obj = op_el.find(f"{ns}Object") if op_el is not None else None
        lookup = physical in LOOKUP_OPERATORS or (op_el is not None and _bool(op_el.get("Lookup")))
        operator = physical
        if lookup and physical == "Clustered Index Seek":
            operator = "Key Lookup"
        storage = None
        if op_el is not None and op_el.get("Storage"):
            storage = op_el.get("Storage")
        elif obj is not None and obj.get("Storage"):
            storage = obj.get("Storage")
        actual_rows = loops = None
        runtime = relop.find(f"{ns}RunTimeInformation")
        if runtime is not None:
            self.actual = True
            actual_rows = sum(_float(t.get("ActualRows")) or 0.0 for t in runtime)
            loops = sum(_float(t.get("ActualExecutions")) or 0.0 for t in runtime)
        warnings: list[str] = []
        node_warnings = relop.find(f"{ns}Warnings")
        if node_warnings is not None:
            warnings.extend(self.warnings(node_warnings))
        predicate = None
        if op_el is not None:
            pred = op_el.find(f"{ns}Predicate/{ns}ScalarOperator")
            if pred is not None:
                predicate = pred.get("ScalarString")
        node_id = relop.get("NodeId")
        children: tuple[PlanNode, ...] = ()
        if op_el is not None:
            children = tuple(self.node(c) for c in self._child_relops(op_el))
        return PlanNode(
            operator=operator,
            logical_operator=relop.get("LogicalOp"),
            relation=_unbracket(obj.get("Table")) if obj is not None else None,
            schema=_unbracket(obj.get("Schema")) if obj is not None else None,
            alias=_unbracket(obj.get("Alias")) if obj is not None else None,
            index=_unbracket(obj.get("Index")) if obj is not None else None,
            estimated_rows=_float(relop.get("EstimateRows")),
            actual_rows=actual_rows,
            loops=loops,
            cost=_float(relop.get("EstimatedTotalSubtreeCost")),
            children=children,
            is_scan=physical in SCAN_OPERATORS and not lookup,
            is_seek=physical in SEEK_OPERATORS and not lookup,
            is_lookup=lookup,
            storage=storage,
            warnings=tuple(warnings),
            predicate=predicate,
            node_id=int(node_id) if node_id and node_id.isdigit() else None,
            details=tuple(
                (key, str(relop.get(key)))
                for key in ("TableCardinality", "EstimatedRowsRead")
                if relop.get(key) is not None
            ),
        )

    def missing_indexes(self, qp: ET.Element) -> Iterator[MissingIndex]:
        ns = self.ns
        for group in qp.iterfind(f"{ns}MissingIndexes/{ns}MissingIndexGroup"):
            impact = _float(group.get("Impact"))
            for mi in group.iterfind(f"{ns}MissingIndex"):
                usage: dict[str, list[str]] = {"EQUALITY": [], "INEQUALITY": [], "INCLUDE": []}
                for cg in mi.iterfind(f"{ns}ColumnGroup"):
                    cols = [_unbracket(c.get("Name")) or "" for c in cg.iterfind(f"{ns}Column")]
                    usage.setdefault(cg.get("Usage", "").upper(), []).extend(cols)
                yield MissingIndex(
                    table=_unbracket(mi.get("Table")) or "?",
                    schema=_unbracket(mi.get("Schema")),
                    database=_unbracket(mi.get("Database")),
                    equality=tuple(usage["EQUALITY"]),
                    inequality=tuple(usage["INEQUALITY"]),
                    include=tuple(usage["INCLUDE"]),
                    impact=impact,
                )

    def warnings(self, el: ET.Element) -> Iterator[str]:
        """Showplan warnings as sentences; the ones worth acting on get specific wording."""
        for attr, label in (
            ("NoJoinPredicate", "no join predicate"),
            ("UnmatchedIndexes", "filtered index not used (parameterised)"),
        ):
            if _bool(el.get(attr)):
                yield label
        for w in el:
            tag = _local(w.tag)
            if tag == "PlanAffectingConvert":
                yield (
                    f"implicit conversion affects {w.get('ConvertIssue', 'the plan').lower()}:"
                    f" {w.get('Expression')}"
                )
            elif tag == "SpillToTempDb":
                yield f"spill to tempdb (level {w.get('SpillLevel', '?')})"
            elif tag in ("SortSpillDetails", "HashSpillDetails"):
                yield f"{tag[:4].lower()} spilled to tempdb"
            elif tag == "MemoryGrantWarning":
                yield f"memory grant warning: {w.get('GrantWarningKind')}"
            elif tag == "ColumnsWithNoStatistics":
                cols = [_unbracket(c.get("Column")) or "?" for c in w]
                yield f"columns with no statistics: {', '.join(cols)}"
            elif tag == "Wait":
                continue  # waits describe the server's load that moment, not the query
            else:
                yield tag


# -- live SQL Server through pyodbc --------------------------------------------------------

SHOWPLAN_COLUMN = "Microsoft SQL Server 2005 XML Showplan"
NO_PLAN_WITH_HINTS = 8622  # "could not produce a query plan because of the hints"


def explain_sqlserver(
    conn: Any, sql: str, params: Sequence[Any] | None = None, *, actual: bool = False
) -> Plan:
    """The estimated (``SET SHOWPLAN_XML ON``) or actual (``SET STATISTICS XML ON``) plan.

    Each SET must be alone in its batch; the OFF runs in ``finally`` so a failing statement
    never leaves the session returning plans instead of rows.  With STATISTICS XML the
    statement really runs, so run it inside a transaction you roll back for writes.
    """
    setting = "STATISTICS XML" if actual else "SHOWPLAN_XML"
    cur = conn.cursor()
    if actual:
        # The statement really runs: keep its changes in a named transaction (or a savepoint
        # of the caller's) and roll that back, so the caller's transaction is left as it was.
        cur.execute("IF @@TRANCOUNT > 0 SAVE TRANSACTION cdc_plan ELSE BEGIN TRANSACTION cdc_plan")
    cur.execute(f"SET {setting} ON")
    documents: list[Plan] = []
    try:
        if params:
            cur.execute(sql, list(params))
        else:
            cur.execute(sql)
        while True:
            if cur.description is not None:
                is_plan = cur.description[0][0] == SHOWPLAN_COLUMN or not actual
                rows = cur.fetchall()
                if is_plan:
                    documents.extend(_showplan(row, setting) for row in rows)
            if not cur.nextset():
                break
        if not documents:
            raise PlanFormatError(
                f"no showplan XML came back: the server accepted SET {setting} ON but returned"
                " no plan, so it does not produce showplans (a SQL Server look-alike or a proxy"
                " may not); explain on SQL Server itself"
            )
    finally:
        try:
            cur.execute(f"SET {setting} OFF")
        finally:
            if actual:
                cur.execute("IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION cdc_plan")
            cur.close()
    return merge_plans(documents)


def _showplan(row: Sequence[Any], setting: str) -> Plan:
    """One result row that must hold a showplan document."""
    value = row[0] if row else None
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    if not text.lstrip("\ufeff \t\r\n").startswith("<"):
        shown = text.strip()[:40]
        raise PlanFormatError(
            f"no showplan XML came back: with SET {setting} ON the server returned the row"
            f" {shown!r}, so it ran the statement instead of planning it (a SQL Server"
            " look-alike or a proxy may ignore the setting); explain on SQL Server itself"
        )
    return parse_showplan(text)


def is_no_plan_with_hints(exc: BaseException) -> bool:
    """True for SQL Server error 8622: FORCESEEK found no index able to seek."""
    return f"({NO_PLAN_WITH_HINTS})" in str(exc) or str(NO_PLAN_WITH_HINTS) in " ".join(
        str(a) for a in getattr(exc, "args", ())
    )


# -- FORCESEEK: proving that an index can seek ---------------------------------------------


def add_forceseek(sql: str) -> str:
    """The T-SQL with ``WITH (FORCESEEK)`` on every base table it reads.

    FORCESEEK makes SQL Server fail with error 8622 when no index can seek the predicate,
    which proves the absence of a usable index on a table of any size.  CTE references and
    derived tables take no hint; tables that already carry hints keep them.
    """
    import sqlglot  # only when a scan assertion runs on SQL Server
    from sqlglot import exp

    try:
        statements = sqlglot.parse(sql, read="tsql")
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError) as exc:
        raise ValueError(
            f"cannot add FORCESEEK to a statement sqlglot cannot parse: {exc}"
        ) from None
    out = []
    for tree in statements:
        if tree is None:
            continue
        ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
        target = tree.this if isinstance(tree, exp.Insert) else None
        if isinstance(target, exp.Schema):
            target = target.this
        for table in tree.find_all(exp.Table):
            if not table.name or table.name.lower() in ctes:
                continue
            if isinstance(table.this, exp.Anonymous):  # a table-valued function
                continue
            if table is target:
                continue  # the INSERT target is written, not read
            hints = list(table.args.get("hints") or [])
            words = {h.sql("tsql").upper() for hint in hints for h in hint.expressions}
            if "FORCESEEK" in words:
                continue
            if hints and isinstance(hints[0], exp.WithTableHint):
                hints[0].append("expressions", exp.Var(this="FORCESEEK"))
            else:
                hints.append(exp.WithTableHint(expressions=[exp.Var(this="FORCESEEK")]))
            table.set("hints", hints)
        out.append(tree.sql("tsql"))
    return ";\n".join(out)


# -- row counts ----------------------------------------------------------------------------

_MSSQL_NAME = (
    "SELECT QUOTENAME(OBJECT_SCHEMA_NAME(OBJECT_ID(?)))"
    " + '.' + QUOTENAME(OBJECT_NAME(OBJECT_ID(?)))"
)
#: Row counts from metadata, best first: sys.dm_db_partition_stats needs VIEW DATABASE STATE
#: (and is missing on some SQL Server look-alikes); sys.partitions needs only metadata access.
_MSSQL_ESTIMATES = (
    "SELECT SUM(p.row_count) FROM sys.dm_db_partition_stats p"
    " WHERE p.object_id = OBJECT_ID(?) AND p.index_id IN (0, 1)",
    "SELECT SUM(p.rows) FROM sys.partitions p"
    " WHERE p.object_id = OBJECT_ID(?) AND p.index_id IN (0, 1)",
)


def row_count(raw: Any, table: str, *, exact: bool = False) -> int:
    """Rows in ``table`` from metadata, or ``COUNT_BIG(*)`` when ``exact`` or none answers."""
    cur = raw.cursor()
    try:
        cur.execute(_MSSQL_NAME, table, table)
        (quoted,) = cur.fetchone()
        if quoted is None:
            raise CdcError(f"table {table!r} does not exist: check the name and default schema")
        if not exact:
            for sql in _MSSQL_ESTIMATES:
                try:
                    cur.execute(sql, table)
                    (estimate,) = cur.fetchone()
                except Exception:  # no permission, or no such view here: the next source
                    continue
                if estimate is not None:
                    return int(estimate)
        cur.execute(f"SELECT COUNT_BIG(*) FROM {quoted}")
        return int(cur.fetchone()[0])
    finally:
        cur.close()
