"""SageMaker's constraints come from botocore, extracted at build time, never parsed per task.

The committed :mod:`airflow_lineage._sagemaker_limits` must equal what the generator
extracts from the installed botocore, the limits read from it must equal those of the
live service model, and building entities in a fresh process must not import botocore.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from airflow_lineage import _sagemaker_limits
from airflow_lineage.apispec import (
    check_string,
    limits,
    operation_input,
    service_model,
    service_shape_members,
)

GENERATOR = Path(__file__).resolve().parent.parent / "scripts" / "gen_sagemaker_limits.py"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_sagemaker_limits", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _expected_pattern(shape: Any) -> str | None:
    """The pattern the validator enforces, read straight from botocore's shape."""
    raw = shape.metadata.get("pattern")
    if not raw or raw == ".*":
        return None
    try:
        re.compile(raw, re.DOTALL)
    except re.error:  # Java-only classes (\p{L}) are not enforced; lengths still are
        return None
    return str(raw)


def test_committed_limits_match_the_installed_botocore() -> None:
    gen = _generator()
    fresh = gen.render()
    committed = Path(_sagemaker_limits.__file__).read_text()
    assert fresh == committed, (
        "airflow_lineage/_sagemaker_limits.py is stale for the installed botocore; "
        f"regenerate it with `{gen.COMMAND}`"
    )


def test_the_generator_check_mode_reports_a_stale_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    gen = _generator()
    stale = tmp_path / "_sagemaker_limits.py"
    stale.write_text(
        Path(_sagemaker_limits.__file__)
        .read_text()
        .replace('"TagKey": ("string", 1, 128', '"TagKey": ("string", 1, 64')
    )
    monkeypatch.setattr(gen, "TARGET", stale)
    assert gen.main(["--check"]) == 1
    assert "stale" in capsys.readouterr().out
    assert gen.main([]) == 0  # rewrites it
    assert gen.main(["--check"]) == 0
    assert stale.read_text() == Path(_sagemaker_limits.__file__).read_text()


def test_every_extracted_shape_has_the_limits_of_the_service_model() -> None:
    model = service_model()
    assert model.api_version == _sagemaker_limits.API_VERSION
    assert len(_sagemaker_limits.SHAPES) > 100
    for name in _sagemaker_limits.SHAPES:
        shape = model.shape_for(name)
        lim = limits(name)
        assert lim.name == name
        assert (lim.min, lim.max) == (shape.metadata.get("min"), shape.metadata.get("max")), name
        assert lim.enum == tuple(getattr(shape, "enum", None) or ()), name
        pattern = lim.pattern.pattern if lim.pattern is not None else None
        assert pattern == _expected_pattern(shape), name
        if lim.pattern is not None:
            assert lim.pattern.flags & re.DOTALL
        if shape.type_name == "structure":
            assert service_shape_members(name) == tuple(shape.members), name


def test_operation_inputs_match_the_service_model() -> None:
    from airflow_lineage.facade import _OPERATIONS

    assert set(_OPERATIONS.values()) <= set(_sagemaker_limits.OPERATIONS)
    for op_name in _sagemaker_limits.OPERATIONS:
        op = service_model().operation_model(op_name)
        got = operation_input(op_name)
        assert list(got) == list(op.input_shape.members), op_name
        for member, shape in op.input_shape.members.items():
            assert got[member] == limits(shape.name), (op_name, member)


def test_the_constraints_entities_use_are_enforced() -> None:
    check_string("ActionName", "a" * 120, "ExperimentEntityName")
    with pytest.raises(ValueError, match="at most 120 characters"):
        check_string("ActionName", "a" * 121, "ExperimentEntityName")
    with pytest.raises(ValueError, match="does not match the pattern"):
        check_string("ContextName", "-lead", "ContextName")
    with pytest.raises(ValueError, match="must be one of MD5Hash"):
        check_string("SourceIdType", "SHA1", "ArtifactSourceIdType")
    with pytest.raises(TypeError, match="must be a string"):
        check_string("SourceUri", 3, "SourceUri")
    with pytest.raises(ValueError, match="SourceUri is required"):
        check_string("SourceUri", None, "SourceUri")
    check_string("Description", None, "ExperimentDescription", optional=True)
    # TagKey's pattern is a Java class (\p{L}); its length limit still applies.
    check_string("Tags key", "clé", "TagKey")
    with pytest.raises(ValueError, match="at most 128"):
        check_string("Tags key", "k" * 129, "TagKey")
    assert limits("TagList").max == 50
    assert limits("ArtifactProperties").max == 30
    assert service_shape_members("MetadataProperties") == (
        "CommitId",
        "Repository",
        "GeneratedBy",
        "ProjectId",
    )


