"""The SQL store's sharing: lineage groups shared between accounts, account roles."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from airflow_lineage.exceptions import (
    EntityNotFoundError,
)
from airflow_lineage.model import (
    DEFAULT_LINEAGE_GROUP,
    Arn,
    from_micros,
    to_micros,
    utcnow,
)
from airflow_lineage.sharing import (
    Share,
    ShareStatus,
    lineage_group_policy,
)
from airflow_lineage.store.interface import Sharing
from airflow_lineage.store.schema import (
    lineage_groups,
    shares,
)
from airflow_lineage.store.sql_engine import SqlCore, translated

__all__ = ["SqlSharing"]


class SqlSharing(SqlCore, Sharing):
    """Sharing lineage groups in SQL (invitations, acceptance, revocation)."""

    def _check_group(self, group: str, other: str, label: str) -> None:
        Arn(self.region, other, "lineage-group", group)  # validates the account
        if group != DEFAULT_LINEAGE_GROUP:
            raise ValueError(
                f"only {DEFAULT_LINEAGE_GROUP!r} can be shared (every entity belongs to its "
                f"account's default group), not {group!r}"
            )
        if other == self.account:
            raise ValueError(f"{label} {other} is this store's own account")

    @staticmethod
    def _row_share(row: Any) -> Share:
        return Share(
            owner=row.owner_account,
            consumer=row.consumer_account,
            group=row.group_name,
            region=row.region,
            status=ShareStatus(row.status),
            created=from_micros(row.created_at),
            modified=from_micros(row.modified_at),
        )

    def _share_row(self, conn: Connection, owner: str, consumer: str, group: str) -> Any:
        return conn.execute(
            sa.select(shares).where(
                shares.c.owner_account == owner,
                shares.c.consumer_account == consumer,
                shares.c.group_name == group,
            )
        ).first()

    def share(self, consumer_account: str, *, group: str = DEFAULT_LINEAGE_GROUP) -> Share:
        """Invite ``consumer_account`` to this account's lineage group (as a RAM share)."""
        self._check_group(group, consumer_account, "consumer_account")
        now = to_micros(utcnow())
        with translated("share a lineage group"), self._write_tx() as conn:
            conn.execute(
                self._insert(lineage_groups).on_conflict_do_nothing(
                    index_elements=["account", "name"]
                ),
                [
                    {
                        "account": self.account,
                        "name": group,
                        "region": self.region,
                        "created_at": now,
                    }
                ],
            )
            row = self._share_row(conn, self.account, consumer_account, group)
            if row is None:
                conn.execute(
                    shares.insert().values(
                        owner_account=self.account,
                        consumer_account=consumer_account,
                        group_name=group,
                        region=self.region,
                        status=ShareStatus.PENDING.value,
                        created_at=now,
                        modified_at=now,
                    )
                )
            elif row.status == ShareStatus.REVOKED.value:
                conn.execute(
                    shares.update()
                    .where(
                        shares.c.owner_account == self.account,
                        shares.c.consumer_account == consumer_account,
                        shares.c.group_name == group,
                    )
                    .values(status=ShareStatus.PENDING.value, modified_at=now)
                )
            row = self._share_row(conn, self.account, consumer_account, group)
        self._known_groups.add((self.account, self.region))
        return self._row_share(row)

    def _set_status(
        self, owner: str, consumer: str, group: str, before: set[ShareStatus], after: ShareStatus
    ) -> Share | None:
        now = to_micros(utcnow())
        with translated("change a share"), self._write_tx() as conn:
            row = self._share_row(conn, owner, consumer, group)
            if row is None or ShareStatus(row.status) not in before:
                return None
            if ShareStatus(row.status) is not after:
                conn.execute(
                    shares.update()
                    .where(
                        shares.c.owner_account == owner,
                        shares.c.consumer_account == consumer,
                        shares.c.group_name == group,
                    )
                    .values(status=after.value, modified_at=now)
                )
                row = self._share_row(conn, owner, consumer, group)
        return self._row_share(row)

    def accept(self, owner_account: str, *, group: str = DEFAULT_LINEAGE_GROUP) -> Share:
        """Accept ``owner_account``'s invitation: its lineage becomes visible to this one."""
        self._check_group(group, owner_account, "owner_account")
        done = self._set_status(
            owner_account,
            self.account,
            group,
            {ShareStatus.PENDING, ShareStatus.ACCEPTED},
            ShareStatus.ACCEPTED,
        )
        if done is None:
            raise EntityNotFoundError(
                f"account {owner_account} has no pending invitation to its lineage group "
                f"{group} for account {self.account}"
            )
        self._pager.clear()
        return done

    def revoke(self, consumer_account: str, *, group: str = DEFAULT_LINEAGE_GROUP) -> Share:
        """Stop sharing this account's lineage group with ``consumer_account``."""
        self._check_group(group, consumer_account, "consumer_account")
        done = self._set_status(
            self.account,
            consumer_account,
            group,
            {ShareStatus.PENDING, ShareStatus.ACCEPTED, ShareStatus.REVOKED},
            ShareStatus.REVOKED,
        )
        if done is None:
            raise EntityNotFoundError(
                f"lineage group {group} of account {self.account} is not shared with "
                f"account {consumer_account}"
            )
        return done

    def shares(self) -> list[Share]:
        """Return the shares this account is a party to: those it owns, then the others."""
        stmt = (
            sa.select(shares)
            .where(
                sa.or_(
                    shares.c.owner_account == self.account,
                    shares.c.consumer_account == self.account,
                )
            )
            .order_by(
                shares.c.owner_account != self.account,
                shares.c.owner_account,
                shares.c.group_name,
                shares.c.consumer_account,
            )
        )
        with translated("list shares"), self._read_tx() as conn:
            return [self._row_share(r) for r in conn.execute(stmt)]

    def get_lineage_group_policy(self, lineage_group: str) -> dict[str, str]:
        """Return the resource policy of a lineage group this account sees (by name or
        ARN): the SageMaker actions it allows its accepted consumers."""
        if not isinstance(lineage_group, str):
            raise TypeError(f"lineage_group must be a string, not {type(lineage_group).__name__}")
        if lineage_group.startswith("arn:"):
            parsed = Arn.parse(lineage_group, field_name="LineageGroupArn")
            if parsed.resource != "lineage-group":
                raise ValueError(f"{lineage_group!r} is not a lineage group ARN")
            owner, name = parsed.account, parsed.resource_id
        else:
            owner, name = self.account, lineage_group
        visible = {g.arn: g for g in self.lineage_groups() if (g.account, g.name) == (owner, name)}
        if not visible:
            raise EntityNotFoundError(
                f"no lineage group {lineage_group} is visible to account {self.account}"
            )
        (group,) = visible.values()
        with translated("read a lineage group policy"), self._read_tx() as conn:
            consumers = (
                conn.execute(
                    sa.select(shares.c.consumer_account).where(
                        shares.c.owner_account == owner,
                        shares.c.group_name == name,
                        shares.c.status == ShareStatus.ACCEPTED.value,
                    )
                )
                .scalars()
                .all()
            )
        if owner != self.account:
            consumers = [c for c in consumers if c == self.account]  # not the owner's others
        return lineage_group_policy(group.arn, list(consumers))

    def provision_account_role(
        self, account: str, *, password: str | None = None, grant_to: str | None = None
    ) -> str:
        """PostgreSQL: create the login role of ``account`` with the grants row-level
        security needs (see :func:`airflow_lineage.sharing.provision_account_role`);
        return its name.

        Run it on a store opened with :func:`~airflow_lineage.store.connect_admin` by a
        role that owns the lineage tables and may create roles.

        :raises ValueError: the store is SQLite, which has no roles.
        """
        if self._sqlite:
            raise ValueError("account roles are a PostgreSQL feature; SQLite has no roles")
        from airflow_lineage.sharing import provision_account_role

        with translated("provision an account role"), self._engine.begin() as conn:
            return provision_account_role(conn, account, password=password, grant_to=grant_to)
