"""The ``airflow-lineage`` command: query, draw, show, export and import lineage.

A thin layer over the Python API (:func:`airflow_lineage.connect`)::

    airflow-lineage [--store URL] [--account ID] query START_ARN... [options]
    airflow-lineage query --uri s3://bucket/model.tar.gz --direction ascendants --format tree
    airflow-lineage graph --uri s3://bucket/model.tar.gz --direction ascendants -o model.svg
    airflow-lineage show NAME_OR_ARN
    airflow-lineage export -o lineage.jsonl
    airflow-lineage import lineage.jsonl
    airflow-lineage db upgrade

Without ``--store`` the store is found as :func:`airflow_lineage.store.locate` says (the
lineage connection, ``[ml_lineage] store_url``, ``$AIRFLOW_HOME/lineage.db``); a store
that does not exist is reported, never created, except by ``db upgrade``.

Exit status: 0 on success, 1 when an entity is not found or the store fails, 2 for bad
usage or bad input. Expected errors print ``airflow-lineage: error: <message>`` on
stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airflow_lineage import records
from airflow_lineage.exceptions import EntityNotFoundError, LineageError
from airflow_lineage.model import (
    Action,
    Arn,
    Artifact,
    Association,
    Direction,
    Edge,
    Entity,
    LineageType,
    Vertex,
)
from airflow_lineage.query import DEFAULT_DEPTH, MAX_DEPTH, LineageFilter, LineageQuery
from airflow_lineage.store import LineageStore, connect, connect_admin
from airflow_lineage.store.interface import Sharing

__all__ = ["build_parser", "main", "parse_when"]

PROG = "airflow-lineage"
_KINDS = (LineageType.ARTIFACT, LineageType.ACTION, LineageType.CONTEXT)


# -- argument types ------------------------------------------------------------------


def _direction(text: str) -> Direction:
    """Parse a direction, case-insensitively (``ascendants`` or SageMaker's ``Ascendants``)."""
    for d in Direction:
        if text.lower() == d.value.lower():
            return d
    raise argparse.ArgumentTypeError(
        f"invalid choice: {text!r} (choose from ascendants, descendants, both)"
    )


def _lineage_type(text: str) -> LineageType:
    """Parse a lineage type, case-insensitively (``artifact`` or ``Artifact``)."""
    for lt in LineageType:
        if text.lower().replace("-", "") == lt.value.lower():
            return lt
    choices = ", ".join(lt.value for lt in LineageType)
    raise argparse.ArgumentTypeError(f"invalid choice: {text!r} (choose from {choices})")


def _depth(text: str) -> int:
    """Parse a walk depth: an integer from 0 to MAX_DEPTH."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_DEPTH:
        raise argparse.ArgumentTypeError(f"must be an integer from 0 to {MAX_DEPTH}, got {text!r}")
    return value


def _positive(text: str) -> int:
    """Parse a page size: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer of at least 1, got {text!r}")
    return value


def _property(text: str) -> tuple[str, str]:
    """Parse ``KEY=VALUE``."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"must be KEY=VALUE, got {text!r}")
    return key, value


def _lookup(field: str) -> Callable[[str], tuple[str, str]]:
    """Return an argument type that tags a value with the field it looks entities up by."""

    def tag(text: str) -> tuple[str, str]:
        """Tag ``text`` with the field."""
        return field, text

    return tag


def parse_when(text: str, *, now: datetime | None = None) -> datetime:
    """Parse a time bound: an ISO-8601 date or date and time, or a duration back from now.

    Dates and times without an offset are UTC; ``P7D`` means seven days before now.

    :raises ValueError: the text is none of these.
    """
    import pendulum  # lazy: only time filters need it

    try:
        parsed = pendulum.parse(text)
    except (ValueError, TypeError):  # pendulum's ParserError is a ValueError
        parsed = None
    if isinstance(parsed, pendulum.Duration) and not isinstance(parsed, pendulum.Interval):
        base = pendulum.instance(now) if now is not None else pendulum.now("UTC")
        try:
            moment = base - parsed
        except (OverflowError, ValueError):
            raise ValueError(f"{text!r} reaches before the year 1") from None
    elif isinstance(parsed, pendulum.DateTime):
        moment = parsed
    else:
        raise ValueError(
            f"{text!r} is not an ISO-8601 date, date and time, or duration (e.g. 2026-01-31, "
            "2026-01-31T12:00:00Z, P7D)"
        )
    utc = moment.in_timezone("UTC")
    return datetime(
        utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, utc.microsecond, UTC
    )


def _when(text: str) -> datetime:
    """Parse a time bound for argparse (see :func:`parse_when`)."""
    try:
        return parse_when(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


# -- the parser ----------------------------------------------------------------------


def _add_store_options(parser: argparse.ArgumentParser, *, default: Any) -> None:
    """Add ``--store`` and ``--account`` to ``parser``."""
    parser.add_argument(
        "--store",
        metavar="URL",
        default=default,
        help="SQLAlchemy URL of the lineage store (default: the lineage connection "
        "[ml_lineage] conn_id, else [ml_lineage] store_url, else the SQLite file "
        "$AIRFLOW_HOME/lineage.db)",
    )
    parser.add_argument(
        "--account",
        "--as-account",
        dest="account",
        metavar="ID",
        default=default,
        help="the 12-digit account to act as: on PostgreSQL the login's own (or a role "
        "the login holds); on SQLite whose view to apply (default: 000000000000)",
    )
    parser.add_argument(
        "--admin",
        action="store_true",
        default=default if default is argparse.SUPPRESS else False,
        help="unrestricted access to every account's lineage (backup, restore, moving "
        "lineage; on PostgreSQL the login must be a superuser or BYPASSRLS)",
    )


def _add_walk_options(p: argparse.ArgumentParser, *, include_edges: bool = True) -> None:
    """Add the start, direction, depth, filter and page options of ``query`` to ``p``
    (and ``--include-edges`` unless the command always includes them)."""
    p.add_argument("starts", nargs="*", metavar="START_ARN", help="ARN of a start entity")
    p.add_argument(
        "--uri",
        dest="lookups",
        type=_lookup("source_uri"),
        action="append",
        default=[],
        metavar="SOURCE_URI",
        help="start from every entity with this source URI (repeatable)",
    )
    p.add_argument(
        "--name",
        dest="lookups",
        type=_lookup("name"),
        action="append",
        default=[],
        metavar="NAME",
        help="start from every action, context or artifact with this name (repeatable)",
    )
    p.add_argument(
        "--direction",
        type=_direction,
        default=Direction.BOTH,
        metavar="{ascendants,descendants,both}",
        help="ascendants walks upstream, descendants downstream, both undirected "
        "(default: both; case-insensitive)",
    )
    p.add_argument(
        "--depth",
        type=_depth,
        default=DEFAULT_DEPTH,
        metavar="N",
        help=f"most associations from a start (default: {DEFAULT_DEPTH}, at most {MAX_DEPTH})",
    )
    p.add_argument(
        "--type",
        dest="types",
        action="append",
        default=[],
        metavar="TYPE",
        help="only entities of this type, e.g. Model, DataSet, Endpoint (repeatable)",
    )
    p.add_argument(
        "--lineage-type",
        dest="lineage_types",
        type=_lineage_type,
        action="append",
        default=[],
        metavar="{artifact,action,context,trialcomponent}",
        help="only entities of this lineage type (repeatable)",
    )
    for bound in ("created-after", "created-before", "modified-after", "modified-before"):
        p.add_argument(
            f"--{bound}",
            type=_when,
            metavar="WHEN",
            help=f"only entities {bound.replace('-', ' ')} WHEN (inclusive): an ISO-8601 "
            "date or date and time (UTC unless it says otherwise), or a duration such as "
            "P7D meaning that long before now",
        )
    p.add_argument(
        "--property",
        dest="properties",
        type=_property,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="only entities with this property; several match any of them (repeatable)",
    )
    if include_edges:
        p.add_argument(
            "--include-edges",
            action="store_true",
            help="also print the start entities, every entity on a path to a match, and the "
            "associations among them (implied by --format tree)",
        )
    p.add_argument(
        "--max-results",
        type=_positive,
        metavar="N",
        help="print one page of at most N vertices and the token of the next (default: every page)",
    )
    p.add_argument(
        "--next-token",
        metavar="TOKEN",
        help="continue a query run with --max-results from the page this token names",
    )


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``airflow-lineage`` command."""
    from airflow_lineage import __version__

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Query, show, export and import ML lineage (SageMaker-compatible).",
    )
    _add_store_options(parser, default=None)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    # The store options are accepted after the sub-command too; SUPPRESS keeps a value
    # given before it.
    common = argparse.ArgumentParser(add_help=False)
    _add_store_options(common, default=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    q = sub.add_parser(
        "query",
        parents=[common],
        help="walk the lineage graph from one or more start entities",
        description="Walk the lineage graph from start entities (ARNs, --uri, --name) and "
        "print the vertices reached. Filters select what is printed; they never stop the "
        "walk. Without --include-edges the start entities themselves are not printed.",
    )
    _add_walk_options(q)
    q.add_argument(
        "--format",
        choices=("table", "tree", "json"),
        default="table",
        help="table: one row per vertex; tree: the graph indented from each start; json: "
        "SageMaker's QueryLineage response (default: table)",
    )
    q.set_defaults(func=_cmd_query)

    gr = sub.add_parser(
        "graph",
        parents=[common],
        help="draw a query's result: Graphviz DOT, Mermaid, SVG or an HTML page",
        description="Run the same query as 'query' (same start, direction, depth and filter "
        "options; the start entities, every entity on a path to a match and the "
        "associations among them are drawn) and write it as a picture: vertices shaped "
        "and coloured by lineage type, labelled with type and name or URI, edges labelled "
        "with the association type, start entities outlined in red, left to right.",
    )
    _add_walk_options(gr, include_edges=False)
    gr.add_argument(
        "--format",
        choices=GRAPH_FORMATS,
        default=None,
        help="dot: Graphviz; mermaid: a Mermaid flowchart; svg: a picture (Graphviz's dot "
        "when installed, else the built-in layout); html: a self-contained page with pan, "
        "zoom and click-to-inspect (default: from the -o file's suffix, else dot)",
    )
    gr.add_argument(
        "--svg-engine",
        choices=("auto", "dot", "builtin"),
        default="auto",
        help="how svg is drawn: dot (Graphviz), builtin, or auto (dot when installed)",
    )
    gr.add_argument(
        "-o", "--output", metavar="FILE", help="write to FILE instead of standard output"
    )
    gr.set_defaults(func=_cmd_graph)

    s = sub.add_parser(
        "show",
        parents=[common],
        help="print one entity with all its fields and associations",
        description="Print one entity, found by ARN, name or source URI, with every field "
        "and its incoming and outgoing associations.",
    )
    s.add_argument("entity", metavar="ARN_OR_NAME", help="an ARN, a name or a source URI")
    s.add_argument("--format", choices=("text", "json"), default="text")
    s.set_defaults(func=_cmd_show)

    e = sub.add_parser(
        "export",
        parents=[common],
        help="write every entity and association as JSON lines",
        description="Write the whole store as JSON lines: every entity, then every "
        "association, one record a line (see airflow_lineage.records).",
    )
    e.add_argument(
        "-o", "--output", metavar="FILE", help="write to FILE instead of standard output"
    )
    e.set_defaults(func=_cmd_export)

    i = sub.add_parser(
        "import",
        parents=[common],
        help="read JSON lines written by export into the store",
        description="Read JSON lines (as written by export), check every record, then "
        "write them all in one transaction: a bad file writes nothing. An entity the "
        "store holds already takes the imported fields when the record is at least as "
        "new (by modified time), so the newer version wins; associations the store holds "
        "already are kept.",
    )
    i.add_argument("file", nargs="?", metavar="FILE", help="the file to read (default: stdin)")
    i.add_argument(
        "--keep-existing",
        action="store_true",
        help="leave entities the store holds already as they are, however old",
    )
    i.add_argument(
        "--rehome",
        action="store_true",
        help="copy every record into the target store's account and region (e.g. from "
        "the local store, region 'local', into SageMaker); each association keeps the "
        "account that added it (edges added by another account need --admin), and each "
        "copy whose original the store holds is linked to it with SameAs",
    )
    i.set_defaults(func=_cmd_import)

    g = sub.add_parser(
        "gate",
        parents=[common],
        help="check a model's provenance against a policy (the deployment gate)",
        description="Evaluate a provenance policy (YAML) on the model's whole upstream "
        "lineage and print the report. Exits 0 when the model passes, 3 when it is "
        "rejected. Records nothing (the LineageGateOperator records its verdicts).",
    )
    g.add_argument("model", nargs="?", metavar="MODEL_ARN", help="the model's ARN")
    g.add_argument(
        "--uri",
        metavar="SOURCE_URI",
        help="the model's source URI: the one artifact of a model type (Model, ModelPackage) "
        "with it; several are an error that lists them",
    )
    g.add_argument("--policy", required=True, metavar="FILE", help="the policy, a YAML file")
    g.add_argument("--format", choices=["markdown", "json"], default="markdown")
    g.set_defaults(func=_cmd_gate)

    for name, target, text in (
        ("share", "ACCOUNT", "share this account's lineage group with ACCOUNT (an invitation)"),
        ("accept", "OWNER", "accept the invitation of OWNER's lineage group"),
        ("revoke", "ACCOUNT", "stop sharing this account's lineage group with ACCOUNT"),
    ):
        sh = sub.add_parser(name, parents=[common], help=text, description=text + ".")
        sh.add_argument("other", metavar=target, help="a 12-digit account id")
        sh.set_defaults(func=_cmd_share, action=name)
    gr = sub.add_parser(
        "groups",
        parents=[common],
        help="list the lineage groups this account sees and its shares",
        description="List the lineage groups this account sees (its own, and those shared "
        "with it and accepted), then every share it is a party to.",
    )
    gr.set_defaults(func=_cmd_groups)

    o = sub.add_parser(
        "outbox",
        parents=[common],
        help="list or replay lineage records that capture could not write",
        description="Task runs whose lineage could not reach the store keep it in the "
        "outbox ([ml_lineage] outbox_dir). 'list' shows the waiting records and the "
        "dead-lettered ones with their errors. 'replay' writes every waiting record in "
        "order (idempotent: nothing is duplicated) and removes each one once it is "
        "committed; a record the store refuses moves to the dead-letter folder "
        "(<outbox>/dead) and the replay goes on. It exits 1 when records still wait or "
        "any are dead-lettered.",
    )
    o.add_argument("action", choices=["list", "replay"])
    o.add_argument(
        "--dir", metavar="DIR", help="the outbox folder (default: [ml_lineage] outbox_dir)"
    )
    o.add_argument(
        "--retry-dead",
        action="store_true",
        help="replay: move dead-lettered records back and try them again first",
    )
    o.set_defaults(func=_cmd_outbox)

    r = sub.add_parser(
        "relay",
        help="run the lineage relay in the foreground, or show a running one's counts",
        description="The lineage relay keeps lineage stores open for the task processes of "
        "this machine, which hand it their records instead of opening the store each. The "
        "scheduler starts one beside itself; run this next to other workers (e.g. a Celery "
        "worker) as a sidecar. It writes with the lineage connection, found as a task "
        "would find it.",
    )
    r.add_argument(
        "--socket", metavar="PATH", help="its Unix socket (default: [ml_lineage] relay_socket)"
    )
    r.add_argument(
        "--status",
        action="store_true",
        help="print the running relay's written and failed records, and exit (1: none runs)",
    )
    r.set_defaults(func=_cmd_relay)

    from airflow_lineage.cli_openlineage import add_openlineage_parser

    add_openlineage_parser(sub, common)

    d = sub.add_parser(
        "db",
        parents=[common],
        help="create or upgrade the lineage store's schema, or show its revision",
        description="'upgrade' creates the lineage store, or migrates it to this version's "
        "schema (run it as the role that owns the lineage tables; 'airflow db migrate' "
        "runs it too). 'current' prints the store's revision. 'check' exits 0 when the "
        "store is current, 1 otherwise. Task processes never change the schema.",
    )
    d.add_argument("action", choices=["upgrade", "current", "check"])
    d.set_defaults(func=_cmd_db)

    from airflow_lineage import cli_reproduce  # reproduce, diff, impact
    from airflow_lineage.cli_provenance import register

    cli_reproduce.add_commands(sub, common)
    register(sub, common)  # attest, verify
    return parser


# -- helpers -------------------------------------------------------------------------


@contextmanager
def _open_store(args: argparse.Namespace) -> Iterator[LineageStore]:
    """Open the store the options name and close it afterwards."""
    if getattr(args, "admin", False):
        store = connect_admin(args.store, account=args.account)  # the admin connection first
    else:
        store = connect(args.store, account=args.account)
    try:
        yield store
    finally:
        store.close()


def _out(text: str = "") -> None:
    """Print one line of output."""
    sys.stdout.write(text + "\n")


def _note(text: str) -> None:
    """Print a note for the person at the terminal (stderr, never in the output)."""
    sys.stderr.write(f"{PROG}: {text}\n")


def _find(
    store: LineageStore, *, name: str | None = None, source_uri: str | None = None
) -> list[Entity]:
    """Return the artifacts, actions and contexts with this name or source URI, oldest first."""
    found: list[Entity] = []
    for kind in _KINDS:
        page = store.list_entities(kind, name=name, source_uri=source_uri, ascending=True)
        found.extend(page.items)
    return found


def _is_arn(text: str) -> bool:
    """Return True when ``text`` is a SageMaker lineage ARN."""
    try:
        Arn.parse(text)
    except (ValueError, TypeError):
        return False
    return True


def _label(entity: Entity | None, arn: str) -> str:
    """Return what a person calls an entity: its name, else its source URI."""
    if entity is None:
        return arn
    return entity.name or entity.source_uri


def _describe(entity: Entity | None, vertex: Vertex | None, arn: str) -> str:
    """Return ``label (LineageType Type)``."""
    if entity is not None:
        return f"{_label(entity, arn)} ({entity.lineage_type.value} {entity.type})"
    if vertex is not None:
        return f"{arn} ({vertex.lineage_type.value} {vertex.type})"
    return arn


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], indent: str = "") -> list[str]:
    """Return aligned text columns, two spaces apart, without trailing blanks."""
    all_rows = [list(header), *(list(r) for r in rows)] if header else [list(r) for r in rows]
    if not all_rows:
        return []
    widths = [max(len(r[i]) for r in all_rows) for i in range(len(all_rows[0]))]
    return [
        (indent + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True))).rstrip()
        for r in all_rows
    ]


