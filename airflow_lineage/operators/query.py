"""Lineage in a DAG: ``LineageQueryOperator`` and ``LineageImpactSensor``.

``LineageQueryOperator`` runs one lineage query (start entities by ARN or source URI,
direction, depth, filters) and returns (pushes to XCom) its result or a summary, so a
DAG can branch on lineage::

    upstream = LineageQueryOperator(
        task_id="upstream_data",
        uris=["file:///models/churn/model.pkl"],
        direction="Ascendants",
        types=["DataSet"],
        check_digests=True,          # is each data set still what the model was built on?
    )

    @task.branch
    def retrain_or_skip(ti=None):
        changed = ti.xcom_pull(task_ids="upstream_data")["changed"]
        return "train" if changed else "skip_training"

``LineageImpactSensor`` waits until nothing deployed is affected by a data set (every
endpoint that served a model made from it has been redeployed with another), and pushes
the impact it found; with ``soft_fail`` or a short ``timeout`` it is a check.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, BaseSensorOperator, PokeReturnValue

from airflow_lineage.store.base import LineageStore

__all__ = ["LineageImpactSensor", "LineageQueryOperator"]

RESULTS = ("summary", "full")


def _store(conn_id: str | None) -> LineageStore:
    from airflow_lineage.hooks.lineage import LineageHook

    return LineageHook(conn_id).get_conn()


def _strings(name: str, value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, Sequence) or not all(isinstance(v, str) and v for v in value):
        raise TypeError(f"{name} must be a string or a list of non-empty strings")
    return tuple(value)


class LineageQueryOperator(BaseOperator):
    """Run a lineage query and return its result, or a summary of it, for XCom.

    :param start: ARNs of the start entities (templated).
    :param uris: source URIs; every artifact, action or context with one is a start
        (templated).
    :param direction: Ascendants, Descendants or Both.
    :param max_depth: how many associations from a start.
    :param types: keep only vertices of these types (e.g. DataSet, Model, Endpoint).
    :param lineage_types: keep only these lineage types (Artifact, Action, Context).
    :param properties: keep only vertices with one of these property values.
    :param result: ``summary`` (counts by type, the matching artifacts' URIs and
        digests, and a fingerprint of the result) or ``full`` (every vertex and edge).
    :param check_digests: recompute the digests of the matching artifacts; the summary
        then lists ``changed`` (URIs whose data is not what was recorded) and
        ``unchanged`` (True when none changed).
    :param lineage_conn_id: the lineage connection (default ``[ml_lineage] conn_id``).
    """

    template_fields: Sequence[str] = ("start", "uris", "direction", "types", "properties")
    ui_color = "#e0ecf6"

    def __init__(
        self,
        *,
        start: str | Sequence[str] | None = None,
        uris: str | Sequence[str] | None = None,
        direction: str = "Ascendants",
        max_depth: int = 10,
        types: Sequence[str] | None = None,
        lineage_types: Sequence[str] | None = None,
        properties: dict[str, str] | None = None,
        result: str = "summary",
        check_digests: bool = False,
        lineage_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.start = start
        self.uris = uris
        self.direction = direction
        self.max_depth = max_depth
        self.types = types
        self.lineage_types = lineage_types
        self.properties = properties
        self.result = result
        self.check_digests = check_digests
        self.lineage_conn_id = lineage_conn_id

    def _query(self, starts: Sequence[str]) -> Any:
        from airflow_lineage.query import LineageFilter, LineageQuery

        return LineageQuery(
            start_arns=tuple(starts),
            direction=self.direction,  # type: ignore[arg-type]
            max_depth=self.max_depth,
            include_edges=self.result == "full",
            filters=LineageFilter(
                types=_strings("types", self.types),
                lineage_types=_strings("lineage_types", self.lineage_types),  # type: ignore[arg-type]
                properties=dict(self.properties or {}),
            ),
        )

    def execute(self, context: Any) -> dict[str, Any]:
        """Resolve the starts, run the query (every page) and return the result."""
        import dataclasses

        from airflow_lineage.exceptions import EntityNotFoundError

        if self.result not in RESULTS:
            raise ValueError(f"result must be one of {', '.join(RESULTS)}, not {self.result!r}")
        arns, uris = _strings("start", self.start), _strings("uris", self.uris)
        if not arns and not uris:
            raise ValueError("LineageQueryOperator needs start= (ARNs) or uris=")
        with _store(self.lineage_conn_id) as store:
            starts = list(arns)
            for uri in uris:
                found = [
                    e.arn
                    for kind in ("Artifact", "Action", "Context")
                    for e in store.list_entities(kind, source_uri=uri).items
                ]
                if not found:
                    raise EntityNotFoundError(f"no lineage entity has the source URI {uri!r}")
                starts += found
            query = self._query(starts)
            vertices: list[Any] = []
            edges: list[Any] = []
            cut_off = False
            while True:
                page = store.query(query)
                vertices += page.vertices
                edges += page.edges
                cut_off = cut_off or page.cut_off
                if page.next_token is None:
                    break
                query = dataclasses.replace(query, next_token=page.next_token)
            entities = store.get_many([v.arn for v in vertices])
        return self._result(starts, vertices, edges, entities, cut_off)

    def _result(
        self,
        starts: list[str],
        vertices: list[Any],
        edges: list[Any],
        entities: dict[str, Any],
        cut_off: bool,
    ) -> dict[str, Any]:
        from airflow_lineage.model import Artifact
        from airflow_lineage.verify import check

        by_type: dict[str, int] = {}
        for v in vertices:
            by_type[v.type] = by_type.get(v.type, 0) + 1
        artifacts = sorted(
            (e for e in entities.values() if isinstance(e, Artifact)), key=lambda a: a.arn
        )
        out: dict[str, Any] = {
            "starts": starts,
            "count": len(vertices),
            "by_type": dict(sorted(by_type.items())),
            "artifacts": {
                a.source_uri: {st.id_type.value: st.value for st in a.source_types}
                for a in artifacts
            },
            # Artifact ARNs carry their content digests: new data, new fingerprint.
            "fingerprint": hashlib.sha256(
                "\n".join(sorted(v.arn for v in vertices)).encode()
            ).hexdigest(),
            "cut_off": cut_off,
        }
        if self.check_digests:
            changed = [
                a.source_uri
                for a in artifacts
                if not a.source_types
                or not all(check(a.source_uri, st)[0] for st in a.source_types)
            ]
            out["changed"] = changed
            out["unchanged"] = not changed
        if self.result == "full":
            out["vertices"] = [
                {"arn": v.arn, "type": v.type, "lineage_type": v.lineage_type.value}
                for v in vertices
            ]
            out["edges"] = [
                {
                    "source": e.source_arn,
                    "destination": e.destination_arn,
                    "type": e.association_type.value if e.association_type else None,
                }
                for e in edges
            ]
        return out


class LineageImpactSensor(BaseSensorOperator):
    """Wait until no endpoint serves a model made from a data set; push the impact.

    :param dataset: the data set's ARN, or its source URI (every recorded version of
        it); templated.
    :param lineage_conn_id: the lineage connection (default ``[ml_lineage] conn_id``).
    """

    template_fields: Sequence[str] = ("dataset",)
    ui_color = "#f6e0e0"

    def __init__(self, *, dataset: str, lineage_conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dataset = dataset
        self.lineage_conn_id = lineage_conn_id

    def poke(self, context: Any) -> PokeReturnValue:
        """Return done when nothing deployed is affected, with the impact as XCom."""
        from airflow_lineage.impact import impact, resolve_datasets

        if not isinstance(self.dataset, str) or not self.dataset:
            raise ValueError("LineageImpactSensor needs dataset= (an ARN or a source URI)")
        with _store(self.lineage_conn_id) as store:
            found = impact(store, resolve_datasets(store, self.dataset))
        if found.deployed:
            serving = [e["uri"] for e in found.endpoints if e["serving_affected"]]
            self.log.info("Still serving models made from %s: %s", self.dataset, serving)
        return PokeReturnValue(is_done=not found.deployed, xcom_value=found.as_dict())
