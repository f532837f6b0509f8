"""`gaps` owns the `CareGap` table: no module outside `gaps/` writes it, by the ORM or in raw SQL.

Other apps call the services in `gaps/services.py`, where the version-bump and audit rule of each
kind of write is stated. This test reads the source (not the running code), so a write that a
test never exercises is caught too; the detector's own cases below show what it flags and what
it leaves alone (reads).
"""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OWNER = "gaps"
MODEL = "CareGap"
TABLE = "gaps_caregap"
SKIPPED_DIRS = {".venv", "tests", "migrations", "node_modules", ".git", OWNER}

ORM_WRITES = {"update", "bulk_update", "bulk_create", "create", "get_or_create", "update_or_create", "delete"}
INSTANCE_WRITES = {"save", "delete"}
# SQL that writes the table named by a literal or by `CareGap._meta.db_table` (see `_sql_writes`).
SQL_WRITE = re.compile(r"\b(UPDATE|INSERT\s+INTO|DELETE\s+FROM|COPY|MERGE\s+INTO)\s+(\S+)", re.IGNORECASE)
TABLE_PLACEHOLDER = "\x00table\x00"


def _root(node: ast.AST) -> ast.AST:
    """The innermost receiver of a chain such as `CareGap.objects.filter(...).update`."""
    while True:
        if isinstance(node, ast.Attribute):
            node = node.value
        elif isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Subscript):
            node = node.value
        else:
            return node


def _is_model(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id == MODEL


def _is_table_expr(node: ast.AST) -> bool:
    """`CareGap._meta.db_table`."""
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "db_table"
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "_meta"
        and _is_model(node.value.value)
    )


def _gap_names(tree: ast.AST) -> tuple[set[str], set[str]]:
    """Names bound to a gap (`CareGap(...)`, `CareGap.objects...get(...)`) and to the table's name."""
    gaps, tables = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = {t.id for t in targets if isinstance(t, ast.Name)}
            if _is_table_expr(node.value):
                tables |= names
            elif isinstance(node.value, ast.Call) and _is_model(_root(node.value)):
                gaps |= names
    return gaps, tables


