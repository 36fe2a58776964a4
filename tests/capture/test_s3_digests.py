"""Digests wherever data lives: S3 data gets ETag and VersionId (moto), hook-lineage inputs
are digested when reported, data above ``max_digest_bytes`` is not hashed, and a stop
that arrives while capture digests ends the task."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_lineage import Action, Artifact, connect

from .conftest import reset_lineage_settings
from .graph import sha256_of

pytestmark = pytest.mark.slow

REGION = "us-east-1"
BUCKET = "lineage-digests"


@pytest.fixture
def s3() -> Iterator[Any]:
    """Yield an S3 client under moto, with a versioned and an unversioned bucket."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket=BUCKET)
        client.create_bucket(Bucket=f"{BUCKET}-versioned")
        client.put_bucket_versioning(
            Bucket=f"{BUCKET}-versioned", VersioningConfiguration={"Status": "Enabled"}
        )
        yield client
        reset_lineage_settings()  # drop S3 clients made under this mock


def _recorded(home: Path) -> tuple[dict[str, Artifact], dict[str, Action]]:
    with connect(f"sqlite:///{home / 'lineage.db'}") as store:
        items = list(store.export())
    artifacts = {e.source_uri: e for e in items if isinstance(e, Artifact)}
    actions = {e.properties["airflow:task_id"]: e for e in items if isinstance(e, Action)}
    return artifacts, actions


def _digests(artifact: Artifact) -> dict[str, str]:
    return {st.id_type.value: st.value for st in artifact.source_types}


def _head(s3: Any, uri: str, **kwargs: Any) -> dict[str, str]:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    head = s3.head_object(Bucket=bucket, Key=key, **kwargs)
    out = {"S3ETag": head["ETag"].strip('"')}
    if head.get("VersionId") not in (None, "null"):
        out["S3Version"] = head["VersionId"]
    return out


@pytest.mark.parametrize("versioned", [True, False], ids=["versioned", "unversioned"])
def test_s3_inlets_are_digested_before_the_step_and_outlets_after(
    s3: Any, lineage_home: Path, run_dag: Callable[..., Any], versioned: bool
) -> None:
    import pendulum
    from airflow.sdk import DAG, Asset, task

    bucket = f"{BUCKET}-versioned" if versioned else BUCKET
    source, target = f"s3://{bucket}/raw/in.csv", f"s3://{bucket}/out/out.csv"
    s3.put_object(Bucket=bucket, Key="raw/in.csv", Body=b"a\n1\n")
    before = _head(s3, source)

    with DAG(
        f"lineage_s3_{'v' if versioned else 'u'}",
        start_date=pendulum.datetime(2026, 1, 1),
        schedule=None,
    ) as dag:

        @task(inlets=[Asset(source)], outlets=[Asset(target)])
        def step() -> None:
            import boto3

            client = boto3.client("s3", region_name=REGION)
            # The step rewrites its own input: the recorded digest is the one it read.
            client.put_object(Bucket=bucket, Key="raw/in.csv", Body=b"a\n1\n2\n")
            client.put_object(Bucket=bucket, Key="out/out.csv", Body=b"b\n3\n")

        step()

    assert run_dag(dag).state == "success"
    artifacts, actions = _recorded(lineage_home)
    assert _digests(artifacts[source]) == before
    assert _head(s3, source) != before  # the object did change during the step
    assert _digests(artifacts[target]) == _head(s3, target)
    assert ("S3Version" in _digests(artifacts[target])) is versioned
    assert actions["step"].status.value == "Completed"


def test_an_unreadable_s3_object_leaves_no_digest_and_the_task_succeeds(
    s3: Any, lineage_home: Path, run_dag: Callable[..., Any]
) -> None:
    import pendulum
    from airflow.sdk import DAG, Asset, task

    missing = f"s3://{BUCKET}/nothing/here.csv"
    prefix = f"s3://{BUCKET}/a/prefix"  # a folder, as Assets write it (no trailing /)
    with DAG("lineage_s3_missing", start_date=pendulum.datetime(2026, 1, 1), schedule=None) as dag:

        @task(inlets=[Asset(missing), Asset(prefix)])
        def step() -> None: ...

        step()

    assert run_dag(dag).state == "success"
    artifacts, actions = _recorded(lineage_home)
    assert artifacts[missing].source_types == ()
    assert artifacts[prefix].source_types == ()
    assert actions["step"].status.value == "Completed"