def _arrow(edge: Edge, forward: bool) -> str:
    """Return ``-[Type]->`` (parent is the source) or ``<-[Type]-`` (parent is the destination)."""
    kind = "" if edge.association_type is None else f"[{edge.association_type.value}]"
    return f"-{kind}->" if forward else f"<-{kind}-"


# -- query ---------------------------------------------------------------------------


@dataclass
class _Outcome:
    """A query's result, all pages merged, and the token of the page after it."""

    starts: list[str]
    vertices: list[Vertex]
    edges: list[Edge]
    next_token: str | None
    depth_cut_off: bool = False
    visibility_cut_off: bool = False


def _resolve_starts(store: LineageStore, args: argparse.Namespace) -> list[str]:
    """Return the start ARNs: the ARNs given, then the --uri and --name matches in order."""
    starts: list[str] = []
    for text in args.starts:
        if not _is_arn(text):
            raise ValueError(
                f"START {text!r} is not a SageMaker lineage ARN; "
                "give a source URI with --uri or a name with --name"
            )
        starts.append(text)
    for field, value in args.lookups:  # in command-line order
        found = _find(store, **{field: value})
        if not found:
            what = "is named" if field == "name" else "has the source URI"
            raise EntityNotFoundError(f"no lineage entity {what} {value!r}")
        starts.extend(e.arn for e in found)
    if not starts:
        raise ValueError("query needs a start entity: an ARN, --uri SOURCE_URI or --name NAME")
    return list(dict.fromkeys(starts))


