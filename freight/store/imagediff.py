"""How two images differ: config fields first, then layer by layer the paths added,
removed or changed (``freight.store.layerdiff``).

Both sides are image sources (``freight.image.source``), so either may be an image of
the store, an archive's or a registry's. ``freight image diff`` prints the result as
text or JSON; ``build --check`` prints it when its two builds differ. Layers are
compared by position; a layer whose diff_id is the same on both sides is not read.
"""

from __future__ import annotations

import json

from freight.record import Record
from freight.store.compression import open_layer
from freight.store.layerdiff import PathChange, changes, summarise

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

    from freight.image.source import ImageSource
    from freight.store.layerdiff import Entry

_SHOWN_BELOW = ("rootfs", "history")  # the config's fields compared layer by layer


class FieldChange(Record):
    """A config field (dotted path) whose JSON value differs; ``None``: absent on that side."""

    field: str
    old: Any
    new: Any


class LayerChange(Record):
    """Layer ``index`` (made by ``created_by``): its diff_ids and the paths that differ."""

    index: int
    created_by: str
    old: str | None
    new: str | None
    paths: list[PathChange]


class ImageDiff(Record):
    old: str   # the images' manifest digests
    new: str
    config: list[FieldChange]
    history: list[FieldChange]
    layers: list[LayerChange]

    @property
    def same(self) -> bool:
        return not (self.config or self.history or self.layers)

    def lines(self) -> list[str]:
        """The difference as readable text, one line per config field, history entry, layer and path."""
        out = [f"config {c.field}: {_text(c.old)} -> {_text(c.new)}" for c in self.config]
        out += [f"{c.field}: {_text(c.old)} -> {_text(c.new)}" for c in self.history]
        for layer in self.layers:
            out.append(f"layer {layer.index} ({layer.created_by}): {layer.old or '(none)'} -> {layer.new or '(none)'}")
            out += ["  " + path.line() for path in layer.paths]
        return out

    def as_json(self) -> dict[str, Any]:
        return {
            "Old": self.old, "New": self.new,
            "Config": [{"Field": c.field, "Old": c.old, "New": c.new} for c in self.config],
            "History": [{"Field": c.field, "Old": c.old, "New": c.new} for c in self.history],
            "Layers": [{"Index": layer.index, "CreatedBy": layer.created_by, "Old": layer.old, "New": layer.new,
                        "Paths": [{"Path": "/" + p.path, "Change": p.change,
                                   **({"Fields": {k: {"Old": o, "New": n} for k, (o, n) in p.fields.items()}}
                                      if p.fields else {})} for p in layer.paths]}
                       for layer in self.layers]}


def _text(value: Any) -> str:
    return "(none)" if value is None else json.dumps(value, sort_keys=True)


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}" if prefix else key, out)
    else:
        out[prefix] = value


def _field_changes(a: dict[str, Any], b: dict[str, Any]) -> list[FieldChange]:
    fields_a: dict[str, Any] = {}
    fields_b: dict[str, Any] = {}
    _flatten(a, "", fields_a)
    _flatten(b, "", fields_b)
    return [FieldChange(key, fields_a.get(key), fields_b.get(key))
            for key in sorted(fields_a.keys() | fields_b.keys()) if fields_a.get(key) != fields_b.get(key)]


def diff_images(a: ImageSource, b: ImageSource) -> ImageDiff:
    """How image ``b`` differs from image ``a``."""
    config_a, config_b = a.config(), b.config()
    config = _field_changes({k: v for k, v in config_a.items() if k not in _SHOWN_BELOW},
                            {k: v for k, v in config_b.items() if k not in _SHOWN_BELOW})
    full_a: list[dict[str, Any]] = config_a.get("history") or []
    full_b: list[dict[str, Any]] = config_b.get("history") or []
    history = [FieldChange(f"history {i} ({(new or old).get('created_by', '')})", old, new)
               for i, (old, new) in enumerate(zip(full_a, full_b)) if old != new]
    history += [FieldChange(f"history {i}", full_a[i] if i < len(full_a) else None,
                            full_b[i] if i < len(full_b) else None)
                for i in range(min(len(full_a), len(full_b)), max(len(full_a), len(full_b)))]
    steps_a = [h for h in full_a if not h.get("empty_layer")]
    steps_b = [h for h in full_b if not h.get("empty_layer")]
    layers_a, layers_b = a.layers(), b.layers()
    layers: list[LayerChange] = []
    for i in range(max(len(layers_a), len(layers_b))):
        old = layers_a[i] if i < len(layers_a) else None
        new = layers_b[i] if i < len(layers_b) else None
        if old is not None and new is not None and old.diff_id == new.diff_id:
            continue
        step = steps_b[i] if i < len(steps_b) else steps_a[i] if i < len(steps_a) else {}
        layers.append(LayerChange(i, str(step.get("created_by", "?")), old.diff_id if old else None,
                                  new.diff_id if new else None, changes(_summary(a, i), _summary(b, i))))
    return ImageDiff(a.digest, b.digest, config, history, layers)


def _summary(source: ImageSource, index: int) -> dict[str, Entry]:
    layers = source.layers()
    if index >= len(layers):
        return {}
    with layers[index].open() as raw, open_layer(raw) as tar:
        return summarise(tar)
