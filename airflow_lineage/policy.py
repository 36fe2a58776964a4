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
    verify_digests: true            # every upstream artifact needs a digest that matches
    unverified_ok:                  # artifacts that may have no digest at all, and why
      - {type: Image, reason: "container images are pinned by tag in the step"}
      - {uri_scheme: https, reason: "public reference data"}
    allow_cut_off: []               # [depth] and/or [visibility]: accept a bounded walk
    max_depth: 50
    require_signed: true            # every upstream step's signed provenance must verify

A policy must hold at least one rule: a ``required`` ancestor, a ``metrics`` bound or a
``forbidden`` ancestor. The other fields only tighten or loosen how rules are checked;
a policy of those alone would pass any model that has lineage, so it is refused.

Every rule is checked and explained; a policy fails closed (no lineage is a rejection).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

from airflow_lineage.model import ActionStatus, LineageType, _enum

__all__ = ["CUT_OFF_KINDS", "AncestorRule", "DigestExemption", "MetricRule", "Policy"]

_ACCOUNT_DIGITS = 12
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*")

CUT_OFF_KINDS = ("depth", "visibility")
"""What ``allow_cut_off`` may name: lineage past ``max_depth``, lineage the caller's
account cannot see."""


def uri_scheme(uri: str) -> str:
    """Return the lower-case scheme of a URI (``s3``, ``file``, ``arn``), or ``""``."""
    head, sep, _ = uri.partition(":")
    return head.lower() if sep and _SCHEME.fullmatch(head.lower()) else ""


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


