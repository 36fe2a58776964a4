"""The store contract on the SageMaker backend, against a Stubber-validated client.

The contract cases of :mod:`tests.store.test_contract` run here unchanged against a
:class:`SageMakerStore` whose client is a real botocore SageMaker client wrapped in
botocore's ``Stubber``: every request is validated against SageMaker's API model and
every response is computed by :class:`FakeSageMaker` from an in-memory graph and
validated against the output shape. The service pages every listing by 2, repeats
vertices and edges across QueryLineage pages and throttles every 7th call, so the
whole suite runs through pagination, de-duplication and retries.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ParamValidationError

from airflow_lineage import Action, Artifact, Association, LineageQuery
from airflow_lineage.exceptions import StoreError
from airflow_lineage.store.sagemaker import SageMakerStore
from tests.store import test_contract as _contract
from tests.store.sagemaker_fake import FakeSageMaker

# Reuse every contract case; the ``store`` fixture below overrides conftest's for them.
for _name in dir(_contract):
    if _name.startswith("test_"):
        globals()[_name] = getattr(_contract, _name)

# Cases that need a store URL shared by several processes or store instances: the
# Stubber-served service lives in this process only.
for _name in (
    "test_idempotent_creates_under_eight_concurrent_processes",
    "test_concurrent_first_open_migrates_once",
    "test_pages_are_stable_across_store_instances",
    "test_pages_read_by_other_processes_after_a_write_neither_repeat_nor_skip",
):
    globals().pop(_name, None)


def make_fake(account: str = "000000000000", region: str = "local", **kw: Any) -> FakeSageMaker:
    """Return a fake service behind a fresh Stubber-wrapped botocore client."""
    client = boto3.client(
        "sagemaker",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return FakeSageMaker(client, account=account, region=region, **kw)


def make_store(fake: FakeSageMaker) -> SageMakerStore:
    """Return a SageMaker store on the fake's client that never sleeps between retries."""
    return SageMakerStore(
        client=fake.client,
        account=fake.account,
        region=fake.region,
    )


@pytest.fixture
def fake() -> Iterator[FakeSageMaker]:
    f = make_fake()
    yield f
    f.stubber.assert_no_pending_responses()


@pytest.fixture
def store(fake: FakeSageMaker) -> Iterator[SageMakerStore]:
    s = make_store(fake)
    yield s
    s.close()


# -- SageMaker-specific behaviour -----------------------------------------------------------


def test_requests_are_validated_against_the_service_model(fake: FakeSageMaker) -> None:
    with pytest.raises(ParamValidationError):
        fake.client.create_artifact(Source={}, ArtifactType="DataSet")
    with pytest.raises(ParamValidationError):
        fake.client.query_lineage(StartArns=["a"], MaxDepth="deep")


def test_artifact_arns_are_mapped_to_the_service_ones(
    store: SageMakerStore, fake: FakeSageMaker
) -> None:
    art = store.create_artifact("s3://data/raw.csv", "DataSet")
    (record,) = fake.entities.values()
    assert record.arn != art.arn  # SageMaker chose its own ARN
    fresh = make_store(fake)  # a new store finds the mapping by listing
    assert fresh.get(art.arn) == art


def _answers(store: SageMakerStore, codes: list[str]) -> list[str]:
    """Answer the store's next HTTP requests with these error codes, in order (the
    last one for every request after); return the operations that were sent."""
    from botocore.awsrequest import AWSResponse

    sent: list[str] = []

    def answer(request: Any, **_: Any) -> AWSResponse:
        sent.append(request.headers.get("X-Amz-Target", b"").decode())
        code = codes[min(len(sent), len(codes)) - 1]
        body = json.dumps({"__type": code, "message": code}).encode()
        status = 400 if code != "ResourceNotFound" else 404
        headers = {"Content-Type": "application/x-amz-json-1.1"}
        raw = type("Raw", (), {"stream": lambda self, **_: iter([body])})()
        return AWSResponse(request.url, status, headers, raw)

    store.client.meta.events.register("before-send.sagemaker", answer)
    return sent


def _http_store(monkeypatch: pytest.MonkeyPatch, max_attempts: int) -> SageMakerStore:
    """A store whose client it makes itself (through the amazon provider's hook)."""
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # the store's own setting must win
    return SageMakerStore(
        aws_conn_id=None, region="us-east-1", account="000000000000", max_attempts=max_attempts,
        timeout=7,
    )  # fmt: skip


