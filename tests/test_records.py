"""The JSON-lines record format: exact round trips and clear errors for bad records."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from airflow_lineage import (
    Action,
    Artifact,
    Association,
    AssociationType,
    Context,
    LineageStore,
    records,
)
from airflow_lineage.store.sql import SqlStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def sample() -> list[Artifact | Action | Context | Association]:
    """Return entities and associations that use every field of the format."""
    raw = Artifact.new(
        "s3://ml/raw/churn.csv",
        "DataSet",
        name="raw-churn",
        source_types=[("Custom", "sha256:" + "ab" * 32), ("S3ETag", "etag-1")],
        properties={"approved": "true", "owner": "Zoë ✓"},
        metadata_properties={"CommitId": "abc123", "Repository": "git://ml"},
        tags={"team": "churn"},
        created=T0 + timedelta(microseconds=7),
    )
    unnamed = Artifact.new("s3://ml/features/churn", "Features", created=T0 + timedelta(hours=1))
    shared = Artifact.new("s3://ml/raw/churn.csv", "DataSet", account="111122223333", created=T0)
    prep = Action.new(
        "prep-run-1",
        "DataPreparation",
        "airflow://churn/prep",
        status="Completed",
        description="Clean the raw data",
        source_type="AirflowTask",
        source_id="churn.prep",
        properties={"rows": "1000"},
        created=T0 + timedelta(hours=2),
    )
    pipeline = Context.new(
        "churn-pipeline",
        "Pipeline",
        "airflow://churn",
        description="the churn DAG",
        tags={"env": "prod"},
        created=T0 + timedelta(hours=3),
    )
    return [
        raw,
        unnamed,
        shared,
        prep,
        pipeline,
        Association(raw.arn, prep.arn, AssociationType("ContributedTo"), T0 + timedelta(hours=4)),
        Association(prep.arn, unnamed.arn, AssociationType("Produced"), T0 + timedelta(hours=4)),
        Association(prep.arn, pipeline.arn, None, T0 + timedelta(hours=5)),
        Association(shared.arn, raw.arn, AssociationType("SameAs"), T0 + timedelta(hours=5)),
    ]


def test_every_item_round_trips_through_its_record() -> None:
    for item in sample():
        back = records.from_record(json.loads(records.dumps(item)))
        assert back == item
        assert back.created == item.created  # Association equality ignores created
        assert records.dumps(back) == records.dumps(item)


def test_a_record_has_every_field_sorted_and_utc_times_with_microseconds() -> None:
    prep = sample()[3]
    assert records.dumps(prep) == (
        '{"arn":"arn:aws:sagemaker:local:000000000000:action/prep-run-1",'
        '"created":"2026-01-01T02:00:00.000000Z","description":"Clean the raw data",'
        '"kind":"Action","metadata_properties":{},"modified":"2026-01-01T02:00:00.000000Z",'
        '"name":"prep-run-1","properties":{"rows":"1000"},"source_id":"churn.prep",'
        '"source_type":"AirflowTask","source_uri":"airflow://churn/prep","status":"Completed",'
        '"tags":{},"type":"DataPreparation"}'
    )
    unnamed = records.to_record(sample()[1])
    assert sorted(unnamed) == [
        "arn", "created", "kind", "metadata_properties", "modified", "name", "properties",
        "source_types", "source_uri", "tags", "type",
    ]  # fmt: skip
    assert unnamed["name"] is None and unnamed["source_types"] == []
    edge = records.to_record(sample()[7])
    assert edge == {
        "kind": "Association",
        "source_arn": "arn:aws:sagemaker:local:000000000000:action/prep-run-1",
        "destination_arn": "arn:aws:sagemaker:local:000000000000:context/churn-pipeline",
        "association_type": None,
        "created": "2026-01-01T05:00:00.000000Z",
        "account": None,
    }


def test_lines_are_ascii_and_unicode_survives() -> None:
    line = records.dumps(sample()[0])
    assert line.isascii()
    raw = records.from_record(json.loads(line))
    assert isinstance(raw, Artifact) and raw.properties["owner"] == "Zoë ✓"


def test_times_with_an_offset_are_read_and_written_as_utc() -> None:
    record = records.to_record(sample()[4])
    record["created"] = "2026-01-01T05:00:00.5+02:00"
    record["modified"] = "2026-01-02T00:00:00Z"
    ctx = records.from_record(record)
    assert ctx.created == datetime(2026, 1, 1, 3, 0, 0, 500000, tzinfo=UTC)
    assert records.to_record(ctx)["created"] == "2026-01-01T03:00:00.500000Z"
    assert records.format_time(datetime(1, 1, 1, tzinfo=timezone(timedelta(0)))) == (
        "0001-01-01T00:00:00.000000Z"
    )


def test_optional_fields_may_be_left_out() -> None:
    prep = records.from_record(
        {
            "kind": "Action",
            "arn": "arn:aws:sagemaker:local:000000000000:action/step",
            "name": "step",
            "type": "Training",
            "source_uri": "airflow://x",
            "created": "2026-01-01T00:00:00Z",
        }
    )
    assert isinstance(prep, Action)
    assert prep.status.value == "Unknown" and prep.modified == prep.created == T0


def test_dump_and_load_a_file(tmp_path: Path) -> None:
    path = tmp_path / "lineage.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        assert records.dump(sample(), fh) == len(sample())
    text = path.read_text()
    assert text.count("\n") == len(sample()) and text.endswith("}\n")
    with open(path, encoding="utf-8") as fh:
        assert list(records.load(fh)) == sample()
    entities, associations, lines = records.load_all(io.StringIO("\n" + text + "\n  \n"))
    assert len(entities) == 5 and len(associations) == 4
    assert lines[entities[0].arn] == 2  # blank lines count
    assert lines[records.association_key(associations[-1])] == 10


def _populate(store: LineageStore) -> None:
    items = sample()
    store.write(
        [i for i in items if not isinstance(i, Association)],
        [i for i in items if isinstance(i, Association)],
    )
    prep = items[3]
    assert isinstance(prep, Action)
    store.update(prep.arn, status="Failed", properties={"error": "oom"})  # modified != created


def _export(store: LineageStore) -> bytes:
    out = io.StringIO()
    records.dump(store.export(), out)
    return out.getvalue().encode()


def test_export_import_export_is_byte_identical(tmp_path: Path, store_url: str) -> None:
    # The sample spans two accounts: a backup and a restore see and write every account's.
    with SqlStore(f"sqlite:///{tmp_path / 'source.db'}", unrestricted=True, create=True) as source:
        _populate(source)
        first = _export(source)
    entities, associations, _ = records.load_all(io.StringIO(first.decode()))
    with SqlStore(store_url, unrestricted=True) as target:  # an empty store on each backend
        target.write(entities, associations)
        second = _export(target)
    assert second == first
    assert first.count(b"\n") == 9
    assert b'"status":"Failed"' in first and b'"error":"oom"' in first


def _artifact_line(**changes: object) -> str:
    record = records.to_record(sample()[1])
    record.update(changes)
    return json.dumps(record)


def _line(index: int, **changes: object) -> str:
    return json.dumps(records.to_record(sample()[index]) | changes)


BAD = [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "a record must be a JSON object, not a list"),
    ('{"kind": "Edge"}', "field 'kind' must be one of Artifact, Action, Context, Association"),
    ('{"kind": "Artifact", "arn": "x", "colour": "red"}', "field 'colour' is not a field"),
    ('{"kind": "Artifact", "type": "DataSet"}', "field 'arn' is required"),
    (_line(5, source_arn=5), "field 'source_arn' must be a string, not a number"),
    (
        _artifact_line(created="2026-01-01T00:00:00"),
        "field 'created': '2026-01-01T00:00:00' has no",
    ),
    (_artifact_line(modified="yesterday"), "field 'modified': 'yesterday' is not an ISO-8601"),
    (_artifact_line(type="Model"), "invalid Artifact record: ArtifactArn"),
    (_artifact_line(properties={"a": 1}), "field 'properties': the value of 'a' must be a"),
    (_artifact_line(tags=["a"]), "field 'tags' must be an object of strings, not a list"),
    (_artifact_line(source_types=[{"value": "x"}]), "field 'source_types[0]' must be an"),
    (
        _artifact_line(source_types=[{"source_id_type": "SHA", "value": "x"}]),
        "field 'source_types[0]': SourceIdType must be one of",
    ),
    (_artifact_line(status="Completed"), "field 'status' is not a field of an Artifact record"),
    (_line(3, status="Done"), "invalid Action record: Status must be one of"),
    (_line(5, association_type="Owns"), "invalid Association record: AssociationType must be"),
    (_line(5, destination_arn="arn:nope"), "invalid Association record: DestinationArn"),
]


@pytest.mark.parametrize(("line", "message"), BAD)
def test_a_bad_record_names_its_line_and_field(line: str, message: str) -> None:
    good = records.dumps(sample()[0])
    with pytest.raises(ValueError) as info:
        list(records.load(io.StringIO(f"{good}\n{line}\n{good}\n")))
    assert str(info.value).startswith("line 2: ")
    assert message in str(info.value)


def test_a_duplicate_names_both_lines() -> None:
    raw, edge = records.dumps(sample()[0]), records.dumps(sample()[5])
    with pytest.raises(ValueError, match=r"line 3: duplicate Artifact arn:\S+ \(first on line 1\)"):
        records.load_all(io.StringIO(f"{raw}\n{edge}\n{raw}\n"))
    with pytest.raises(
        ValueError, match=r"line 4: duplicate association from .* \(first on line 2\)"
    ):
        records.load_all(io.StringIO(f"{raw}\n{edge}\n\n{edge}\n"))


def test_to_record_refuses_other_objects() -> None:
    with pytest.raises(TypeError, match="not str"):
        records.to_record("arn:aws:sagemaker:local:000000000000:action/x")  # type: ignore[arg-type]
