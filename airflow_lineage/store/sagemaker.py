"""The lineage store on Amazon SageMaker ML Lineage Tracking, through boto3.

The client comes from the amazon provider's ``SageMakerHook`` (credentials, role
assumption and region from the Airflow AWS connection) with botocore's standard retry
mode, or is injected (tests pass a ``Stubber``-wrapped client). SageMaker's API limits
are hidden here:

- **Artifact ARNs.** SageMaker picks an artifact's ARN itself; our model derives it from
  (account, SourceUri, ArtifactType, SourceTypes) so lineage can move between backends.
  The store maps one to the other: it finds a service artifact by ``ListArtifacts``
  (SourceUri, ArtifactType) and compares the derived id, and caches the mapping. An
  ARN of ours it has not met is looked for among the artifacts created since its last
  look (the whole account once per store), and a miss is remembered for a few seconds.
  Actions and contexts are named by their ARN on both sides.
- **Times.** SageMaker sets CreationTime/LastModifiedTime itself; the entity's own
  ``created``/``modified`` travel in two reserved tags (``airflow-lineage:created``,
  ``airflow-lineage:modified``, µs since the epoch), so an exported graph imports
  unchanged and upserts compare the writer's times (an action's status moves forward
  only, whatever they say). Entities SageMaker
  created on its own (no such tags) use the service's times.
- **Queries.** QueryLineage takes one start ARN, stops at depth 10, pages by 50 and may
  repeat vertices across pages. The store walks ten levels per call (``MaxDepth=10``,
  following every NextToken and de-duplicating) and goes on from the vertices at depth
  10, through the one query engine (:mod:`airflow_lineage.store.querying`), so any
  number of start ARNs, any depth, and exactly the SQL store's result order and pages.
- **Throttling.** botocore's standard retry mode, with connect and read timeouts from
  the store's ``timeout``; the store has no retry loop of its own.
- **Idempotent writes.** An entity is looked up before it is created; a create or
  AddAssociation answered by a ``ValidationException`` (a concurrent writer, or an
  index that has not caught up) is success only when a targeted look-up then finds the
  entity or association: errors are told apart by code and by fact, never by message.

Limits: a write is not one transaction (SageMaker has none); every association end is
checked before anything is written, so a dangling edge writes nothing, but a failure
half-way leaves what was written. Metadata properties cannot be changed once created.
Listings read every entity of the listing (SageMaker cannot sort by our ``created``).
"""

from airflow_lineage.store.sagemaker_client import CREATED_TAG, MODIFIED_TAG
from airflow_lineage.store.sagemaker_export import SageMakerExport
from airflow_lineage.store.sagemaker_graph import SageMakerGraphReading
from airflow_lineage.store.sagemaker_sharing import SageMakerSharing

__all__ = ["CREATED_TAG", "MODIFIED_TAG", "SageMakerStore"]


class SageMakerStore(SageMakerExport, SageMakerGraphReading, SageMakerSharing):
    """Lineage in Amazon SageMaker ML Lineage Tracking.

    QueryLineage returns only what the caller may see, and nothing about the rest, so
    this store cannot tell that a walk was cut off by account visibility
    (``detects_hidden_lineage`` is False).

    :param client: a boto3 SageMaker client to use (tests pass a Stubber-wrapped one);
        when None, one is made lazily by the amazon provider's ``SageMakerHook``.
    :param aws_conn_id: the Airflow AWS connection for the hook.
    :param region: the region; default: the client's (or the connection's) region.
    :param account: the 12-digit account; default: asked of STS on first need.
    :param max_attempts: tries per call, botocore's standard retry mode (throttling and
        transient errors) on the clients the store makes.
    :param timeout: seconds to connect and to read one answer, on the clients it makes.
    :raises ValueError: the account or region is malformed.
    """
