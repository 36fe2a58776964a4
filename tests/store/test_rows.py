"""An entity's row holds the JSON ``json.dumps`` would write, byte for byte.

The row builder encodes its string maps and sources by hand for speed; stores written
before it, and readers that compare stored text, see the same bytes either way.
"""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from airflow_lineage.model import Action, Artifact, Context, SourceType
from airflow_lineage.store.sql_rows import entity_row, row_entity, string_map_json

texts = st.text(max_size=40)  # any code point: quotes, controls, non-ASCII, surrogates


@given(st.dictionaries(texts, texts, max_size=8))
def test_a_string_map_is_encoded_as_json_dumps_sorted(values: dict[str, str]) -> None:
    assert string_map_json(values) == json.dumps(values, sort_keys=True)


words = st.text(alphabet='abcdefghijklmnopqrstuvwxyz-é"\\', min_size=1, max_size=20)
maps = st.dictionaries(words, words, max_size=4)


@given(
    source_types=st.lists(st.tuples(st.sampled_from(["MD5Hash", "Custom"]), words), max_size=3),
    properties=maps,
    tags=maps,
)
def test_an_artifact_row_holds_what_json_dumps_writes(
    source_types: list[tuple[str, str]], properties: dict[str, str], tags: dict[str, str]
) -> None:
    artifact = Artifact.new(
        "s3://bucket/key",
        "DataSet",
        source_types=source_types,
        properties=properties,
        tags=tags,
    )
    row = entity_row(artifact)
    pairs = [[SourceType.of(t).id_type.value, SourceType.of(t).value] for t in source_types]
    assert row["source"] == json.dumps(pairs, separators=(",", ":"))
    assert row["properties"] == json.dumps(properties, sort_keys=True)
    assert row["tags"] == (json.dumps(tags, sort_keys=True) if tags else None)
    assert row["metadata_properties"] is None


@given(
    source_type=st.none() | words,
    source_id=st.none() | words,
    properties=maps,
    kind=st.sampled_from([Action, Context]),
)
def test_an_action_or_context_row_holds_what_json_dumps_writes(
    source_type: str | None, source_id: str | None, properties: dict[str, str], kind: type
) -> None:
    entity = kind.new(
        "step-1",
        "Training",
        "s3://bucket/code",
        source_type=source_type,
        source_id=source_id,
        properties=properties,
        metadata_properties={"CommitId": "abc", "Repository": "r"},
    )
    row = entity_row(entity)
    source = {"SourceType": source_type, "SourceId": source_id}
    assert row["source"] == json.dumps(source, separators=(",", ":"))
    assert row["properties"] == json.dumps(properties, sort_keys=True)
    assert row["metadata_properties"] == json.dumps(
        {"CommitId": "abc", "Repository": "r"}, sort_keys=True
    )


def test_a_row_reads_back_as_the_entity() -> None:
    from types import SimpleNamespace

    artifact = Artifact.new(
        "s3://bucket/k", "Model", source_types=[("Custom", 'x"y')], properties={"é": "\\"}
    )
    assert row_entity(SimpleNamespace(**entity_row(artifact))) == artifact
