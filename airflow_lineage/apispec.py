"""SageMaker's lineage API constraints: names, lengths, patterns, counts and enums.

They are never copied by hand. ``scripts/gen_sagemaker_limits.py`` extracts them from the
``sagemaker`` service model that botocore ships into :mod:`._sagemaker_limits`, and a test
fails when that module no longer matches the installed botocore. Validating an entity
therefore never loads botocore: parsing the 2 MB service model would cost every Airflow
task process (a fresh process per task) 80-270 ms. Only :func:`service_model` loads it,
for the boto3-shaped facade's request checks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from botocore.model import ServiceModel

    from airflow_lineage._sagemaker_limits import Shape

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
    """Return botocore's SageMaker service model (loaded on first use, for the facade)."""
    import botocore.session  # lazy: ~0.1-0.3 s to load the model

    return botocore.session.get_session().get_service_model("sagemaker")


@dataclass(frozen=True, slots=True)
class ShapeLimits:
    """The constraints one botocore shape puts on a value."""

    name: str
    min: int | None
    max: int | None
    pattern: re.Pattern[str] | None
    enum: tuple[str, ...]


def _shape(shape_name: str) -> Shape:
    """Return the extracted constraints of a shape (imported on first use)."""
    from airflow_lineage._sagemaker_limits import SHAPES

    try:
        return SHAPES[shape_name]
    except KeyError:
        raise KeyError(
            f"{shape_name!r} is not a shape of SageMaker's lineage operations "
            "(see scripts/gen_sagemaker_limits.py)"
        ) from None


def _compile(raw_pattern: str | None) -> re.Pattern[str] | None:
    """Return a shape's pattern compiled, or None where it constrains nothing we can check."""
    if not raw_pattern or raw_pattern == ".*":
        return None
    # The model's patterns are Java regexes; those we validate are plain ASCII classes.
    try:
        return re.compile(raw_pattern, re.DOTALL)
    except re.error:  # a Java-only class such as \p{L}: lengths still apply
        return None


@cache
def limits(shape_name: str) -> ShapeLimits:
    """Return the constraints of the named shape in the SageMaker model.

    :raises KeyError: no lineage operation uses a shape of that name.
    """
    _, low, high, pattern, enum, _ = _shape(shape_name)
    return ShapeLimits(name=shape_name, min=low, max=high, pattern=_compile(pattern), enum=enum)


@cache
def service_shape_members(shape_name: str) -> tuple[str, ...]:
    """Return the member names of a structure shape."""
    return tuple(name for name, _ in _shape(shape_name)[5])


@cache
def operation_input(operation: str) -> dict[str, ShapeLimits]:
    """Return the limits of each top-level input member of an operation.

    :raises KeyError: the operation is not a lineage operation.
    """
    from airflow_lineage._sagemaker_limits import OPERATIONS

    if operation not in OPERATIONS:
        raise KeyError(f"{operation!r} is not one of SageMaker's lineage operations")
    request = OPERATIONS[operation][0]
    if request is None:
        return {}
    return {name: limits(shape) for name, shape in _shape(request)[5]}


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
