"""Building the table of :mod:`._extractors` from the installed yt-dlp (imports it:
≈0.5 s, once per yt-dlp version).

Every extractor with its own ``suitable`` in yt-dlp only narrows its pattern:
``False if OtherIE.suitable(url) else super().suitable(url)``, a query parameter
that must be absent, and the like. Those shapes are read from the method's source
as data (never run); anything else becomes :data:`ASK` and yt-dlp itself answers
for that extractor.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from typing import Any

from mediaferry.sources._extractor_table import ASK, DEFAULT_METHODS, Entry, Rule
from mediaferry.sources._literals import required_text

__all__ = ["build_table", "read_rule"]

_SKIP = frozenset({"Generic"})  # claims every URL


def _name(node: ast.expr) -> str | None:
    return node.id if isinstance(node, ast.Name) else None


def _is_url(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id == "url"


def _call_on_url(node: ast.expr, attr: str) -> ast.expr | None:
    """``X.attr(url)`` → X."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == attr
        and len(node.args) == 1
        and not node.keywords
        and _is_url(node.args[0])
    ):
        return node.func.value
    return None


def _is_base(node: ast.expr) -> bool:
    """``super().suitable(url)``, ``super(X, cls).suitable(url)`` or
    ``cls._match_valid_url(url)``: the extractor's own pattern."""
    target = _call_on_url(node, "suitable")
    if target is not None:
        return isinstance(target, ast.Call) and _name(target.func) == "super"
    target = _call_on_url(node, "_match_valid_url")
    return target is not None and _name(target) == "cls"


class _Unreadable(Exception):
    pass


class _RuleReader:
    def __init__(self) -> None:
        self.exclude: list[str] = []
        self.query: list[str] = []
        self.unlike: list[str] = []
        self.tuples: dict[str, list[str]] = {}
        self.qs_vars: set[str] = set()

    def names(self, node: ast.expr) -> list[str]:
        if isinstance(node, ast.Tuple | ast.List):
            found = [_name(e) for e in node.elts]
            if all(found):
                return [n for n in found if n]
        if isinstance(node, ast.Name) and node.id in self.tuples:
            return self.tuples[node.id]
        raise _Unreadable

    def declines_if(self, node: ast.expr) -> None:
        """Record a condition under which ``suitable`` answers False."""
        if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):
            for value in node.values:
                self.declines_if(value)
            return
        target = _call_on_url(node, "suitable")
        if target is not None and _name(target):
            self.exclude.append(str(_name(target)))
            return
        target = _call_on_url(node, "_match_valid_url")
        if target is not None and _name(target) and _name(target) != "cls":
            self.unlike.append(str(_name(target)))
            return
        if (  # any(ie.suitable(url) for ie in (A, B))
            isinstance(node, ast.Call)
            and _name(node.func) == "any"
            and len(node.args) == 1
            and isinstance(node.args[0], ast.GeneratorExp)
            and len(node.args[0].generators) == 1
        ):
            gen = node.args[0]
            comp = gen.generators[0]
            var = _name(comp.target)
            inner = _call_on_url(gen.elt, "suitable")
            if var and inner is not None and _name(inner) == var and not comp.ifs:
                self.exclude.extend(self.names(comp.iter))
                return
        if (  # qs.get('list', [None])[0]
            isinstance(node, ast.Subscript)
            and isinstance(node.slice, ast.Constant)
            and node.slice.value == 0
            and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Attribute)
            and node.value.func.attr == "get"
            and _name(node.value.func.value) in self.qs_vars
            and len(node.value.args) == 2
            and isinstance(node.value.args[0], ast.Constant)
            and isinstance(node.value.args[0].value, str)
            and isinstance(node.value.args[1], ast.List)
            and len(node.value.args[1].elts) == 1
            and isinstance(node.value.args[1].elts[0], ast.Constant)
            and node.value.args[1].elts[0].value is None
        ):
            self.query.append(node.value.args[0].value)
            return
        raise _Unreadable

    def result(self, node: ast.expr) -> None:
        """The returned expression: the own pattern, narrowed."""
        if _is_base(node):
            return
        if (
            isinstance(node, ast.IfExp)
            and isinstance(node.body, ast.Constant)
            and node.body.value is False
            and _is_base(node.orelse)
        ):
            self.declines_if(node.test)
            return
        if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
            bases = [v for v in node.values if _is_base(v)]
            others = [v for v in node.values if not _is_base(v)]
            if len(bases) == 1 and all(
                isinstance(v, ast.UnaryOp) and isinstance(v.op, ast.Not) for v in others
            ):
                for v in others:
                    assert isinstance(v, ast.UnaryOp)
                    self.declines_if(v.operand)
                return
        raise _Unreadable

    def statement(self, stmt: ast.stmt) -> None:
        if isinstance(stmt, ast.ImportFrom) and [a.name for a in stmt.names] == ["parse_qs"]:
            return
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            return  # a docstring
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and _name(stmt.targets[0]):
            var = str(_name(stmt.targets[0]))
            value = stmt.value
            if (
                isinstance(value, ast.Call)
                and _name(value.func) == "parse_qs"
                and len(value.args) == 1
                and _is_url(value.args[0])
            ):
                self.qs_vars.add(var)
            else:
                self.tuples[var] = self.names(value)
            return
        if (
            isinstance(stmt, ast.If)
            and not stmt.orelse
            and len(stmt.body) == 1
            and isinstance(stmt.body[0], ast.Return)
            and isinstance(stmt.body[0].value, ast.Constant)
            and stmt.body[0].value.value is False
        ):
            self.declines_if(stmt.test)
            return
        raise _Unreadable