def _build_query(args: argparse.Namespace, starts: list[str]) -> LineageQuery:
    """Build the lineage query the options describe."""
    properties: dict[str, str] = {}
    for key, value in args.properties:
        if properties.get(key, value) != value:
            raise ValueError(f"--property {key} is given twice; a filter holds one value a key")
        properties[key] = value
    filters = LineageFilter(
        types=tuple(args.types),
        lineage_types=tuple(args.lineage_types),
        created_after=args.created_after,
        created_before=args.created_before,
        modified_after=args.modified_after,
        modified_before=args.modified_before,
        properties=properties,
    )
    if args.next_token is not None and args.max_results is None:
        raise ValueError("--next-token continues a query run with --max-results; give both")
    return LineageQuery(
        start_arns=tuple(starts),
        direction=args.direction,
        include_edges=bool(args.include_edges or args.format == "tree"),
        max_depth=args.depth,
        filters=filters,
        max_results=args.max_results,
        next_token=args.next_token,
    )


def _collect(store: LineageStore, query: LineageQuery) -> _Outcome:
    """Run ``query``: every page when it has no ``max_results``, else the one page asked."""
    vertices: dict[str, Vertex] = {}
    edges: dict[tuple[str, str], Edge] = {}
    token = query.next_token
    depth_cut = hidden = False
    while True:
        page = store.query(replace(query, next_token=token))
        depth_cut, hidden = page.depth_cut_off, page.visibility_cut_off  # the same on every page
        for v in page.vertices:
            vertices.setdefault(v.arn, v)
        for e in page.edges:
            edges.setdefault((e.source_arn, e.destination_arn), e)
        token = page.next_token
        if token is None or query.max_results is not None:
            break
    return _Outcome(
        list(query.start_arns),
        list(vertices.values()),
        list(edges.values()),
        token,
        depth_cut,
        hidden,
    )


