"""Reading one YAML document into plain Python data, strictly: a key repeated in a mapping is
reported with its path, nesting has a bound, and tags beyond YAML's plain types are refused.

The document is built from libyaml's event stream with an explicit stack, not by PyYAML's
recursive composer: a file nested thousands of levels deep is one error, never a
RecursionError, and a 100k-campaign catalog reads in a fraction of PyYAML's time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

# The catalog itself nests 8 levels (brands, a brand, campaigns, a campaign, dayparting, a
# window, days, a day); four times that is beyond any reason.
MAX_DEPTH = 32
PROGRESS_EVERY = 8192  # events between two reports of the line reached

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
STR_TAG = "tag:yaml.org,2002:str"
MERGE_TAG = "tag:yaml.org,2002:merge"
_COLLECTION_TAGS = {"tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"}

Path = tuple[int | str, ...]


class YamlFileError(Exception):
    """The file is not one usable YAML document; the message is one line."""


@dataclass(frozen=True)
class RepeatedKey:
    """A key written twice in one mapping: the first value is kept, and this is an error."""

    mapping: Path
    key: str
    line: int
    first_line: int


class _Merge:
    """The `<<` merge key of YAML 1.1: the keys of the merged mapping(s) the mapping lacks."""


MERGE = _Merge()
_NO_KEY = object()


@dataclass
class _Frame:
    """A list or mapping being built, with its path; a mapping's pending key and the event of
    each key it holds (for the line of a repeat)."""

    container: list[Any] | dict[Any, Any]
    path: Path
    start: yaml.Event
    key: Any = _NO_KEY
    key_event: Any = None
    key_events: dict[Any, yaml.Event] = field(default_factory=dict)
    merged: list[dict[Any, Any]] = field(default_factory=list)

    def first_seen(self, key: Any) -> int:
        return _line(self.key_events[key])


@dataclass(frozen=True)
class Document:
    data: Any
    repeated_keys: list[RepeatedKey]


def path_text(path: Path) -> str:
    """`brands[0].campaigns[1].dayparting` for ("brands", 0, "campaigns", 1, "dayparting")."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_document(text: str, on_line: Callable[[int], None] | None = None) -> Document:
    """The one YAML document in `text` as dicts, lists and scalars (None for an empty file).
    Raises YamlFileError when it is not YAML, holds more than one document, nests deeper than
    MAX_DEPTH or uses a tag other than YAML's own. `on_line` hears the line reached, now and then."""
    loader = _Loader(text)
    try:
        return _build(loader, on_line)
    except yaml.MarkedYAMLError as exc:
        where = exc.problem_mark or exc.context_mark
        line = where.line + 1 if where else 1
        if "nesting depth" in str(exc.problem):  # libyaml's own bound, met while reading ahead
            raise YamlFileError(f"nested more than {MAX_DEPTH} levels deep (line {line})") from None
        at = f" (line {line}, column {where.column + 1})" if where else ""
        raise YamlFileError(f"not valid YAML: {exc.problem or exc.context}{at}") from None
    except yaml.YAMLError as exc:
        raise YamlFileError(f"not valid YAML: {str(exc).splitlines()[0]}") from None
    finally:
        loader.dispose()


def _line(event: yaml.Event) -> int:
    mark = event.start_mark
    return int(mark.line) + 1 if mark is not None else 0


def _build(loader: yaml.SafeLoader, on_line: Callable[[int], None] | None) -> Document:
    stack: list[_Frame] = []
    anchors: dict[str, Any] = {}
    repeated: list[RepeatedKey] = []
    plain: dict[str, Any] = {}  # plain scalars already resolved: the catalog repeats its keys
    root: Any = None
    documents = 0
    events = 0

    def attach(value: Any, event: yaml.Event) -> None:
        nonlocal root
        if not stack:
            root = value
            return
        frame = stack[-1]
        container = frame.container
        if container.__class__ is list:
            container.append(value)
            return
        if frame.key is _NO_KEY:
            if isinstance(value, list | dict):
                raise YamlFileError(f"line {_line(event)}: a mapping key must be a plain value, not a list or mapping")
            frame.key, frame.key_event = value, event
            return
        key, frame.key = frame.key, _NO_KEY
        if key is MERGE:
            frame.merged.extend(_merge_sources(value, event))
        elif key in container:
            first = frame.first_seen(key)
            repeated.append(RepeatedKey(frame.path, str(key), _line(frame.key_event), first))
        else:
            container[key] = value
            frame.key_events[key] = frame.key_event

    def open_collection(event: yaml.CollectionStartEvent, container: list[Any] | dict[Any, Any]) -> None:
        if len(stack) >= MAX_DEPTH:
            raise YamlFileError(f"nested more than {MAX_DEPTH} levels deep (line {_line(event)})")
        if event.tag is not None and event.tag != "!" and event.tag not in _COLLECTION_TAGS:
            raise YamlFileError(f"line {_line(event)}: unsupported tag {event.tag}")
        if event.anchor is not None:
            anchors[event.anchor] = container
        if not stack:
            path: Path = ()
        else:
            parent = stack[-1]
            if parent.container.__class__ is list:
                path = (*parent.path, len(parent.container))
            elif parent.key is _NO_KEY or parent.key is MERGE:
                path = parent.path
            else:
                path = (*parent.path, str(parent.key))
        stack.append(_Frame(container, path, event))

    while loader.check_event():
        event = loader.get_event()
        kind = event.__class__
        events += 1
        if on_line is not None and events % PROGRESS_EVERY == 0:
            on_line(_line(event))
        if kind is yaml.ScalarEvent:
            if event.tag is None and event.implicit[0]:
                value = plain.get(event.value, _NO_KEY)
                if value is _NO_KEY:
                    value = plain[event.value] = _scalar(loader, event)
            else:
                value = _scalar(loader, event)
            if event.anchor is not None:
                anchors[event.anchor] = value
            attach(value, event)
        elif kind is yaml.MappingStartEvent:
            open_collection(event, {})
        elif kind is yaml.SequenceStartEvent:
            open_collection(event, [])
        elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
            frame = stack.pop()
            if frame.merged:
                for source in frame.merged:
                    for key, value in source.items():
                        frame.container.setdefault(key, value)  # type: ignore[union-attr]
            attach(frame.container, frame.start)
        elif kind is yaml.AliasEvent:
            if event.anchor not in anchors:
                raise YamlFileError(f"line {_line(event)}: unknown alias *{event.anchor}")
            attach(anchors[event.anchor], event)
        elif kind is yaml.DocumentStartEvent:
            documents += 1
            if documents > 1:
                raise YamlFileError(f"more than one YAML document (the second starts on line {_line(event)})")
    return Document(root, repeated)


def _merge_sources(value: Any, event: yaml.Event) -> list[dict[Any, Any]]:
    sources = value if isinstance(value, list) else [value]
    if not all(isinstance(source, dict) for source in sources):
        raise YamlFileError(f"line {_line(event)}: '<<' merges a mapping or a list of mappings")
    return sources


def _scalar(loader: yaml.SafeLoader, event: yaml.ScalarEvent) -> Any:
    tag = event.tag
    if tag is None or tag == "!":
        tag = loader.resolve(yaml.ScalarNode, event.value, event.implicit)
    if tag == STR_TAG:
        return event.value
    if tag == MERGE_TAG:
        return MERGE
    construct = loader.yaml_constructors.get(tag)
    if construct is None:
        raise YamlFileError(f"line {_line(event)}: unsupported tag {tag}")
    node = yaml.ScalarNode(tag, event.value, style=event.style)
    return construct(loader, node)