def read_rule(source: str) -> Rule | str:
    """The :class:`Rule` of a ``suitable`` method's source, or :data:`ASK`."""
    try:
        tree = ast.parse(textwrap.dedent(source))
    except SyntaxError:
        return ASK
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.FunctionDef):
        return ASK
    body = tree.body[0].body
    if not body or not isinstance(body[-1], ast.Return) or body[-1].value is None:
        return ASK
    reader = _RuleReader()
    try:
        for stmt in body[:-1]:
            reader.statement(stmt)
        reader.result(body[-1].value)
    except _Unreadable:
        return ASK
    return Rule(tuple(reader.exclude), tuple(reader.query), tuple(reader.unlike))


def _qualname(ie: Any, name: str) -> str:
    return str(getattr(getattr(ie, name, None), "__qualname__", ""))


def _entry(ie: Any) -> Entry:
    valid = ie._VALID_URL
    if valid is False or valid is None:
        patterns: tuple[str, ...] = ()
    elif isinstance(valid, str):
        patterns = (valid,)
    else:
        patterns = tuple(valid)
    rule: Rule | str | None = None
    if _qualname(ie, "_match_valid_url") not in DEFAULT_METHODS:
        rule = ASK
    elif _qualname(ie, "suitable") not in DEFAULT_METHODS:
        try:
            rule = read_rule(inspect.getsource(ie.suitable))
        except (OSError, TypeError):
            rule = ASK
    own_id = any(_qualname(ie, n) not in DEFAULT_METHODS for n in ("get_temp_id", "_match_id"))
    need = required_text(list(patterns)) if patterns and rule != ASK else None
    return Entry(str(ie.ie_key()), ie.__name__, patterns, need, rule, own_id)


def build_table() -> tuple[Entry, ...]:
    """Read yt-dlp's extractor list (imports yt-dlp: ≈0.5 s)."""
    from yt_dlp.extractor import gen_extractor_classes

    entries = [_entry(ie) for ie in gen_extractor_classes() if ie.ie_key() not in _SKIP]
    known = {e.cls for e in entries}
    # a rule naming a class outside the table cannot be answered from it
    return tuple(
        Entry(e.key, e.cls, e.patterns, None, ASK, e.own_id)
        if isinstance(e.rule, Rule) and not {*e.rule.exclude, *e.rule.unlike} <= known
        else e
        for e in entries
    )