def test_the_store_uses_botocores_standard_retries_and_its_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = _http_store(monkeypatch, max_attempts=4)
    config = store.client.meta.config
    assert config.retries["mode"] == "standard" and config.retries["total_max_attempts"] == 4
    assert config.connect_timeout == 7 and config.read_timeout == 7
    monkeypatch.setattr("time.sleep", lambda _s: None)  # botocore's back-off
    sent = _answers(store, ["ThrottlingException", "ThrottlingException", "ResourceNotFound"])
    arn = "arn:aws:sagemaker:us-east-1:000000000000:action/train-1"
    assert store.get_many([arn]) == {}  # throttled twice, then an answer
    assert sent == ["SageMaker.DescribeAction"] * 3


def test_throttling_past_the_attempts_is_a_store_error(monkeypatch: pytest.MonkeyPatch) -> None:
    store = _http_store(monkeypatch, max_attempts=3)
    monkeypatch.setattr("time.sleep", lambda _s: None)
    sent = _answers(store, ["ThrottlingException"])
    with pytest.raises(StoreError, match="ThrottlingException"):
        store.get_many(["arn:aws:sagemaker:us-east-1:000000000000:action/train-1"])
    assert len(sent) == 3  # botocore's attempts, and no loop of the store's around them


def test_already_exists_is_success(store: SageMakerStore, fake: FakeSageMaker) -> None:
    # Another writer created the action, but reads do not show it yet (eventual
    # consistency): the create fails with "already exists", which the store accepts.
    fake.seed_action("train-1", "Training", hidden=True)
    store.write([Action.new("train-1", "Training", "u")])
    assert fake.already_exists >= 1
    assert store.get(Action.new("train-1", "Training", "u").arn).name == "train-1"
    a, b = Artifact.new("s3://a", "DataSet"), Artifact.new("s3://b", "DataSet")
    store.write([a, b], [Association(a.arn, b.arn, "DerivedFrom")])
    before = fake.already_exists
    store.write(associations=[Association(a.arn, b.arn, "DerivedFrom")])
    assert fake.already_exists == before + 1
    assert len(store.list_associations().items) == 1


