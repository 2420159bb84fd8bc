"""Only ``jobs/transition.py`` writes a job's ``status`` (DESIGN.md §4).

Every string in every module (SQL lives in strings) and every ORM ``values(...)``/
attribute write is checked; job creation (an INSERT of a PENDING row) is the one
other place a status is set, and is not an UPDATE.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import mediaferry

ROOT = Path(mediaferry.__file__).parent
OWNER = ROOT / "jobs" / "transition.py"
# ``status =`` between SET and WHERE (a status in the WHERE clause is a read)
SQL_WRITE = re.compile(
    r"UPDATE\s+jobs\s+SET\b(?:(?!\bWHERE\b)[^;])*?\bstatus\s*=", re.IGNORECASE | re.DOTALL
)


def writers() -> list[str]:
    found: list[str] = []
    for path in sorted(ROOT.rglob("*.py")):
        if path == OWNER:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if SQL_WRITE.search(node.value):
                    found.append(f"{where} SQL sets status")
            elif isinstance(node, ast.JoinedStr):
                text = "".join(
                    v.value for v in node.values if isinstance(v, ast.Constant) and
                    isinstance(v.value, str)
                )  # fmt: skip
                if SQL_WRITE.search(text):
                    found.append(f"{where} SQL sets status")
            elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "values":
                if any(k.arg == "status" for k in node.keywords):
                    found.append(f"{where} ORM values(status=...)")
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if (
                        isinstance(target, ast.Attribute)
                        and target.attr == "status"
                        and isinstance(target.value, ast.Name)
                        and target.value.id == "job"
                    ):
                        found.append(f"{where} job.status = ...")
    return found


def test_only_the_transition_module_writes_status() -> None:
    assert writers() == []


def test_the_check_recognises_a_status_write() -> None:
    assert SQL_WRITE.search("UPDATE jobs SET status = 'RUNNING', worker_id = :w WHERE id = 1")
    assert SQL_WRITE.search("update jobs set updated_at = :now,\\n status = :s where id = :id")
    assert not SQL_WRITE.search("UPDATE jobs SET cancel_requested = :yes WHERE status = :r")