def _query_json(outcome: _Outcome) -> str:
    """Return the result as SageMaker's QueryLineage response."""
    response: dict[str, Any] = {
        "Vertices": [
            {"Arn": v.arn, "Type": v.type, "LineageType": v.lineage_type.value}
            for v in outcome.vertices
        ],
        "Edges": [
            {"SourceArn": e.source_arn, "DestinationArn": e.destination_arn}
            | ({} if e.association_type is None else {"AssociationType": e.association_type.value})
            for e in outcome.edges
        ],
    }
    if outcome.next_token is not None:
        response["NextToken"] = outcome.next_token
    if outcome.depth_cut_off or outcome.visibility_cut_off:  # not in SageMaker's response
        response["CutOff"] = {
            "Depth": outcome.depth_cut_off,
            "Visibility": outcome.visibility_cut_off,
        }
    return json.dumps(response, indent=2)


def _query_table(outcome: _Outcome, entities: dict[str, Entity]) -> list[str]:
    """Return the result as a table, one row per vertex."""
    rows = [
        [v.lineage_type.value, v.type, _label(entities.get(v.arn), v.arn), v.arn]
        for v in outcome.vertices
    ]
    return _table(["LINEAGE TYPE", "TYPE", "NAME/URI", "ARN"], rows)


def _query_tree(outcome: _Outcome, direction: Direction, entities: dict[str, Entity]) -> list[str]:
    """Return the result as a tree from each start, following the returned edges.

    An entity reached a second time is printed with ``(see above)`` and not expanded, so
    shared ancestors and cycles print once.
    """
    order = {v.arn: i for i, v in enumerate(outcome.vertices)}
    by_arn = {v.arn: v for v in outcome.vertices}
    children: dict[str, list[tuple[str, Edge, bool]]] = {}
    for e in outcome.edges:
        if direction is not Direction.ASCENDANTS:
            children.setdefault(e.source_arn, []).append((e.destination_arn, e, True))
        if direction is not Direction.DESCENDANTS:
            children.setdefault(e.destination_arn, []).append((e.source_arn, e, False))
    for kids in children.values():
        kids.sort(key=lambda k: (order.get(k[0], len(order)), k[0], not k[2]))

    lines: list[str] = []
    shown: set[str] = set()
    # (arn, prefix of its line, prefix of its children's lines, how it was reached)
    stack: list[tuple[str, str, str, tuple[Edge, bool] | None]] = [
        (arn, "", "", None) for arn in reversed(outcome.starts)
    ]
    while stack:
        arn, head, indent, via = stack.pop()
        text = _describe(entities.get(arn), by_arn.get(arn), arn)
        if via is not None:
            text = f"{_arrow(*via)} {text}"
        if arn in shown:
            lines.append(f"{head}{text} (see above)")
            continue
        lines.append(head + text)
        shown.add(arn)
        came_by = None if via is None else via[0]
        kids = [k for k in children.get(arn, ()) if k[1] != came_by]
        for n, (child, edge, forward) in reversed(list(enumerate(kids))):
            last = n == len(kids) - 1
            stack.append(
                (
                    child,
                    indent + ("└── " if last else "├── "),
                    indent + ("    " if last else "│   "),
                    (edge, forward),
                )
            )
    return lines


