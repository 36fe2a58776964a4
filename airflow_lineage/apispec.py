"""Read SageMaker's lineage API constraints from botocore's service model.

Names, lengths, patterns, counts and enums are never copied by hand: they come from the
``sagemaker`` service model that botocore ships, loaded once and cached.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from botocore.model import ServiceModel, Shape

__all__ = [
    "ShapeLimits",
    "check_string",
    "limits",
    "operation_input",
    "service_model",
    "service_shape_members",
]


@cache
def service_model() -> ServiceModel:
    """Return botocore's SageMaker service model (loaded on first use)."""
    import botocore.session  # lazy: ~0.2 s to load the model

    return botocore.session.get_session().get_service_model("sagemaker")


@dataclass(frozen=True, slots=True)
class ShapeLimits:
    """The constraints one botocore shape puts on a value."""

    name: str
    min: int | None
    max: int | None
    pattern: re.Pattern[str] | None
    enum: tuple[str, ...]


@cache
def limits(shape_name: str) -> ShapeLimits:
    """Return the constraints of the named shape in the SageMaker model."""
    shape = service_model().shape_for(shape_name)
    return _limits_of(shape)


def _limits_of(shape: Shape) -> ShapeLimits:
    meta: dict[str, Any] = shape.metadata
    raw_pattern = meta.get("pattern")
    pattern = None
    if raw_pattern and raw_pattern != ".*":
        # The model's patterns are Java regexes; those we validate are plain ASCII classes.
        try:
            pattern = re.compile(raw_pattern, re.DOTALL)
        except re.error:  # a Java-only class such as \p{L}: lengths still apply
            pattern = None
    return ShapeLimits(
        name=shape.name,
        min=meta.get("min"),
        max=meta.get("max"),
        pattern=pattern,
        enum=tuple(getattr(shape, "enum", None) or ()),
    )


@cache
def service_shape_members(shape_name: str) -> tuple[str, ...]:
    """Return the member names of a structure shape."""
    return tuple(service_model().shape_for(shape_name).members)


@cache
def operation_input(operation: str) -> dict[str, ShapeLimits]:
    """Return the limits of each top-level input member of an operation."""
    op = service_model().operation_model(operation)
    return {name: _limits_of(member) for name, member in op.input_shape.members.items()}


def check_string(field: str, value: object, shape_name: str, *, optional: bool = False) -> None:
    """Raise ValueError/TypeError unless ``value`` satisfies the named string shape.

    :param field: the name shown in the error, e.g. ``"ArtifactName"``.
    """
    if value is None:
        if optional:
            return
        raise ValueError(f"{field} is required")
    if not isinstance(value, str):
        raise TypeError(f"{field} must be a string, not {type(value).__name__}")
    lim = limits(shape_name)
    if lim.min is not None and len(value) < lim.min:
        raise ValueError(f"{field} must be at least {lim.min} characters long, got {len(value)}")
    if lim.max is not None and len(value) > lim.max:
        raise ValueError(f"{field} must be at most {lim.max} characters long, got {len(value)}")
    if lim.pattern is not None and not lim.pattern.fullmatch(value):
        raise ValueError(f"{field} {value!r} does not match the pattern {lim.pattern.pattern!r}")
    if lim.enum and value not in lim.enum:
        raise ValueError(f"{field} must be one of {', '.join(lim.enum)}; got {value!r}")