def test_a_shape_outside_the_lineage_operations_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="TrainingJobName"):
        limits("TrainingJobName")
    with pytest.raises(KeyError, match="CreateTrainingJob"):
        operation_input("CreateTrainingJob")


def _fresh(code: str) -> Any:
    """Run ``code`` in a new interpreter; return the JSON it prints last."""
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_building_entities_and_a_task_record_does_not_import_botocore() -> None:
    out = _fresh(
        """
        import json, sys
        from datetime import UTC, datetime
        from airflow_lineage import Action, Artifact, Association, Context, LineageGroup
        from airflow_lineage.capture.lineage import DataRef, StepLineage
        from airflow_lineage.capture.record import TaskRun, build_record
        from airflow_lineage.model import ActionStatus

        art = Artifact.new(
            "s3://b/k", "DataSet", name="data", source_types=[("Custom", "sha256:ab")],
            properties={"k": "v"}, metadata_properties={"CommitId": "c"}, tags={"t": "v"},
        )
        act = Action.new("train-1", "Training", "u", description="d", status="Completed")
        ctx = Context.new("pipe", "Pipeline", "u", properties={"k": "v"})
        Association(art.arn, act.arn, "ContributedTo")
        LineageGroup("group-1", "000000000000")
        errors = []
        for bad in (
            lambda: Action.new("has space", "Training", "u"),
            lambda: Context.new("-lead", "Endpoint", "u"),
            lambda: Artifact.new("s3://x", "DataSet", tags={"k" * 129: "v"}),
            lambda: Artifact.new("s3://x", "DataSet", metadata_properties={"Commit": "x"}),
            lambda: Artifact.new("s3://x", "DataSet", properties={str(i): "v" for i in range(31)}),
        ):
            try:
                bad()
            except ValueError as e:
                errors.append(str(e))
        record = build_record(
            TaskRun("dag", "task", "run"),
            StepLineage(
                inputs=(DataRef("file:///in", digests=(("Custom", "sha256:ab"),)),),
                outputs=(DataRef("file:///out"),),
            ),
            ActionStatus.IN_PROGRESS,
            now=datetime.now(UTC),
        )
        heavy = sorted(m for m in ("botocore", "boto3") if m in sys.modules)
        print(json.dumps({"errors": errors, "entities": len(record.entities), "heavy": heavy}))
        """
    )
    assert out["heavy"] == []
    assert out["entities"] == 6  # two contexts of the run, the task run, the action, input, output
    assert len(out["errors"]) == 5
    assert "ActionName" in out["errors"][0]
    assert "ContextName" in out["errors"][1]
    assert "Tags key" in out["errors"][2]
    assert "MetadataProperties" in out["errors"][3]
    assert "at most 30 entries" in out["errors"][4]


def test_the_capture_path_imports_no_aws_sdk() -> None:
    out = _fresh(
        """
        import json, sys
        import airflow_lineage.capture.runtime
        print(json.dumps(sorted(m for m in ("botocore", "boto3") if m in sys.modules)))
        """
    )
    assert out == []


def test_importing_the_package_imports_its_names_on_first_use() -> None:
    out = _fresh(
        """
        import json, sys
        import airflow_lineage
        before = sorted(m for m in sys.modules if m.startswith("airflow_lineage."))
        listed = "connect" in dir(airflow_lineage) and "Artifact" in dir(airflow_lineage)
        artifact = airflow_lineage.Artifact
        from airflow_lineage import connect
        from airflow_lineage.model import Artifact
        try:
            airflow_lineage.nothing_here
            missing = None
        except AttributeError as e:
            missing = str(e)
        print(json.dumps({
            "before": before,
            "listed": listed,
            "same": artifact is Artifact and callable(connect),
            "missing": missing,
        }))
        """
    )
    assert out["before"] == []
    assert out["listed"] and out["same"]
    assert out["missing"] == "module 'airflow_lineage' has no attribute 'nothing_here'"