def test_a_validation_error_is_not_taken_for_a_duplicate_by_its_text(
    store: SageMakerStore, fake: FakeSageMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.store.sagemaker_fake import ServiceError

    def refuse(p: Any) -> dict[str, Any]:
        raise ServiceError("ValidationException", "Action train-9 already exists (or not)")

    monkeypatch.setattr(fake, "_create_action", refuse)
    with pytest.raises(StoreError, match="ValidationException"):
        store.write([Action.new("train-9", "Training", "u")])
    assert not fake.entities  # nothing was there, so nothing is taken as written


def test_query_pages_with_duplicates_are_merged(store: SageMakerStore, fake: FakeSageMaker) -> None:
    hub = Artifact.new("s3://hub", "DataSet")
    spokes = [Artifact.new(f"s3://spoke/{i}", "DataSet") for i in range(9)]
    store.write([hub, *spokes], [Association(hub.arn, s.arn, "DerivedFrom") for s in spokes])
    result = store.query(
        LineageQuery(start_arns=(hub.arn,), direction="Descendants", include_edges=True)
    )
    assert sorted(result.arns()) == sorted([hub.arn, *(s.arn for s in spokes)])
    assert len(result.edges) == 9
    assert fake.duplicates_served >= 4
    assert fake.query_pages >= 5


def test_depth_25_chain(store: SageMakerStore, fake: FakeSageMaker) -> None:
    chain = [Artifact.new(f"s3://chain/v{i}", "DataSet") for i in range(26)]
    store.write(
        chain, [Association(a.arn, b.arn, "DerivedFrom") for a, b in itertools.pairwise(chain)]
    )
    down = store.query(
        LineageQuery(start_arns=(chain[0].arn,), direction="Descendants", max_depth=25)
    )
    assert down.arns() == [c.arn for c in chain[1:]]
    up = store.query(
        LineageQuery(
            start_arns=(chain[-1].arn,), direction="Ascendants", max_depth=25, include_edges=True
        )
    )
    assert set(up.arns()) == {c.arn for c in chain}
    assert len(up.edges) == 25
    assert 0 < fake.max_depth_seen <= 10  # SageMaker's limit was never exceeded
    short = store.query(
        LineageQuery(start_arns=(chain[0].arn,), direction="Descendants", max_depth=12)
    )
    assert short.arns() == [c.arn for c in chain[1:13]]


def test_entities_outside_the_store_account_are_refused(store: SageMakerStore) -> None:
    other = Artifact.new("s3://x", "DataSet", account="111111111111")
    with pytest.raises(ValueError, match="111111111111"):
        store.write([other])


def test_connect_opens_a_sagemaker_store_through_the_aws_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from airflow_lineage import connect

    monkeypatch.setenv("AIRFLOW_CONN_AWS_LINEAGE", '{"conn_type": "aws"}')
    s = connect(
        "sagemaker://?region=eu-west-1&aws_conn_id=aws_lineage&account=123456789012", timeout=9
    )
    assert isinstance(s, SageMakerStore)
    assert (s.account, s.region, s.aws_conn_id) == ("123456789012", "eu-west-1", "aws_lineage")
    client = s.client  # made lazily by the amazon provider's SageMakerHook; no call is sent
    assert client.meta.region_name == "eu-west-1"
    assert client.meta.config.retries["mode"] == "standard"
    assert client.meta.config.read_timeout == 9  # connect()'s timeout reaches botocore
    with pytest.raises(ValueError, match="unknown parameter"):
        connect("sagemaker://?bucket=x")


def test_lineage_hook_opens_the_sagemaker_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_lineage.hooks.lineage import LineageHook

    monkeypatch.setenv(
        "AIRFLOW_CONN_LINEAGE_SM",
        '{"conn_type": "lineage", "extra": {"backend": "sagemaker", "aws_conn_id": "aws_x",'
        ' "account": "123456789012", "region": "us-west-2"}}',
    )
    s = LineageHook("lineage_sm").get_conn()
    assert isinstance(s, SageMakerStore)
    assert (s.account, s.region, s.aws_conn_id) == ("123456789012", "us-west-2", "aws_x")


def test_query_lineage_walks_ten_levels_per_call() -> None:
    """A depth-25 chain costs three QueryLineage calls, a 500-artifact fan-out one call's
    pages (50 vertices a page), on a new store (nothing cached)."""
    fake = make_fake(page_size=50)
    chain = [Action.new(f"step-{i}", "Processing", "u") for i in range(26)]
    hub = Action.new("hub", "Training", "u")
    outs = [Artifact.new(f"s3://out/{i}", "Model") for i in range(500)]
    make_store(fake).write(
        [*chain, hub, *outs],
        [Association(a.arn, b.arn, "ContributedTo") for a, b in itertools.pairwise(chain)]
        + [Association(hub.arn, o.arn, "Produced") for o in outs],
    )
    for start, depth, vertices, calls in ((chain[0], 25, 25, 3), (hub, 10, 500, 11)):
        fake.calls.clear()
        result = make_store(fake).query(
            LineageQuery(start_arns=[start.arn], direction="Descendants", max_depth=depth)
        )
        assert len(result.vertices) == vertices
        assert fake.calls["QueryLineage"] == calls
        assert fake.max_depth_seen == 10
    # The 500 artifacts' ARNs are learnt from ListArtifacts pages, not one Describe each.
    assert fake.calls["DescribeArtifact"] == 0 and fake.calls["ListArtifacts"] <= 11


def test_each_edge_names_the_account_that_added_it(
    store: SageMakerStore, fake: FakeSageMaker
) -> None:
    a, b, c = (Action.new(n, "Processing", "u") for n in ("a", "b", "c"))
    store.write([a, b, c], [Association(a.arn, b.arn), Association(b.arn, c.arn)])
    by_pair = {(e.source, e.destination): e for e in fake.edges.values()}
    by_pair[(a.arn, b.arn)].added_by = "111111111111"  # added from a shared account
    by_pair[(b.arn, c.arn)].added_by = None  # SageMaker did not say who
    added = {(x.source_arn, x.account) for x in store.list_associations().items}
    assert added == {(a.arn, "111111111111"), (b.arn, None)}
    assert {x.account for x in store.associations_among([a.arn, b.arn, c.arn])} == {
        "111111111111",
        None,
    }


def test_a_bulk_load_writes_each_batch_as_it_goes(store: SageMakerStore) -> None:
    # SageMaker has nothing to batch: each write is made as it goes, inside the block too.
    a, b = Artifact.new("s3://bulk/a", "DataSet"), Artifact.new("s3://bulk/b", "DataSet")
    with store.bulk_load():
        store.write([a, b], [Association(a.arn, b.arn, "DerivedFrom")])
        assert store.get(b.arn).source_uri == "s3://bulk/b"
        assert len(store.list_associations(source_arn=a.arn).items) == 1