def _cmd_query(args: argparse.Namespace) -> int:
    """Run ``airflow-lineage query``."""
    with _open_store(args) as store:
        starts = _resolve_starts(store, args)
        query = _build_query(args, starts)
        outcome = _collect(store, query)
        if args.format == "json":
            _out(_query_json(outcome))
            return 0
        wanted = [*outcome.starts, *(v.arn for v in outcome.vertices)]
        entities = store.get_many(list(dict.fromkeys(wanted)))
    if args.format == "tree":
        lines = _query_tree(outcome, query.direction, entities)
    else:
        lines = _query_table(outcome, entities)
    for line in lines:
        _out(line)
    if outcome.next_token is not None:
        _note(
            f"more results: run again with the same options and --next-token {outcome.next_token}"
        )
    return 0


# -- graph ---------------------------------------------------------------------------

GRAPH_FORMATS = ("dot", "mermaid", "svg", "html")
_SUFFIX_FORMATS = {
    ".dot": "dot",
    ".gv": "dot",
    ".mmd": "mermaid",
    ".mermaid": "mermaid",
    ".svg": "svg",
    ".html": "html",
    ".htm": "html",
}


def _graph_format(args: argparse.Namespace) -> str:
    """Return the format asked for, else the one the output file's suffix names, else dot."""
    if args.format is not None:
        return str(args.format)
    if args.output not in (None, "-"):
        return _SUFFIX_FORMATS.get(Path(args.output).suffix.lower(), "dot")
    return "dot"


