"""Extractors: operator-specific knowledge of what a task reads and writes.

An extractor is registered for an operator class (by its dotted path, so registering
never imports a provider) and applies to subclasses too. Operators we do not know can
describe themselves instead, by defining the methods of :class:`LineageAware`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from airflow_lineage.capture.lineage import StepLineage

__all__ = ["Extractor", "LineageAware", "extractor_for", "register_extractor"]


class Extractor:
    """Base class of extractors; both methods default to saying nothing."""

    def on_start(self, task: Any, context: Mapping[str, Any]) -> StepLineage:
        """Return what is known before the task runs (its inputs, above all)."""
        return StepLineage()

    def on_complete(self, task: Any, context: Mapping[str, Any], result: Any) -> StepLineage:
        """Return what the finished task read and wrote, from its return value."""
        return StepLineage()

    def on_failure(self, task: Any, context: Mapping[str, Any], error: Any) -> StepLineage:
        """Return what a failed task still recorded (e.g. a gate's rejection report)."""
        return StepLineage()


@runtime_checkable
class LineageAware(Protocol):
    """The protocol a user operator implements to expose its own lineage."""

    def get_lineage_on_start(self, context: Mapping[str, Any]) -> StepLineage:
        """Return the inputs known before ``execute`` (their digests are taken then)."""

    def get_lineage_on_complete(self, context: Mapping[str, Any], result: Any) -> StepLineage:
        """Return the outputs and metadata once ``execute`` has returned ``result``.

        An operator may also define ``get_lineage_on_failure(context, error)``, for what
        it still recorded when it failed.
        """


class _SelfDescribing(Extractor):
    """Adapts an operator implementing :class:`LineageAware`."""

    def on_start(self, task: Any, context: Mapping[str, Any]) -> StepLineage:
        return task.get_lineage_on_start(context)  # type: ignore[no-any-return]

    def on_complete(self, task: Any, context: Mapping[str, Any], result: Any) -> StepLineage:
        return task.get_lineage_on_complete(context, result)  # type: ignore[no-any-return]

    def on_failure(self, task: Any, context: Mapping[str, Any], error: Any) -> StepLineage:
        hook = getattr(task, "get_lineage_on_failure", None)
        return hook(context, error) if hook is not None else StepLineage()


_registry: dict[str, Extractor] = {}
_BUILTIN_MODULES = {"airflow.providers.amazon.aws.operators.sagemaker"}
"""Modules whose operators have built-in extractors (loaded when a task uses one)."""
_builtins_loaded = False


def _dotted(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def register_extractor(operator: str | type, extractor: Extractor) -> None:
    """Use ``extractor`` for ``operator`` (a class or its dotted path) and its subclasses."""
    if not isinstance(extractor, Extractor):
        raise TypeError(f"extractor must be an Extractor, not {type(extractor).__name__}")
    key = operator if isinstance(operator, str) else _dotted(operator)
    if "." not in key:
        raise ValueError(f"operator must be a class or a dotted path, got {key!r}")
    _registry[key] = extractor
    _by_class.clear()


_by_class: dict[type, Extractor | None] = {}
"""The extractor found for each operator class (a protocol check costs a task ~1 ms)."""

_PROTOCOL = ("get_lineage_on_start", "get_lineage_on_complete")
"""The methods of :class:`LineageAware`, looked up on the class."""


def extractor_for(task: Any) -> Extractor | None:
    """Return the extractor for a task: the task's own protocol first, then the registry."""
    cls = type(task)
    try:
        return _by_class[cls]
    except KeyError:
        found = _SelfDescribing() if _describes_itself(cls) else _registered(cls)
        _by_class[cls] = found
        return found


def _describes_itself(cls: type) -> bool:
    """Return whether the operator class implements :class:`LineageAware`."""
    return all(callable(getattr(cls, name, None)) for name in _PROTOCOL)


def _registered(cls: type) -> Extractor | None:
    global _builtins_loaded
    mro = cls.__mro__
    if not _builtins_loaded and any(cls.__module__ in _BUILTIN_MODULES for cls in mro):
        # Only a task of such an operator pays for loading the built-in extractors.
        _builtins_loaded = True
        from airflow_lineage.capture.extractors import sagemaker

        sagemaker.register()
    for cls in mro:
        found = _registry.get(_dotted(cls))
        if found is not None:
            return found
    return None