def _fields(value: object, where: str, known: set[str]) -> Mapping[str, Any]:
    """Return a rule's fields from a mapping (YAML), refusing unknown ones by name."""
    if not isinstance(value, Mapping):
        raise TypeError(f"{where} must be a mapping, not {type(value).__name__}")
    unknown = set(value) - known
    if unknown:
        raise ValueError(f"{where} has unknown field(s): {', '.join(sorted(unknown))}")
    return value


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
        known = {"type", "lineage_type", "properties", "status", "name"}
        return cls(**_fields(value, where, known))

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
class DigestExemption:
    """Artifacts that may carry no content digest at all, and why.

    Every field given must match (``type`` exactly, ``uri_scheme`` as the URI's scheme,
    ``uri_prefix`` as the start of its source URI); at least one must be given. An
    exempted artifact that does carry digests still has them checked.
    """

    type: str | None = None
    uri_scheme: str | None = None
    uri_prefix: str | None = None
    reason: str | None = None

    def __post_init__(self) -> None:
        for name in ("type", "uri_scheme", "uri_prefix", "reason"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise TypeError(f"unverified_ok {name} must be a non-empty string, not {value!r}")
        if self.type is None and self.uri_scheme is None and self.uri_prefix is None:
            raise ValueError(
                "an unverified_ok entry needs at least one of type, uri_scheme or uri_prefix"
            )
        if self.uri_scheme is not None:
            scheme = self.uri_scheme.lower().removesuffix("://").removesuffix(":")
            if not _SCHEME.fullmatch(scheme):
                raise ValueError(
                    f"unverified_ok uri_scheme {self.uri_scheme!r} is not a URI scheme "
                    "such as 'https' or 'arn'"
                )
            object.__setattr__(self, "uri_scheme", scheme)

    @classmethod
    def parse(cls, value: object, where: str) -> DigestExemption:
        """Build an exemption from a mapping (YAML) or return one as it is."""
        if isinstance(value, DigestExemption):
            return value
        return cls(**_fields(value, where, {"type", "uri_scheme", "uri_prefix", "reason"}))

    def matches(self, artifact_type: str, source_uri: str) -> bool:
        """Return True when an artifact of this type and URI is exempted."""
        if self.type is not None and artifact_type != self.type:
            return False
        if self.uri_scheme is not None and uri_scheme(source_uri) != self.uri_scheme:
            return False
        if self.uri_prefix is None:
            return True
        # A whole path segment, and no way around it with "." or "..".
        if any(part in (".", "..") for part in source_uri.split("/")):
            return False
        prefix = self.uri_prefix
        return source_uri == prefix or source_uri.startswith(
            prefix if prefix.endswith("/") else prefix + "/"
        )

    def describe(self) -> str:
        """Return the exemption in words."""
        parts = []
        if self.type is not None:
            parts.append(f"type {self.type}")
        if self.uri_scheme is not None:
            parts.append(f"scheme {self.uri_scheme}")
        if self.uri_prefix is not None:
            parts.append(f"URIs under {self.uri_prefix}")
        text = " and ".join(parts)
        return f"{text} ({self.reason})" if self.reason else text


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
        return cls(**_fields(value, where, {"step_type", "metric", "min", "max"}))

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
    unverified_ok: tuple[DigestExemption, ...] = ()
    allow_cut_off: tuple[str, ...] = ()
    max_depth: int = 50
    require_signed: bool = False

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
        if not isinstance(self.require_signed, bool):
            raise TypeError("require_signed must be true or false")
        if isinstance(self.max_depth, bool) or not isinstance(self.max_depth, int):
            raise TypeError("max_depth must be an integer")
        if not 1 <= self.max_depth <= 1000:
            raise ValueError(f"max_depth must be between 1 and 1000, got {self.max_depth}")
        for name in ("unverified_ok", "allow_cut_off"):
            items = getattr(self, name)
            if not isinstance(items, Sequence) or isinstance(items, str):
                raise TypeError(f"{name} must be a list")
        object.__setattr__(
            self,
            "unverified_ok",
            tuple(DigestExemption.parse(e, "unverified_ok entry") for e in self.unverified_ok),
        )
        if self.unverified_ok and not self.verify_digests:
            raise ValueError("unverified_ok exempts artifacts from verify_digests, which is off")
        for kind in self.allow_cut_off:
            if kind not in CUT_OFF_KINDS:
                raise ValueError(f"allow_cut_off {kind!r} is not one of {', '.join(CUT_OFF_KINDS)}")
        object.__setattr__(self, "allow_cut_off", tuple(dict.fromkeys(self.allow_cut_off)))
        if not (self.required or self.metrics or self.forbidden):
            raise ValueError(
                "a policy needs at least one rule (required, metrics or forbidden); "
                "without one it would pass any model that has lineage"
            )

    def exemption(self, artifact_type: str, source_uri: str) -> DigestExemption | None:
        """Return the first ``unverified_ok`` entry that exempts this artifact, or None."""
        return next((e for e in self.unverified_ok if e.matches(artifact_type, source_uri)), None)

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
        for name in ("required", "metrics", "forbidden", "unverified_ok", "allow_cut_off"):
            items = values.get(name, ())
            if not isinstance(items, Sequence) or isinstance(items, str):
                raise TypeError(f"policy {name} must be a list")
            values[name] = tuple(items)
        return cls(**values)

    @staticmethod
    def is_path(value: str | Path) -> bool:
        """Return True when ``value`` names a YAML file rather than holding YAML text."""
        text = str(value)
        return isinstance(value, Path) or ("\n" not in text and text.endswith((".yaml", ".yml")))

    @classmethod
    def from_yaml(cls, text_or_path: str | Path, *, base: Path | None = None) -> Policy:
        """Build a policy from YAML text or a YAML file.

        :param base: the folder a relative file path is read from (default: the cwd).
        :raises FileNotFoundError: the file does not exist (its path in the message).
        :raises ValueError: the YAML is malformed, or the policy is invalid.
        """
        import yaml

        text = str(text_or_path)
        where = "policy"
        if cls.is_path(text_or_path):
            path = Path(text_or_path).expanduser()
            if base is not None and not path.is_absolute():
                path = base / path
            try:
                text = path.read_text()
            except FileNotFoundError as e:
                raise FileNotFoundError(e.errno, f"policy file {path} does not exist") from e
            where = f"policy file {path}"
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            # One line (PyYAML's report spans several, with a caret under the column).
            mark = getattr(e, "problem_mark", None)
            problem = getattr(e, "problem", None) or str(e).strip().splitlines()[0]
            at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise ValueError(f"{where} is not valid YAML: {problem}{at}") from e
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            hint = "" if where != "policy" else " (a policy file's path must end in .yaml or .yml)"
            raise ValueError(
                f"{where} must be a mapping of fields, not {type(data).__name__}{hint}"
            )
        if where == "policy":
            return cls.from_dict(data)
        try:
            return cls.from_dict(data)
        except (ValueError, TypeError) as e:  # name the file the error is in
            raise type(e)(f"{where}: {e}") from e

    @classmethod
    def coerce(
        cls, value: Policy | Mapping[str, Any] | str | Path, *, base: Path | None = None
    ) -> Policy:
        """Return a Policy from a Policy, a mapping, YAML text or a YAML file path.

        :param base: the folder a relative file path is read from (default: the cwd).
        """
        if isinstance(value, Policy):
            return value
        if isinstance(value, Mapping):
            return cls.from_dict(value)
        if isinstance(value, str | Path):
            return cls.from_yaml(value, base=base)
        raise TypeError(f"policy must be a Policy, a mapping or YAML, not {type(value).__name__}")
