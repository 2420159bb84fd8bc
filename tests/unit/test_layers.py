"""The import layers of DESIGN.md §2 hold: nothing imports upward or sideways.

Every module under ``src/mediaferry`` is parsed (not imported) and every import of a
``mediaferry`` module is checked — at the top, inside functions and under
``TYPE_CHECKING`` alike, since each one couples the two packages.

The layers, top to bottom (a unit may import its own modules and any unit of a
*lower* layer; that is the whole list of allowed edges, plus :data:`SIDEWAYS`):

==========  =============================================================
entry       ``__main__`` (``python -m mediaferry`` runs the CLI)
interfaces  bot, cli, web
wiring      ``app`` — builds the services (db, bus, job service, pipeline,
            deliverers) and hands them to the interfaces; nothing below imports it
core        jobs, follows
engine      sources, transfer, media, delivery
storage     db, files, net (SSRF-safe HTTP client, yt-dlp runner, cookies), telegram
            (the MTProto adapter of §13: like net's yt-dlp runner, sources describe
            with it, transfer fetches with it, delivery sends with it)
base        config, logging, urls
foundation  errors, plan (shared plain data), the package ``__init__``, and every
            private top-level helper module ``_name.py`` (e.g. urls' address table)
==========  =============================================================
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import mediaferry

ROOT = Path(mediaferry.__file__).parent

LAYERS: tuple[tuple[str, frozenset[str]], ...] = (
    ("entry", frozenset({"__main__"})),
    ("interfaces", frozenset({"bot", "cli", "web"})),
    ("wiring", frozenset({"app"})),
    ("core", frozenset({"jobs", "follows"})),
    ("engine", frozenset({"sources", "transfer", "media", "delivery"})),
    ("storage", frozenset({"db", "files", "net", "telegram"})),
    ("base", frozenset({"config", "logging", "urls"})),
    ("foundation", frozenset({"errors", "plan", "__init__"})),
)

# Imports between units of the same layer that are allowed, each with its reason.
# Every pair here must be acyclic with the rest (checked below).
SIDEWAYS: dict[tuple[str, str], str] = {
    ("follows", "jobs"): "a follow turns new entries into ordinary jobs through the job "
    "service; jobs never knows about follows",
    ("delivery", "media"): "a deliverer sends what media produced (parts, probes, "
    "thumbnails); media never knows how its result is delivered",
}

_RANKS = {unit: rank for rank, (_, units) in enumerate(LAYERS) for unit in units}
FOUNDATION = len(LAYERS) - 1


def rank_of(unit: str) -> int | None:
    """The layer of ``unit`` (0 is the top); private top-level helpers are foundation."""
    if unit in _RANKS:
        return _RANKS[unit]
    if unit.startswith("_") and not unit.startswith("__"):
        return FOUNDATION
    return None


@dataclass(frozen=True, slots=True)
class Edge:
    module: str  # importing module, dotted
    line: int
    target: str  # imported module, dotted

    def __str__(self) -> str:
        return f"{self.module}:{self.line} imports {self.target}"


def unit_of(module: str) -> str:
    """``mediaferry.sources.direct`` → ``sources``; ``mediaferry`` → ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> list[Edge]:
    """Every ``mediaferry`` import in ``path``, wherever it stands in the file."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    edges: list[Edge] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            # ``from mediaferry.bot import texts`` imports the module bot.texts
            targets = [_module_or_package(f"{stem}.{alias.name}", stem) for alias in node.names]
        else:
            continue
        edges += [
            Edge(module, node.lineno, t)
            for t in targets
            if t == "mediaferry" or t.startswith("mediaferry.")
        ]
    return edges


def _module_or_package(dotted: str, package: str) -> str:
    """``dotted`` if it names a module file or package, else ``package`` (an attribute)."""
    path = ROOT.parent.joinpath(*dotted.split("."))
    return dotted if path.with_suffix(".py").is_file() or path.is_dir() else package


def all_edges() -> list[Edge]:
    return [edge for path in sorted(ROOT.rglob("*.py")) for edge in imports_of(path)]


def allowed(edge: Edge) -> bool:
    src, dst = unit_of(edge.module), unit_of(edge.target)
    if src == dst:
        return True
    if (src, dst) in SIDEWAYS:
        return True
    src_rank, dst_rank = rank_of(src), rank_of(dst)
    assert src_rank is not None and dst_rank is not None, f"{edge}: unit without a layer"
    return dst_rank > src_rank  # a larger rank is a lower layer


def test_every_unit_has_a_layer() -> None:
    units = {unit_of(module_name(p)) for p in ROOT.rglob("*.py")}
    missing = sorted(u for u in units if rank_of(u) is None)
    assert not missing, f"modules outside every layer (add them to LAYERS): {missing}"


def test_no_upward_or_sideways_imports() -> None:
    bad = [str(edge) for edge in all_edges() if not allowed(edge)]
    assert not bad, "imports against DESIGN.md §2's layers:\n" + "\n".join(bad)


def test_sideways_exceptions_are_used_and_go_one_way() -> None:
    used = {(unit_of(e.module), unit_of(e.target)) for e in all_edges()}
    for src, dst in SIDEWAYS:
        assert rank_of(src) == rank_of(dst), f"{src} -> {dst} is not sideways; drop it"
        assert (dst, src) not in used, f"{dst} imports {src}: a cycle with the exception"
    stale = sorted(pair for pair in SIDEWAYS if pair not in used)
    assert not stale, f"exceptions nothing needs any more (remove them): {stale}"


def test_the_checker_sees_what_it_must() -> None:
    """The parser itself: relative, in-function and ``from package import module``."""
    edges = {(e.module, e.target) for e in all_edges()}
    assert ("mediaferry.transfer.http", "mediaferry.net.http") in edges
    assert ("mediaferry.web.server", "mediaferry.web.api") in edges  # from package import module
    assert ("mediaferry.web.health", "mediaferry") in edges  # from mediaferry import __version__
    assert ("mediaferry.cli.app", "mediaferry.cli.add") in edges  # inside a function
    # a made-up upward edge is refused, a downward one allowed
    assert not allowed(Edge("mediaferry.files.archive", 1, "mediaferry.jobs.control"))
    assert not allowed(Edge("mediaferry.sources.direct", 1, "mediaferry.transfer.http"))
    assert allowed(Edge("mediaferry.jobs.pipeline", 1, "mediaferry.sources.base"))


# Interfaces see only core services (DESIGN.md §2: "the bot never touches downloads or
# files; it calls core services"): bot/cli/web import their own package, the wiring
# (app), the core (jobs) and the base — nothing of engine or storage, except these:
INTERFACE_REACH = frozenset(
    {"app", "jobs", "follows", "config", "errors", "logging", "urls", "plan"}
)
INTERFACE_EXCEPTIONS: dict[tuple[str, str], str] = {
    ("bot", "mediaferry.db.models"): "Job rows are what JobService returns (annotations only)",
    ("web", "mediaferry.db.models"): "Job/MediaItem rows are what the services return",
    ("cli", "mediaferry.db.models"): "Job/MediaItem/AuthProfile rows are what the services "
    "return (annotations only)",
    ("bot", "mediaferry.delivery"): "the bot builds python-telegram-bot's Bot; the send "
    "limiter and the Telegram deliverer ride on it",
}


def interface_allowed(edge: Edge) -> bool:
    src, dst = unit_of(edge.module), unit_of(edge.target)
    if src == dst or dst in INTERFACE_REACH or dst.startswith("_") or dst == "__init__":
        return True
    return any(
        src == unit and (edge.target == prefix or edge.target.startswith(prefix + "."))
        for unit, prefix in INTERFACE_EXCEPTIONS
    )


def test_interfaces_reach_only_core_services() -> None:
    interfaces = {"bot", "cli", "web"}
    bad = [
        str(e) for e in all_edges() if unit_of(e.module) in interfaces and not interface_allowed(e)
    ]
    assert not bad, "interfaces importing engine/storage directly:\n" + "\n".join(bad)


def test_interface_exceptions_are_used() -> None:
    """An exception nothing needs any more is removed (the list only shrinks)."""
    edges = all_edges()
    stale = [
        pair
        for pair in INTERFACE_EXCEPTIONS
        if not any(
            unit_of(e.module) == pair[0]
            and unit_of(e.target) not in INTERFACE_REACH
            and (e.target == pair[1] or e.target.startswith(pair[1] + "."))
            for e in edges
        )
    ]
    assert not stale, f"interface exceptions nothing needs any more (remove them): {stale}"


def test_interfaces_hold_no_database_session() -> None:
    """No ``services.db`` and no SQLAlchemy in bot/, web/ or cli/."""
    found = []
    for unit in ("bot", "web", "cli"):
        for path in sorted((ROOT / unit).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            for needle in ("services.db", "import sqlalchemy", "from sqlalchemy"):
                if needle in text:
                    found.append(f"{path.relative_to(ROOT)}: {needle}")
    assert not found, found
