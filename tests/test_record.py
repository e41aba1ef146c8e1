"""freight.record: the one way to write a record."""

from __future__ import annotations

import pytest

from freight.record import Record, as_dict, field, fields, replace


class Binding(Record):
    port: int
    proto: str = "tcp"
    tags: list[str] = field(default_factory=list)


class Progress(Record, frozen=False):
    done: int = 0
    total: int = 0


class Labelled(Binding):
    label: str = ""


def test_init_takes_positions_keywords_and_defaults() -> None:
    assert Binding(80) == Binding(port=80, proto="tcp", tags=[])
    assert Binding(53, "udp").proto == "udp"
    with pytest.raises(TypeError):
        Binding()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Binding(80, nosuch=1)  # type: ignore[call-arg]


def test_default_factory_makes_a_new_value_each_time() -> None:
    first, second = Binding(1), Binding(2)
    first.tags.append("x")
    assert second.tags == []


def test_frozen_records_refuse_assignment_and_hash_by_value() -> None:
    binding = Binding(80, tags=[])
    with pytest.raises(AttributeError, match="frozen"):
        binding.port = 81  # type: ignore[misc]
    assert {Labelled(1, tags=()), Labelled(1, tags=())} == {Labelled(1, tags=())}  # type: ignore[arg-type]


def test_mutable_records_allow_assignment_and_are_unhashable() -> None:
    progress = Progress()
    progress.done += 3
    assert progress == Progress(3, 0)
    with pytest.raises(TypeError):
        hash(progress)


def test_no_other_attributes() -> None:
    with pytest.raises(AttributeError):
        Progress().extra = 1  # type: ignore[attr-defined]


def test_subclasses_add_fields_after_their_base() -> None:
    assert fields(Labelled) == ("port", "proto", "tags", "label")
    assert Labelled(1, "udp", [], "x").label == "x"


def test_equality_needs_the_same_type() -> None:
    assert Binding(1) != Labelled(1)
    assert Binding(1) != (1, "tcp", [])


def test_replace_as_dict_and_repr() -> None:
    binding = Binding(80)
    assert replace(binding, proto="udp") == Binding(80, "udp")
    with pytest.raises(TypeError, match="no field 'nosuch'"):
        replace(binding, nosuch=1)
    assert as_dict(binding) == {"port": 80, "proto": "tcp", "tags": []}
    assert repr(binding) == "Binding(port=80, proto='tcp', tags=[])"


def test_a_field_without_default_after_one_with_is_refused() -> None:
    with pytest.raises(TypeError, match="'b' without a default follows 'a'"):
        class Bad(Record):
            a: int = 1
            b: int


def test_a_class_made_many_times_keeps_its_behaviour() -> None:
    # After some instances a class gets an __init__ compiled for it: the same rules hold.
    class Entry(Record):
        name: str
        size: int = 0
        links: list[str] = field(default_factory=list)

    made = [Entry(str(i), size=i) for i in range(100)]
    assert made[99] == Entry("99", 99, [])
    assert made[98].links is not made[99].links
    with pytest.raises(TypeError):
        Entry()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Entry("x", nosuch=1)  # type: ignore[call-arg]
    with pytest.raises(AttributeError, match="frozen"):
        made[0].size = 1  # type: ignore[misc]
