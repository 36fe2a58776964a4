"""Provenance policies: the rules a model's upstream lineage must satisfy to be deployed.

A policy is written in Python or YAML by a governance team::

    required:                       # each must match at least one upstream entity
      - {type: DataSet, properties: {approved: "true"}}
      - {lineage_type: Action, type: Training, status: Completed}
    metrics:                        # on the newest upstream action of that type
      - {step_type: Evaluation, metric: accuracy, min: 0.9}
    forbidden:                      # none may match
      - {type: DataSet, properties: {pii: "true"}}
    trusted_accounts: ["000000000000"]   # default: the store's own account
    max_age: P30D                   # required ancestors and metric steps no older than this
    verify_digests: true            # recompute every upstream content digest
    max_depth: 50

Every rule is checked and explained; a policy fails closed (no lineage is a rejection).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

from airflow_lineage.model import ActionStatus, LineageType, _enum

__all__ = ["AncestorRule", "MetricRule", "Policy"]

_ACCOUNT_DIGITS = 12


def _str_map(name: str, value: object) -> Mapping[str, str]:
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a mapping of strings, not {type(value).__name__}")
    out: dict[str, str] = {}
    for k, v in value.items():
        if not isinstance(k, str):
            raise TypeError(f"{name} keys must be strings, got {k!r}")
        # YAML reads `approved: true` as a bool; properties are strings in lineage.
        out[k] = str(v).lower() if isinstance(v, bool) else str(v)
    return MappingProxyType(out)


def _duration(value: object) -> timedelta | None:
    """Parse an ISO-8601 duration (``P30D``, ``PT12H``) or a timedelta."""
    if value is None or isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise TypeError(f"max_age must be an ISO-8601 duration such as 'P30D', not {value!r}")
    import pendulum

    try:
        parsed = pendulum.parse(value)
    except (ValueError, pendulum.parsing.exceptions.ParserError) as e:
        raise ValueError(f"max_age {value!r} is not an ISO-8601 duration such as 'P30D'") from e
    if not isinstance(parsed, pendulum.Duration):
        raise ValueError(f"max_age {value!r} is not an ISO-8601 duration such as 'P30D'")
    return timedelta(seconds=parsed.total_seconds())


@dataclass(frozen=True, slots=True)
class AncestorRule:
    """Describe upstream entities: by type, lineage type, properties and action status.

    Empty fields match anything; properties must all match.
    """

    type: str | None = None
    lineage_type: LineageType | None = None
    properties: Mapping[str, str] = field(default_factory=dict, hash=False)
    status: ActionStatus | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        if self.type is not None and not isinstance(self.type, str):
            raise TypeError(f"rule type must be a string, not {self.type!r}")
        if self.lineage_type is not None:
            lt = _enum(LineageType, "lineage_type", self.lineage_type)
            object.__setattr__(self, "lineage_type", lt)
        if self.status is not None:
            object.__setattr__(self, "status", _enum(ActionStatus, "status", self.status))
        object.__setattr__(self, "properties", _str_map("properties", self.properties))
        if self.type is None and self.lineage_type is None and not self.properties:
            raise ValueError("a rule needs at least one of type, lineage_type or properties")

    @classmethod
    def parse(cls, value: object, where: str) -> AncestorRule:
        """Build a rule from a mapping (YAML) or return a rule as it is."""
        if isinstance(value, AncestorRule):
            return value
        if not isinstance(value, Mapping):
            raise TypeError(f"{where} must be a mapping, not {type(value).__name__}")
        unknown = set(value) - {"type", "lineage_type", "properties", "status", "name"}
        if unknown:
            raise ValueError(f"{where} has unknown field(s): {', '.join(sorted(unknown))}")
        return cls(**value)

    def describe(self) -> str:
        """Return the rule in words."""
        if self.name:
            return self.name
        parts = [self.lineage_type.value if self.lineage_type else None, self.type]
        text = " ".join(p for p in parts if p) or "entity"
        if self.status:
            text += f" with status {self.status.value}"
        if self.properties:
            text += " with " + ", ".join(f"{k}={v}" for k, v in self.properties.items())
        return text


@dataclass(frozen=True, slots=True)
class MetricRule:
    """A bound on a metric of the newest upstream action of a step type."""

    step_type: str
    metric: str
    min: float | None = None
    max: float | None = None

    def __post_init__(self) -> None:
        if not self.step_type or not self.metric:
            raise ValueError("a metric rule needs a step_type and a metric")
        if self.min is None and self.max is None:
            raise ValueError(f"metric rule on {self.metric!r} needs min or max")
        for bound in ("min", "max"):
            value = getattr(self, bound)
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise TypeError(f"metric rule {bound} must be a number, not {value!r}")
                object.__setattr__(self, bound, float(value))

    @classmethod
    def parse(cls, value: object, where: str) -> MetricRule:
        """Build a rule from a mapping (YAML) or return a rule as it is."""
        if isinstance(value, MetricRule):
            return value
        if not isinstance(value, Mapping):
            raise TypeError(f"{where} must be a mapping, not {type(value).__name__}")
        unknown = set(value) - {"step_type", "metric", "min", "max"}
        if unknown:
            raise ValueError(f"{where} has unknown field(s): {', '.join(sorted(unknown))}")
        return cls(**value)

    def describe(self) -> str:
        """Return the rule in words."""
        bounds = []
        if self.min is not None:
            bounds.append(f">= {self.min:g}")
        if self.max is not None:
            bounds.append(f"<= {self.max:g}")
        return f"{self.step_type} metric {self.metric} {' and '.join(bounds)}"


@dataclass(frozen=True, slots=True)
class Policy:
    """What a model's upstream lineage must satisfy. See the module docstring."""

    required: tuple[AncestorRule, ...] = ()
    metrics: tuple[MetricRule, ...] = ()
    forbidden: tuple[AncestorRule, ...] = ()
    trusted_accounts: tuple[str, ...] | None = None
    max_age: timedelta | None = None
    verify_digests: bool = True
    max_depth: int = 50

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "required", tuple(AncestorRule.parse(r, "required rule") for r in self.required)
        )
        object.__setattr__(
            self, "metrics", tuple(MetricRule.parse(r, "metric rule") for r in self.metrics)
        )
        object.__setattr__(
            self,
            "forbidden",
            tuple(AncestorRule.parse(r, "forbidden rule") for r in self.forbidden),
        )
        if self.trusted_accounts is not None:
            if isinstance(self.trusted_accounts, str):
                raise TypeError("trusted_accounts must be a list of account ids")
            accounts = tuple(str(a) for a in self.trusted_accounts)
            for account in accounts:
                if len(account) != _ACCOUNT_DIGITS or not account.isdigit():
                    raise ValueError(f"trusted account {account!r} is not 12 digits")
            object.__setattr__(self, "trusted_accounts", accounts)
        object.__setattr__(self, "max_age", _duration(self.max_age))
        if not isinstance(self.verify_digests, bool):
            raise TypeError("verify_digests must be true or false")
        if isinstance(self.max_depth, bool) or not isinstance(self.max_depth, int):
            raise TypeError("max_depth must be an integer")
        if not 1 <= self.max_depth <= 1000:
            raise ValueError(f"max_depth must be between 1 and 1000, got {self.max_depth}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Policy:
        """Build a policy from a mapping (as read from YAML or JSON).

        :raises ValueError: a field is unknown or invalid, named in the message.
        """
        if not isinstance(data, Mapping):
            raise TypeError(f"a policy must be a mapping, not {type(data).__name__}")
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"policy has unknown field(s): {', '.join(sorted(unknown))}")
        values = dict(data)
        for name in ("required", "metrics", "forbidden"):
            items = values.get(name, ())
            if not isinstance(items, Sequence) or isinstance(items, str):
                raise TypeError(f"policy {name} must be a list")
            values[name] = tuple(items)
        return cls(**values)

    @classmethod
    def from_yaml(cls, text_or_path: str | Path) -> Policy:
        """Build a policy from YAML text or a YAML file."""
        import yaml

        text = str(text_or_path)
        if isinstance(text_or_path, Path) or (
            "\n" not in text and text.endswith((".yaml", ".yml"))
        ):
            text = Path(text).read_text()
        data = yaml.safe_load(text) or {}
        return cls.from_dict(data)

    @classmethod
    def coerce(cls, value: Policy | Mapping[str, Any] | str | Path) -> Policy:
        """Return a Policy from a Policy, a mapping, YAML text or a YAML file path."""
        if isinstance(value, Policy):
            return value
        if isinstance(value, Mapping):
            return cls.from_dict(value)
        if isinstance(value, str | Path):
            return cls.from_yaml(value)
        raise TypeError(f"policy must be a Policy, a mapping or YAML, not {type(value).__name__}")
