"""Write helpers shared by the apps' services."""

from collections.abc import Collection, Mapping
from typing import Any, TypeVar

from django.db.models import Model

ModelT = TypeVar("ModelT", bound=Model)


def model_update(
    *,
    instance: ModelT,
    fields: Mapping[str, Any],
    allowed: Collection[str],
    stamps: Mapping[str, Any] | None = None,
) -> tuple[ModelT, bool]:
    """Set `fields` on `instance`, validate it and save only what changed; return (instance, changed).

    A field outside `allowed` is a programming error in the caller, not bad input (serializers
    and forms decide what a user may send), so it is a TypeError and nothing is touched.
    `stamps` (who made the change, and when) are written only alongside a real change, so
    saving the same values leaves the row, its author and its audit trail as they were.
    Many-to-many fields are not handled: their own relation managers write them.
    """
    unexpected = set(fields) - set(allowed)
    if unexpected:
        raise TypeError(f"model_update() got unexpected fields: {', '.join(sorted(unexpected))}")
    changed = [name for name, value in fields.items() if getattr(instance, name) != value]
    if not changed:
        return instance, False
    for name in changed:
        setattr(instance, name, fields[name])
    for name, value in (stamps or {}).items():
        setattr(instance, name, value)
        changed.append(name)
    instance.full_clean()
    # `auto_now` fields are only set by save() when they are among update_fields.
    auto_now = [field.name for field in instance._meta.concrete_fields if getattr(field, "auto_now", False)]
    instance.save(update_fields=[*changed, *auto_now])
    return instance, True