def _cmd_graph(args: argparse.Namespace) -> int:
    """Run ``airflow-lineage graph``."""
    from airflow_lineage import render

    args.include_edges = True
    fmt = _graph_format(args)
    with _open_store(args) as store:
        starts = _resolve_starts(store, args)
        query = _build_query(args, starts)
        outcome = _collect(store, query)
        graph = render.build_graph(
            store,
            outcome.vertices,
            outcome.edges,
            outcome.starts,
            truncated=outcome.next_token is not None,
        )
    if fmt == "svg":
        text = render.to_svg(graph, engine=args.svg_engine)
    else:
        title = "ML lineage: " + ", ".join(n.label for n in graph.nodes if n.start)
        text = render.render(graph, fmt, title=title[:200])
    if args.output in (None, "-"):
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        path = Path(args.output)
        path.write_text(text, encoding="utf-8")
        _note(f"wrote {len(graph.nodes)} vertices and {len(graph.edges)} edges ({fmt}) to {path}")
    if outcome.next_token is not None:
        _note(
            f"more results: run again with the same options and --next-token {outcome.next_token}"
        )
    return 0


# -- show ----------------------------------------------------------------------------


def _resolve_one(store: LineageStore, text: str) -> Entity:
    """Return the one entity an ARN, a name or a source URI names."""
    if _is_arn(text):
        return store.get(text)
    found = _find(store, name=text) or _find(store, source_uri=text)
    if not found:
        raise EntityNotFoundError(f"no lineage entity has the ARN, name or source URI {text!r}")
    if len(found) > 1:
        arns = "\n  ".join(e.arn for e in found)
        raise ValueError(f"{text!r} names {len(found)} entities; give one ARN:\n  {arns}")
    return found[0]


def _mapping_lines(values: Mapping[str, str]) -> list[str]:
    """Return ``key=value`` lines, or ``-`` for an empty mapping."""
    return [f"{k}={v}" for k, v in values.items()] or ["-"]


def _show_text(
    entity: Entity,
    incoming: list[Association],
    outgoing: list[Association],
    others: dict[str, Entity],
) -> list[str]:
    """Return an entity's fields, one a line, then its associations."""
    fields: list[tuple[str, list[str]]] = [
        ("Arn", [entity.arn]),
        ("LineageType", [entity.lineage_type.value]),
        ("Type", [entity.type]),
        ("Name", [entity.name or "-"]),
        ("SourceUri", [entity.source_uri]),
    ]
    if isinstance(entity, Artifact):
        types = [f"{st.id_type.value} {st.value}" for st in entity.source_types]
        fields.append(("SourceTypes", types or ["-"]))
    else:
        if isinstance(entity, Action):
            fields.append(("Status", [entity.status.value]))
        fields += [
            ("Description", [entity.description or "-"]),
            ("SourceType", [entity.source_type or "-"]),
            ("SourceId", [entity.source_id or "-"]),
        ]
    modified = entity.modified if entity.modified is not None else entity.created
    fields += [
        ("Properties", _mapping_lines(entity.properties)),
        ("MetadataProperties", _mapping_lines(entity.metadata_properties)),
        ("Tags", _mapping_lines(entity.tags)),
        ("Created", [records.format_time(entity.created)]),
        ("Modified", [records.format_time(modified)]),
        ("LineageGroup", [entity.lineage_group_arn]),
    ]
    width = max(len(name) for name, _ in fields) + 2
    lines = []
    for name, values in fields:
        lines.append(f"{name:<{width}}{values[0]}".rstrip())
        lines += [" " * width + v for v in values[1:]]
    for title, assocs, forward in (("Incoming", incoming, False), ("Outgoing", outgoing, True)):
        lines.append("")
        lines.append(f"{title} associations ({len(assocs)})")
        rows = []
        for a in assocs:
            other = a.destination_arn if forward else a.source_arn
            rows.append(
                [_arrow(a.edge(), forward), _describe(others.get(other), None, other), other]
            )
        lines += _table([], rows, indent="  ")
    return lines


def _cmd_show(args: argparse.Namespace) -> int:
    """Run ``airflow-lineage show``."""
    with _open_store(args) as store:
        entity = _resolve_one(store, args.entity)
        incoming = list(store.list_associations(destination_arn=entity.arn, ascending=True).items)
        outgoing = list(store.list_associations(source_arn=entity.arn, ascending=True).items)
        ends = [a.source_arn for a in incoming] + [a.destination_arn for a in outgoing]
        others = store.get_many(list(dict.fromkeys(ends)))
    if args.format == "json":
        doc = {
            "Entity": records.to_record(entity),
            "Incoming": [records.to_record(a) for a in incoming],
            "Outgoing": [records.to_record(a) for a in outgoing],
        }
        _out(json.dumps(doc, indent=2, sort_keys=True))
    else:
        for line in _show_text(entity, incoming, outgoing, others):
            _out(line)
    return 0