def test_hook_lineage_inputs_are_digested_when_reported(
    s3: Any, lineage_home: Path, run_dag: Callable[..., Any], tmp_path: Path
) -> None:
    import pendulum
    from airflow.sdk import DAG, task

    source = f"s3://{BUCKET}/hook/in.csv"
    s3.put_object(Bucket=BUCKET, Key="hook/in.csv", Body=b"first\n")
    read = _head(s3, source)

    with DAG("lineage_s3_hook", start_date=pendulum.datetime(2026, 1, 1), schedule=None) as dag:

        @task
        def step() -> None:
            from airflow.providers.amazon.aws.hooks.s3 import S3Hook

            hook = S3Hook(aws_conn_id=None)
            hook.download_file(key="hook/in.csv", bucket_name=BUCKET, local_path=str(tmp_path))
            # Changed after the step read it (by a writer no hook reports): the record
            # keeps what the step read.
            hook.get_conn().put_object(Bucket=BUCKET, Key="hook/in.csv", Body=b"second\n")

        step()

    assert run_dag(dag).state == "success"
    artifacts, _ = _recorded(lineage_home)
    assert _head(s3, source) != read
    assert _digests(artifacts[source]) == read


def test_sagemaker_s3_channels_are_digested_before_the_job_runs(
    s3: Any, lineage_home: Path, run_dag: Callable[..., Any]
) -> None:
    import pendulum
    from airflow.providers.amazon.aws.operators.sagemaker import SageMakerTrainingOperator
    from airflow.sdk import DAG

    channel = f"s3://{BUCKET}/train/part-0.csv"
    s3.put_object(Bucket=BUCKET, Key="train/part-0.csv", Body=b"1,2\n")
    before = _head(s3, channel)

    class RewritingTraining(SageMakerTrainingOperator):
        """Changes its channel's data as the job starts (as a concurrent writer might)."""

        def execute(self, context: Any) -> Any:
            import boto3

            boto3.client("s3", region_name=REGION).put_object(
                Bucket=BUCKET, Key="train/part-0.csv", Body=b"1,2\n3,4\n"
            )
            return super().execute(context)

    config = {
        "TrainingJobName": "digest-train",
        "AlgorithmSpecification": {"TrainingImage": "img:1", "TrainingInputMode": "File"},
        "RoleArn": "arn:aws:iam::123456789012:role/sm",
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": channel,
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
            }
        ],
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/models/"},
        "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    }
    with DAG(
        "lineage_s3_sagemaker", start_date=pendulum.datetime(2026, 1, 1), schedule=None
    ) as dag:
        RewritingTraining(task_id="train", config=config, aws_conn_id=None, check_interval=1)

    assert run_dag(dag).state == "success"
    artifacts, actions = _recorded(lineage_home)
    assert actions["train"].type == "TrainingJob"
    assert _head(s3, channel) != before
    assert _digests(artifacts[channel]) == before


