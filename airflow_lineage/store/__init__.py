"""Lineage stores behind one interface; :func:`connect` opens the one the rules find.

Every caller finds the store the same way (:func:`locate`): an explicit URL, else the
lineage connection, else ``[ml_lineage] store_url``, else ``$AIRFLOW_HOME/lineage.db``.
Opening never changes the schema: :func:`upgrade` (``airflow-lineage db upgrade``,
``airflow db migrate``) creates and migrates stores. :func:`connect_admin` is the one
way to see every account's lineage.
"""

from __future__ import annotations

from airflow_lineage.exceptions import StoreError
from airflow_lineage.model import LOCAL_REGION
from airflow_lineage.store.base import LineageStore, Page
from airflow_lineage.store.locate import Source, StoreLocation, locate

__all__ = [
    "LineageStore",
    "Page",
    "Source",
    "StoreLocation",
    "connect",
    "connect_admin",
    "current",
    "locate",
    "upgrade",
]


def connect(
    url: str | None = None,
    *,
    conn_id: str | None = None,
    account: str | None = None,
    region: str | None = None,
    timeout: float | None = None,
    create: bool = False,
) -> LineageStore:
    """Open a lineage store, found as :func:`locate` says.

    :param url: a SQLAlchemy URL (``sqlite:///…``, ``postgresql://login:pw@host/db``) or
        ``sagemaker://?region=us-east-1&aws_conn_id=aws_default&account=123456789012``
        (Amazon SageMaker through an Airflow AWS connection; every query parameter
        optional). ``None``: the lineage connection, ``[ml_lineage] store_url`` or the
        embedded ``$AIRFLOW_HOME/lineage.db``, in that order.
    :param conn_id: find the store through this lineage connection (it must exist).
    :param account: the 12-digit account to act as. On PostgreSQL the account is the
        login's role and this may only repeat it (or name a role the login holds); on
        SQLite, one trust domain, it selects whose view the library applies (default
        ``000000000000``).
    :param region: the region entities are created in (default ``local``).
    :param timeout: seconds a call may wait for the database (default 60).
    :param create: create the store or upgrade its schema first (DDL: for scripts,
        notebooks and tests; never in a task). Without it a store that is missing or at
        an older revision is refused.
    :raises ValueError: the URL, the connection or the account is malformed.
    :raises AccessDeniedError: the login may not act as that account.
    :raises StoreError: the database cannot be reached, or holds no store at the
        current revision (the message names the store, why it was chosen, and the
        command to run).
    """
    return _open(locate(url, conn_id=conn_id), account, region, timeout, create, admin=False)


def connect_admin(
    url: str | None = None,
    *,
    conn_id: str | None = None,
    account: str | None = None,
    region: str | None = None,
    timeout: float | None = None,
) -> LineageStore:
    """Open a SQL store with unrestricted access to every account's lineage.

    For backup, restore, moving lineage between backends and provisioning account roles.
    On PostgreSQL the login must be a superuser or have ``BYPASSRLS``: row-level
    security is forced on every lineage table, so no other login can see past its
    account, whatever it asks for. Without ``url`` the admin connection
    (``[ml_lineage] admin_conn_id``) comes first, then the rules of :func:`locate`.

    :param account: the account new entities and edges are created in when their records
        do not say (default: the login's, else ``000000000000``).
    :raises AccessDeniedError: the login does not bypass row-level security.
    """
    where = locate(url, conn_id=conn_id, admin=True)
    if where.url.startswith("sagemaker://"):
        raise ValueError("connect_admin opens SQL stores; SageMaker access is its IAM role's")
    return _open(where, account, region, timeout, False, admin=True)


def upgrade(url: str | None = None, *, conn_id: str | None = None) -> tuple[str | None, str]:
    """Create the store :func:`locate` finds (or ``url``), or bring it to the current
    schema revision; return the revisions before (None: it was new) and after.

    What ``airflow-lineage db upgrade`` and ``airflow db migrate`` run. Run it as the role
    that owns the lineage tables.

    :raises StoreError: the database cannot be reached or migrated.
    """
    from airflow_lineage.store import migrate

    return migrate.upgrade(url, conn_id=conn_id)


def current(url: str | None = None, *, conn_id: str | None = None) -> str | None:
    """Return the schema revision of the store :func:`locate` finds (or ``url``); None
    when there is no lineage store there.

    :raises StoreError: the database cannot be reached.
    """
    from airflow_lineage.store import migrate

    return migrate.current(url, conn_id=conn_id)


def _open(
    where: StoreLocation,
    account: str | None,
    region: str | None,
    timeout: float | None,
    create: bool,
    *,
    admin: bool,
) -> LineageStore:
    """Open the store at ``where``; a failure to open names it and why it was chosen."""
    from airflow_lineage.store.sql import SqlStore

    if where.url.startswith("sagemaker://"):
        return _sagemaker(
            where.url,
            account=account or where.account,
            region=region or where.region,
            timeout=60.0 if timeout is None else timeout,
        )
    try:
        return SqlStore(
            where.url,
            account=account or where.account,
            region=region or where.region or LOCAL_REGION,
            timeout=60.0 if timeout is None else timeout,
            create=create,
            unrestricted=admin,
        )
    except StoreError as e:
        if where.explicit:
            raise
        raise StoreError(f"{e} [store {where.describe()}]") from e


def _sagemaker(
    url: str, *, account: str | None, region: str | None, timeout: float
) -> LineageStore:
    """Open a SageMaker store from ``sagemaker://?region=…&aws_conn_id=…&account=…``."""
    from urllib.parse import parse_qs, urlsplit

    from airflow_lineage.store.sagemaker import SageMakerStore

    parts = urlsplit(url)
    if parts.netloc or parts.path not in ("", "/"):
        raise ValueError(
            f"store URL {url!r}: a SageMaker URL has only query parameters, e.g. "
            "sagemaker://?region=us-east-1&aws_conn_id=aws_default&account=123456789012"
        )
    params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    unknown = set(params) - {"region", "aws_conn_id", "account"}
    if unknown:
        raise ValueError(f"store URL {url!r}: unknown parameter(s) {', '.join(sorted(unknown))}")
    return SageMakerStore(
        aws_conn_id=params.get("aws_conn_id", "aws_default"),
        region=region or params.get("region"),
        account=account or params.get("account"),
        timeout=timeout,
    )