# -- export / import -----------------------------------------------------------------


class _Counter:
    """Count entities and associations as they stream past."""

    def __init__(self) -> None:
        self.entities = 0
        self.associations = 0

    def __call__(self, items: Iterable[Entity | Association]) -> Iterator[Entity | Association]:
        for item in items:
            if isinstance(item, Association):
                self.associations += 1
            else:
                self.entities += 1
            yield item

    def __str__(self) -> str:
        return f"{self.entities} entities and {self.associations} associations"


def _cmd_export(args: argparse.Namespace) -> int:
    """Run ``airflow-lineage export``."""
    count = _Counter()
    with _open_store(args) as store:
        if args.output in (None, "-"):
            records.dump(count(store.export()), sys.stdout)
            sys.stdout.flush()
            return 0
        path = Path(args.output)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            try:
                fh = open(tmp, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
            except OSError as e:  # name the file asked for, not the temporary one
                raise OSError(e.errno, e.strerror, str(path)) from e
            with fh:
                records.dump(count(store.export()), fh)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    _note(f"exported {count} to {path}")
    return 0


def _read(file: str | None) -> tuple[list[Entity], list[Association], dict[str, int]]:
    """Read and check a whole records file, or standard input."""
    if file in (None, "-"):
        return records.load_all(sys.stdin)
    with open(str(file), encoding="utf-8") as fh:
        return records.load_all(fh)


def _rehomed_key(key: str, store: LineageStore) -> str:
    """Return a line-map key (an ARN, or "source destination") in the store's account."""
    return " ".join(records.moved_arn(arn, store.account, store.region) for arn in key.split(" "))


def _cmd_import(args: argparse.Namespace) -> int:
    """Run ``airflow-lineage import``."""
    source = args.file if args.file not in (None, "-") else "standard input"
    entities, associations, lines = _read(args.file)
    with _open_store(args) as store:
        links: list[Association] = []
        if args.rehome:
            originals = [e.arn for e in entities]
            moved = list(records.rehome([*entities, *associations], store.account, store.region))
            entities = [e for e in moved if not isinstance(e, Association)]
            associations = [a for a in moved if isinstance(a, Association)]
            lines = {_rehomed_key(k, store): v for k, v in lines.items()}
            # Each copy is linked to its original where the store holds (and shows) it.
            held = store.get_many(originals)
            links = records.same_as_links(held, store.account, store.region)
        in_file = {e.arn for e in entities}
        outside = {a.source_arn for a in associations} | {a.destination_arn for a in associations}
        present = store.get_many(sorted(in_file | outside))
        for a in associations:
            for field, arn in (
                ("source_arn", a.source_arn),
                ("destination_arn", a.destination_arn),
            ):
                if arn not in in_file and arn not in present:
                    line = lines[records.association_key(a)]
                    raise EntityNotFoundError(
                        f"line {line}: field {field!r}: no lineage entity has the ARN {arn}, "
                        "in the file or in the store; nothing was imported"
                    )
        existing = sum(e.arn in present for e in entities)
        store.write(entities, [*associations, *links], upsert=not args.keep_existing)
    message = (
        f"imported {len(entities)} entities and {len(associations)} associations from {source}"
    )
    if existing:
        kept = "each was kept as it is" if args.keep_existing else "the newer version of each won"
        message += f" ({existing} entities were in the store already; {kept})"
    if links:
        message += f"; linked {len(links)} copies to their originals (SameAs)"
    _note(message)
    return 0


def _cmd_gate(args: argparse.Namespace) -> int:
    """Run ``airflow-lineage gate``."""
    from pathlib import Path

    from airflow_lineage.gate import evaluate, find_model
    from airflow_lineage.policy import Policy

    if bool(args.model) == bool(args.uri):
        raise ValueError("name the model by its ARN or by --uri (one of the two)")
    policy = Policy.from_yaml(Path(args.policy))  # a bad policy: an error, not a verdict
    with _open_store(args) as store:
        arn = args.model or find_model(store, args.uri)  # artifacts of a model type only
        verdict = evaluate(store, arn, policy)
    if args.format == "json":
        _out(json.dumps(verdict.to_json(), indent=2, sort_keys=True))
    else:
        _out(verdict.to_markdown().rstrip("\n"))
    return 0 if verdict.passed else 3


def _cmd_share(args: argparse.Namespace) -> int:
    """Run ``airflow-lineage share|accept|revoke``."""
    with _open_store(args) as store:
        share = getattr(store, args.action)(args.other)
    _out(f"{share.owner} -> {share.consumer}\t{share.status.value}\t{share.lineage_group_arn}")
    return 0


def _cmd_groups(args: argparse.Namespace) -> int:
    """Run ``airflow-lineage groups``."""
    with _open_store(args) as store:
        groups = store.lineage_groups()
        shares = store.shares() if isinstance(store, Sharing) else []
    rows = [("LINEAGE GROUP", "ACCOUNT", "ARN")]
    rows += [(g.name, g.account, g.arn) for g in groups]
    for line in _table(rows[0], rows[1:]):
        _out(line)
    if shares:
        _out()
        share_rows = [(s.owner, s.consumer, s.status.value) for s in shares]
        for line in _table(("OWNER", "CONSUMER", "STATUS"), share_rows):
            _out(line)
    return 0


def _cmd_outbox(args: argparse.Namespace) -> int:
    """Run ``airflow-lineage outbox list|replay``."""
    from pathlib import Path

    from airflow_lineage import config
    from airflow_lineage.capture.outbox import Outbox

    outbox = Outbox(Path(args.dir) if args.dir else config.outbox_dir())
    if args.action == "list":
        for path in outbox.pending():
            try:
                ents, assocs, _ = outbox.read(path)
                what = f"{len(ents)} entities\t{len(assocs)} associations"
            except (OSError, ValueError) as e:  # listed all the same; replay dead-letters it
                what = f"unreadable: {e}"
            _out(f"pending\t{path.name}\t{what}")
        for path in outbox.dead():
            error = outbox.error_of(path).strip().splitlines()
            _out(f"dead\t{path.name}\t{error[-1] if error else 'no error saved'}")
        _note(
            f"{len(outbox)} record(s) waiting, {len(outbox.dead())} dead-lettered "
            f"in {outbox.directory}"
        )
        return 0
    counts = {"replayed": 0, "dead": 0}

    def report(path: Path, outcome: str) -> None:
        counts[outcome] += 1
        if outcome == "dead":
            error = outbox.error_of(outbox.dead_directory / path.name).strip()
            _note(f"dead-lettered {path.name}: {error}")

    with _open_store(args) as store:
        if args.retry_dead:
            outbox.requeue_dead()
        try:
            outbox.replay(store, on_record=report)
        finally:  # also when the store stopped answering part way
            waiting, dead = len(outbox), len(outbox.dead())
            _note(
                f"replayed {counts['replayed']} record(s) from {outbox.directory}; "
                f"{counts['dead']} dead-lettered now; {waiting} waiting, {dead} in "
                f"{outbox.dead_directory}"
            )
    return 0 if waiting == 0 and dead == 0 else 1


def _cmd_relay(args: argparse.Namespace) -> int:
    """Run ``airflow-lineage relay [--status]``."""
    import time
    from pathlib import Path

    from airflow_lineage import config
    from airflow_lineage.capture import relay

    if args.socket:
        path = relay.socket_path(Path(args.socket).expanduser())
    else:
        configured = config.relay_socket()
        if configured is None:
            raise ValueError("[ml_lineage] relay_socket is off: pass --socket PATH")
        path = configured
    if args.status:
        client = relay.RelayClient(path)
        try:
            counts = client.stats(time.monotonic() + 5)
        except relay.RelayError as e:
            _note(str(e))
            return 1
        finally:
            client.close()
        _out(" ".join(f"{k}={v}" for k, v in counts.items()))
        return 0
    spec = relay.StoreSpec(config.conn_id(), config.capture_timeout())
    _note(f"lineage relay on {path} (Ctrl-C stops it)")
    if relay.serve(path, warm=spec) != 0:
        _note(f"another lineage relay serves {path}")
        return 1
    return 0


# -- db --------------------------------------------------------------------------------


def _cmd_db(args: argparse.Namespace) -> int:
    """Run ``airflow-lineage db upgrade|current|check``."""
    from airflow_lineage.store import current, locate, upgrade
    from airflow_lineage.store.schema import SCHEMA_REVISION

    where = locate(args.store, admin=True)
    if where.url.startswith("sagemaker://"):
        raise ValueError(f"{where.describe()}: SageMaker has no schema to migrate")
    if args.action == "upgrade":
        before, after = upgrade(where.url)
        if before == after:
            _note(f"{where.describe()} is current (revision {after})")
        else:
            _note(f"upgraded {where.describe()} from revision {before or 'none'} to {after}")
        return 0
    revision = current(where.url)
    if args.action == "current":
        _out(revision or "none")
        _note(f"store: {where.describe()}")
        return 0
    if revision == SCHEMA_REVISION:
        _note(f"{where.describe()} is current (revision {revision})")
        return 0
    from airflow_lineage.store.migrate import schema_problem

    _note(f"{where.describe()}: {schema_problem(revision)}")
    return 1


# -- entry point ---------------------------------------------------------------------


def _exit_code(code: object) -> int:
    """Return the exit status of a SystemExit code."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    sys.stderr.write(f"{code}\n")
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``airflow-lineage`` command and return its exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version, or a usage error argparse printed
        return _exit_code(e.code)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except (ValueError, TypeError) as e:  # bad usage or bad input
        return _error(str(e), 2)
    except LineageError as e:  # not found, store failure
        return _error(str(e), 1)
    except BrokenPipeError:  # e.g. piped into head: stop quietly
        _silence_stdout()
        return 1
    except OSError as e:  # a file that cannot be read or written
        where = f": {e.filename}" if e.filename else ""
        return _error(f"{e.strerror or e}{where}", 1)
    except KeyboardInterrupt:
        return 130


def _error(message: str, code: int) -> int:
    """Print an error message and return ``code``."""
    sys.stderr.write(f"{PROG}: error: {message}\n")
    return code


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that exiting does not fail on a closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