def test_local_data_above_max_digest_bytes_is_not_hashed(
    lineage_home: Path,
    run_dag: Callable[..., Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import pendulum
    from airflow.sdk import DAG, Asset, task

    monkeypatch.setenv("AIRFLOW__ML_LINEAGE__MAX_DIGEST_BYTES", "100")
    reset_lineage_settings()
    small, big, folder = tmp_path / "small.csv", tmp_path / "big.csv", tmp_path / "parts"
    small.write_text("a\n" * 50)  # 100 bytes: hashed
    big.write_text("a\n" * 51)  # 102 bytes: too large
    folder.mkdir()
    for i in range(3):  # 60 bytes each, 180 together: too large
        (folder / f"{i}.csv").write_text("b\n" * 30)
    uris = [small.as_uri(), big.as_uri(), folder.as_uri()]
    with DAG("lineage_big_files", start_date=pendulum.datetime(2026, 1, 1), schedule=None) as dag:

        @task(inlets=[Asset(u) for u in uris])
        def step() -> None: ...

        step()

    assert run_dag(dag).state == "success"
    artifacts, _ = _recorded(lineage_home)
    assert _digests(artifacts[small.as_uri()]) == {"Custom": sha256_of(small.as_uri())}
    assert artifacts[big.as_uri()].source_types == ()
    assert artifacts[folder.as_uri()].source_types == ()


def test_capture_of_local_data_loads_no_aws_code(tmp_path: Path) -> None:
    import subprocess
    import sys

    data = tmp_path / "x.csv"
    data.write_text("a\n")
    code = (
        "import sys\n"
        "from airflow_lineage.capture import runtime\n"
        "from airflow_lineage.capture.extractors import extractor_for\n"
        "from airflow_lineage import verify\n"
        f"assert verify.digest({data.as_uri()!r})\n"
        "assert extractor_for(object()) is None\n"
        # botocore itself is still loaded by entity validation (apispec.service_model) until
        # that reads limits extracted at build time; capture adds no AWS code of its own.
        "loaded = [m for m in ('boto3', 'airflow.providers.amazon', 's3transfer',\n"
        "          'airflow_lineage.capture.extractors.sagemaker') if m in sys.modules]\n"
        "print(loaded)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_a_stop_during_capture_ends_the_task(
    lineage_home: Path, run_dag: Callable[..., Any], tmp_path: Path
) -> None:
    """SIGTERM arriving while capture hashes an output is not swallowed: the task fails."""
    import signal

    import pendulum
    from airflow.sdk import DAG, Asset, task
    from airflow.sdk.exceptions import AirflowTaskTerminated

    big = tmp_path / "big.bin"

    def terminated(signum: int, frame: Any) -> None:
        raise AirflowTaskTerminated("SIGTERM during capture")

    with DAG("lineage_stop", start_date=pendulum.datetime(2026, 1, 1), schedule=None) as dag:

        @task(outlets=[Asset(big.as_uri())])
        def step() -> None:
            with open(big, "wb") as fh:  # 256 MiB: hashing it takes far longer than 50 ms
                for _ in range(256):
                    fh.write(b"\0" * (1 << 20))
            signal.setitimer(signal.ITIMER_REAL, 0.05)  # "SIGTERM" while capture runs

        step()

    previous = signal.signal(signal.SIGALRM, terminated)
    try:
        dr = run_dag(dag)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert dr.get_task_instance("step").state == "failed"
    _, actions = _recorded(lineage_home)
    assert actions["step"].status.value == "Failed"


def test_a_named_pipe_is_not_read_for_a_digest(tmp_path: Path) -> None:
    import os

    from airflow_lineage.verify import digest

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert digest(fifo.as_uri()) == ()  # returns at once instead of blocking on the pipe


def test_an_s3_prefix_is_digested_by_its_listing_and_rechecked(s3: Any) -> None:
    from airflow_lineage.verify import check, digest_s3

    for name in ("part-0.csv", "part-1.csv"):
        s3.put_object(Bucket=BUCKET, Key=f"features/{name}", Body=name.encode())
    prefix = f"s3://{BUCKET}/features/"
    (listing,) = digest_s3(prefix, aws_conn_id=None)
    assert listing.value.startswith("s3-listing:sha256:")
    # The same prefix named without its slash (as SageMaker channels often are).
    assert digest_s3(prefix.rstrip("/"), aws_conn_id=None) == (listing,)
    assert check(prefix, listing) == (True, f"{prefix}: Custom matches")

    s3.put_object(Bucket=BUCKET, Key="features/part-1.csv", Body=b"rewritten")
    ok, detail = check(prefix, listing)
    assert not ok and "changed" in detail
    for name in ("part-0.csv", "part-1.csv"):
        s3.delete_object(Bucket=BUCKET, Key=f"features/{name}")
    ok, detail = check(prefix, listing)
    assert not ok and "no objects below it" in detail
    assert digest_s3(prefix, aws_conn_id=None) == ()  # an empty prefix has no digest