def _text(node: ast.AST, tables: set[str]) -> str | None:
    """A string literal or f-string as text, with `CareGap._meta.db_table` (or a name for it) marked."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if _is_table_expr(node) or (isinstance(node, ast.Name) and node.id in tables):
        return TABLE_PLACEHOLDER
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append(str(value.value))
            elif _is_table_expr(value.value) or (
                isinstance(value.value, ast.Name) and value.value.id in tables
            ):
                parts.append(TABLE_PLACEHOLDER)
            else:
                parts.append("{}")
        return "".join(parts)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mod):
        left, right = _text(node.left, tables), _text(node.right, tables)
        if left is not None and right is not None:
            return left + right
    return None


def _sql_writes(text: str) -> bool:
    for match in SQL_WRITE.finditer(text):
        target = match.group(2).strip('"`;(').lower()
        if target in (TABLE, TABLE_PLACEHOLDER.lower()) or target.startswith(TABLE_PLACEHOLDER):
            return True
    return False


def _copies(call: ast.Call) -> bool:
    """A call of a function named like a COPY helper with the model among its arguments."""
    name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
    arguments = [*call.args, *(keyword.value for keyword in call.keywords)]
    return "copy" in name.lower() and any(_is_model(argument) for argument in arguments)


def caregap_writes(source: str) -> list[str]:
    """Each place in `source` that writes the `CareGap` table, as "line N: what"."""
    tree = ast.parse(source)
    gap_names, table_names = _gap_names(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            receiver = _root(node.func.value)
            if (
                node.func.attr in ORM_WRITES
                and _is_model(receiver)
                and not isinstance(node.func.value, ast.Name)
            ):
                found.append(f"line {node.lineno}: CareGap ORM .{node.func.attr}()")
            elif (
                node.func.attr in INSTANCE_WRITES
                and isinstance(node.func.value, ast.Name)
                and (node.func.value.id in gap_names or re.fullmatch(r"(\w+_)?gap", node.func.value.id))
            ):
                found.append(f"line {node.lineno}: {node.func.value.id}.{node.func.attr}() on a gap")
        if isinstance(node, ast.Call) and _copies(node):
            found.append(f"line {node.lineno}: CareGap handed to a COPY helper")
        text = (
            _text(node, table_names) if isinstance(node, ast.Constant | ast.JoinedStr | ast.BinOp) else None
        )
        if text is not None and _sql_writes(text):
            found.append(f"line {node.lineno}: SQL writing {TABLE}")
    return sorted(set(found), key=lambda entry: int(entry.split(":")[0].split()[1]))


def _modules() -> list[Path]:
    return sorted(
        path
        for path in ROOT.rglob("*.py")
        if not SKIPPED_DIRS.intersection(path.relative_to(ROOT).parts[:-1])
    )


def test_no_module_outside_gaps_writes_caregap():
    offenders = {
        str(path.relative_to(ROOT)): writes
        for path in _modules()
        if (writes := caregap_writes(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}, "Write CareGap through gaps/services.py instead:\n" + "\n".join(
        f"{path}: {write}" for path, writes in offenders.items() for write in writes
    )


def test_the_scan_covers_the_apps_that_use_caregap():
    scanned = {str(path.relative_to(ROOT)) for path in _modules()}
    assert {"interventions/services.py", "predictions/services.py", "ratings/planning/services.py"} <= scanned
    assert not any(path.startswith(f"{OWNER}/") for path in scanned)


@pytest.mark.parametrize(
    "source",
    [
        "CareGap.objects.filter(pk__in=ids).update(version=F('version') + 1)",
        "CareGap.objects.bulk_update(gaps, ['priority_score'])",
        "CareGap.objects.bulk_create(rows, batch_size=5000)",
        "CareGap.objects.create(member=member)",
        "CareGap.objects.filter(contract=contract).delete()",
        "gap = CareGap.objects.get(pk=1)\ngap.save()",
        "current = CareGap(pk=1)\ncurrent.save(update_fields=['version'])",
        "cursor.execute('UPDATE gaps_caregap AS gap SET priority_score = 0')",
        'SQL = """\nINSERT INTO "gaps_caregap" (id) VALUES (1)\n"""',
        "cursor.execute('UPDATE gaps_caregap AS gap SET x = 1 ' 'WHERE gap.id = 2')",
        "cursor.execute(f'UPDATE {CareGap._meta.db_table} SET x = 1')",
        "table = CareGap._meta.db_table\ncursor.execute(f'INSERT INTO {table} (id) VALUES (1)')",
        "cursor.execute(f'DELETE FROM {CareGap._meta.db_table}')",
        "cursor.execute('UPDATE ' + CareGap._meta.db_table + ' SET x = 1')",
        "_copy(cursor, CareGap, ['id', 'member_id'], rows)",
        "copy_rows(cursor, model=CareGap, rows=rows)",
    ],
)
def test_the_scan_flags_writes(source):
    assert caregap_writes(source)


@pytest.mark.parametrize(
    "source",
    [
        "CareGap.objects.filter(contract=contract).values_list('pk', flat=True)",
        "CareGap.objects.visible_to(user).filter(pk__in=ids).only('pk')",
        "gaps_assign_bulk(gaps=CareGap.objects.filter(pk__in=ids), assignee=user)",
        "Intervention.objects.filter(pk=1).update(status='done')",
        "intervention.save()",
        "cursor.execute('SELECT id FROM gaps_caregap g JOIN members_member m ON m.id = g.member_id')",
        "cursor.execute('UPDATE predictions_prediction SET probability = 0 FROM gaps_caregap g')",
        "cursor.execute(f'SELECT count(*) FROM {CareGap._meta.db_table}')",
        "label = f'{CareGap._meta.verbose_name} updated'",
        "gap_pks = _reserve_ids(cursor, CareGap, count)",
        "_copy(cursor, Prediction, ['id'], rows)",
    ],
)
def test_the_scan_leaves_reads_alone(source):
    assert caregap_writes(source) == []
