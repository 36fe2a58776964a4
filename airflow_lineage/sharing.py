"""Cross-account lineage: lineage groups shared as AWS RAM shares are.

An owner account shares its default lineage group with a consumer account; the share
is an invitation until the consumer accepts it, and the owner can revoke it. A caller
sees its own lineage and that of every account whose group it accepted and that was not
revoked; it changes only its own entities, and may associate any two entities it sees.

On PostgreSQL the database enforces the same rule: each account is a login role
(``lineage_acct_<account>``) and row-level security, forced on every lineage table
(migrations 0002 and 0003), decides what a session of that role sees and changes;
:func:`provision_account_role` creates such a role.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from airflow_lineage.exceptions import AccessDeniedError
from airflow_lineage.model import DEFAULT_LINEAGE_GROUP, LOCAL_REGION, Arn

__all__ = [
    "LINEAGE_GROUP_ACTIONS",
    "AccessDeniedError",
    "Share",
    "ShareStatus",
    "account_role",
    "lineage_group_policy",
    "provision_account_role",
    "role_account",
]

LINEAGE_GROUP_ACTIONS = (
    "sagemaker:DescribeAction",
    "sagemaker:DescribeArtifact",
    "sagemaker:DescribeContext",
    "sagemaker:DescribeTrialComponent",
    "sagemaker:AddAssociation",
    "sagemaker:DeleteAssociation",
    "sagemaker:QueryLineage",
)
"""What a lineage group's resource policy must allow for cross-account lineage."""


ROLE_PREFIX = "lineage_acct_"
_ROLE_RE = re.compile(r"lineage_acct_(\d{12})")
_LOGIN_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,62}")


class ShareStatus(StrEnum):
    """Where a share stands (RAM: resource share invitation status)."""

    PENDING = "Pending"
    ACCEPTED = "Accepted"
    REVOKED = "Revoked"


@dataclass(frozen=True, slots=True)
class Share:
    """A lineage group shared by ``owner`` with ``consumer``."""

    owner: str
    consumer: str
    group: str = DEFAULT_LINEAGE_GROUP
    region: str = LOCAL_REGION
    status: ShareStatus = ShareStatus.PENDING
    created: datetime | None = None
    modified: datetime | None = None

    @property
    def lineage_group_arn(self) -> str:
        """Return the ARN of the shared lineage group."""
        return str(Arn(self.region, self.owner, "lineage-group", self.group))


def lineage_group_policy(group_arn: str, principals: list[str]) -> dict[str, Any]:
    """Return SageMaker's ``GetLineageGroupPolicy`` response for a group and its consumers."""
    statements = []
    if principals:
        statements.append(
            {
                "Sid": "CrossAccountLineage",
                "Effect": "Allow",
                "Principal": {"AWS": [f"arn:aws:iam::{a}:root" for a in sorted(principals)]},
                "Action": list(LINEAGE_GROUP_ACTIONS),
                "Resource": group_arn,
            }
        )
    policy = {"Version": "2012-10-17", "Statement": statements}
    return {"LineageGroupArn": group_arn, "ResourcePolicy": json.dumps(policy)}


def account_role(account: str) -> str:
    """Return the PostgreSQL role that acts as ``account``."""
    Arn(LOCAL_REGION, account, "lineage-group", DEFAULT_LINEAGE_GROUP)  # validates it
    return f"{ROLE_PREFIX}{account}"


def role_account(role: str) -> str | None:
    """Return the account a role name acts as, or None."""
    m = _ROLE_RE.fullmatch(role)
    return m[1] if m else None


def provision_account_role(
    conn: Any, account: str, *, password: str | None = None, grant_to: str | None = None
) -> str:
    """Create (or update) the PostgreSQL login role of ``account`` and grant it what
    row-level security needs; return its name.

    The role ``lineage_acct_<account>`` is the account: the lineage connection of that
    account logs in as it. It gets ``LOGIN NOINHERIT NOBYPASSRLS``, no other privilege,
    and ``password`` when one is given (else an existing password is kept). ``grant_to``
    (another login role) may also be made a member, which lets that login act as the
    account with ``connect(url, account=...)``.

    ``conn`` is a SQLAlchemy connection, in a transaction, of a role that owns the
    lineage tables and may create roles; the tables are those of its current schema.

    :raises ValueError: the account, password or ``grant_to`` is malformed.
    """
    import sqlalchemy as sa

    role = account_role(account)
    if grant_to is not None and not _LOGIN_RE.fullmatch(grant_to):
        raise ValueError(f"grant_to {grant_to!r} is not a plain PostgreSQL role name")
    if password is not None and (not isinstance(password, str) or not password or "\0" in password):
        raise ValueError("password must be a non-empty string without NUL characters")
    # A role's password cannot be a bound parameter; a standard string literal with
    # its quotes doubled is exact (standard_conforming_strings is on since PG 9.1).
    secret = "" if password is None else " PASSWORD '" + password.replace("'", "''") + "'"
    # Roles are cluster-wide: serialise their creation between concurrent provisioners.
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(727246)"))
    existing = conn.execute(
        sa.text("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = :r"), {"r": role}
    ).first()
    if existing is None:
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN NOINHERIT NOBYPASSRLS{secret}")
    else:
        # Only a superuser may write NOBYPASSRLS (PostgreSQL 15 and older), so an existing
        # role that has nothing to strip is left as it is; one that bypasses row-level
        # security is stripped of it, or refused when that is not allowed.
        strip = " NOSUPERUSER NOBYPASSRLS" if existing[0] else ""
        conn.exec_driver_sql(f"ALTER ROLE {role} LOGIN NOINHERIT{strip}{secret}")
    schema = conn.execute(sa.text("SELECT current_schema()")).scalar_one()
    ident = '"' + schema.replace('"', '""') + '"'
    for sql in (
        f"GRANT USAGE ON SCHEMA {ident} TO {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON {ident}.lineage_entities TO {role}",
        f"GRANT SELECT, INSERT, DELETE ON {ident}.lineage_associations TO {role}",
        f"GRANT SELECT, INSERT ON {ident}.lineage_groups TO {role}",
        f"GRANT SELECT, INSERT ON {ident}.lineage_shares TO {role}",
        f"GRANT UPDATE (status, modified_at) ON {ident}.lineage_shares TO {role}",
        f"GRANT SELECT ON {ident}.lineage_alembic_version TO {role}",
        f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {ident} TO {role}",
    ):
        conn.execute(sa.text(sql))
    # Signed provenance (revision 0005); a store provisioned earlier gets it on upgrade.
    if conn.execute(sa.text("SELECT to_regclass('lineage_attestations')")).scalar() is not None:
        grant = f"GRANT SELECT, INSERT, UPDATE, DELETE ON {ident}.lineage_attestations TO {role}"
        conn.execute(sa.text(grant))
    if grant_to is not None:
        conn.execute(sa.text(f'GRANT {role} TO "{grant_to}"'))
    return role
