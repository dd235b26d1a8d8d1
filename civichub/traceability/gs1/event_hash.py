"""The CBV 2.0 event hash (`ni:///sha-256;…?ver=CBV2.0`) at capture speed.

The reference implementation, `epcis-event-hash-generator`, spends most of its ~5 ms an event on
two things: a JSON-LD expansion of the whole document (only to learn which bare values, such as
`"bizStep": "receiving"`, stand for CBV web-vocabulary URIs) and deep copies. Everything it
computes is kept here, in the same order, with the costs moved:

- the expansion is asked per position of a value, on a minimal document holding that value at
  the same path (with the `type` of each enclosing object, which may select a scoped context),
  and remembered: a position that keeps its values as they are (a literal, an identifier) is
  asked once with a probe value, a vocabulary position once per value;
- the reference's conversion to its tuple model, its XML/JSON structure correction and its
  ordering rules are fused into a single pass from the event's JSON to the pre-hash string for
  the shapes capture sees (`_single_pass`), with the canonical form of each value remembered and
  time stamps read by `datetime.fromisoformat` (anything unusual goes to the reference's parser);
- any other shape is read by those steps ported one by one (`_ported_pre_hash`: the tuple tree,
  the correction in one pass without its list removals, the ordering over tuples made for the
  purpose); tests compare the two, and the corrected tree with the reference's.

Each event's hash depends on that event alone (the reference, given a whole document, lets one
event's vocabulary decide another's bare values). Tests compare the result with the reference
generator's on GS1's examples and on generated events."""

from __future__ import annotations

import datetime
import hashlib
import json
import re
from functools import lru_cache
from typing import Any

from epcis_event_hash_generator import JOIN_BY, PROP_ORDER, hash_generator
from epcis_event_hash_generator.dl_normaliser import normaliser as dl_normaliser
from pyld import jsonld

_VOCABULARIES = ("https://ref.gs1.org/cbv", "https://gs1.org/voc")
_PROBE = "civichubprobe"
_IGNORED = ("recordTime", "eventID", "type", "errorDeclaration")

Step = tuple[str, bool, str | None]  # key, held in a list, `type` of the object holding the key


class HashUnavailable(ValueError):
    """The event cannot be read the way the reference reads it."""


# The web-vocabulary URIs an event's bare values stand for -------------------------------------


def _strings(node: Any, found: list[str]) -> None:
    if isinstance(node, str):
        found.append(node)
    elif isinstance(node, list):
        for item in node:
            _strings(item, found)
    elif isinstance(node, dict):
        for item in node.values():
            _strings(item, found)


@lru_cache(maxsize=20_000)
def _expanded(
    context_key: str, event_type: str, path: tuple[Step, ...], value: str
) -> frozenset[str]:
    """Every string of the JSON-LD expansion of a document whose one event holds `value` at
    `path`: what the reference's expansion makes of the value there."""
    node: Any = value
    for key, listed, holder_type in reversed(path):
        holder: dict[str, Any] = (
            {} if holder_type is None or key == "type" else {"type": holder_type}
        )
        holder[key] = [node] if listed else node
        node = holder
    if path and path[0][0] != "type":
        node = {"type": event_type} | node
    document = {
        "@context": json.loads(context_key),
        "type": "EPCISDocument",
        "epcisBody": {"eventList": [node]},
    }
    found: list[str] = []
    _strings(jsonld.expand(document), found)
    return frozenset(found)


_NOTHING: frozenset[str] = frozenset()


def _contribution(
    context_key: str, event_type: str, path: tuple[Step, ...], value: str
) -> frozenset[str]:
    """The vocabulary URIs the value at `path` adds (the expansion's answers are remembered per
    position, and per value only in vocabulary positions: identifiers are mostly new)."""
    if value.startswith(("http://", "https://")):
        # An absolute IRI is itself in every position the expansion keeps: one outside the
        # vocabularies (an identifier, a location) adds nothing wherever it stands.
        if not value.startswith(_VOCABULARIES):
            return _NOTHING
        kept = _PROBE in _expanded(context_key, event_type, path, _PROBE)
        return frozenset((value,)) if kept else _NOTHING
    if ":" in value:
        prefix = value.split(":", 1)[0]
        probe = f"{prefix}:{_PROBE}"
        if probe in _expanded(context_key, event_type, path, probe):
            return _NOTHING  # left as written: not a vocabulary URI
    elif _PROBE in _expanded(context_key, event_type, path, _PROBE):
        return _NOTHING  # a literal or an identifier position
    return _vocabulary_in(context_key, event_type, path, value)


@lru_cache(maxsize=20_000)
def _vocabulary_in(
    context_key: str, event_type: str, path: tuple[Step, ...], value: str
) -> frozenset[str]:
    """The vocabulary URIs among the expansion's strings for a value in a vocabulary position
    (remembered with the expansion itself: these values are the few a vocabulary has)."""
    return frozenset(
        u for u in _expanded(context_key, event_type, path, value) if u.startswith(_VOCABULARIES)
    )


@lru_cache(maxsize=256)
def _context_key(context_json: str) -> str:
    return json.dumps(json.loads(context_json), sort_keys=True)


_LAST_CONTEXT: list[Any] = [None, ""]  # a copy of the context last read, and its key


def _key_of(context: Any) -> str:
    """The context's key; the documents of a deployment share one context, so the last one's key
    is kept and reused while an equal context comes (comparing is cheaper than serialising)."""
    if context == _LAST_CONTEXT[0] and _LAST_CONTEXT[1]:
        return str(_LAST_CONTEXT[1])
    key = _context_key(json.dumps(context))
    _LAST_CONTEXT[:] = [json.loads(key), key]
    return key


def _walk(
    node: Any, path: tuple[Step, ...], leaves: list[tuple[tuple[Step, ...], str]], top: bool = False
) -> None:
    """Each string leaf with its path; at the `top` (the event) the holder's type is left out,
    since the event's type is passed on its own."""
    if not isinstance(node, dict):
        return
    holder_type = None if top or not isinstance(node.get("type"), str) else node["type"]
    for key, item in node.items():
        if isinstance(item, str):  # most leaves: no list of one made for them
            leaves.append(((*path, (key, False, holder_type)), item))
            continue
        listed = isinstance(item, list)
        here = (*path, (key, listed, holder_type))
        for element in item if listed else [item]:
            if isinstance(element, str):
                leaves.append((here, element))
            elif isinstance(element, dict):
                _walk(element, here, leaves)
            elif isinstance(element, list):
                for inner in element:
                    if isinstance(inner, str):
                        leaves.append((here, inner))
                    else:
                        _walk(inner, here, leaves)


def vocabulary_uris(event: dict[str, Any], context: Any) -> set[str]:
    """The CBV/GS1 web-vocabulary URIs the JSON-LD expansion of the event contains."""
    context_key = _key_of(context)
    event_type = str(event.get("type", ""))
    leaves: list[tuple[tuple[Step, ...], str]] = []
    _walk(event, (), leaves, top=True)
    uris: set[str] = set()
    for path, value in leaves:
        found = _contribution(context_key, event_type, path, value)
        if found:
            uris |= found
    return uris


@lru_cache(maxsize=1024)
def _suffix_index(uris: frozenset[str]) -> dict[str, frozenset[str]]:
    """For each text a bare value may be, the URIs that end with `-` or `/` and that text."""
    index: dict[str, set[str]] = {}
    for uri in uris:
        for i, character in enumerate(uri):
            if character in "-/":
                index.setdefault(uri[i + 1 :], set()).add(uri)
    return {text: frozenset(found) for text, found in index.items()}


def _replace_bare(node: Any, index: dict[str, frozenset[str]]) -> Any:
    """The reference's bare-value replacement: a value that exactly one URI ends with (after a
    `-` or a `/`) becomes that URI."""
    if isinstance(node, str):
        found = index.get(node)
        return next(iter(found)) if found and len(found) == 1 else node
    if isinstance(node, list):
        return [_replace_bare(item, index) for item in node]
    if isinstance(node, dict):
        return {key: _replace_bare(item, index) for key, item in node.items()}
    return node


# The reference's tuple model (its json_to_py, ported: the same tuples, no module-level state)

_NOT_CONVERTED = ("#text", "rdfs:comment", "comment")
_KEPT_IN_ORDER = ("bizTransaction", "source", "destination")


def _namespaced(text: Any, namespaces: dict[str, str], is_value: bool = False) -> Any:
    if not isinstance(text, str):
        return text
    colon = text.find(":")
    if colon < 0 or text[:colon] not in namespaces:
        return text  # no prefix to replace (most keys and values)
    namespace = namespaces[text[:colon]]
    if is_value:
        return namespace.replace("{", "").replace("}", "") + text[colon + 1 :]
    return namespace + text[colon + 1 :]


def _tree(node: Any, namespaces: dict[str, str]) -> Any:
    tree: Any = ("", "", [])
    if isinstance(node, list):
        for child in node:
            tree[2].append(_tree(child, namespaces))
    elif isinstance(node, dict):
        if "type" in node:
            tree = (node["type"], "", [])
        if "#text" in node:
            tree = (tree[0], node["#text"], tree[2])
        for key, value in node.items():
            if key in _NOT_CONVERTED:
                continue
            if key.startswith("@xmlns"):
                namespaces[key[7:]] = "{" + value + "}"
                tree = (_namespaced(tree[0], namespaces), tree[1], tree[2])
                continue
            child = _tree(value, namespaces)  # its namespaces first, then the key's
            key = _namespaced(key, namespaces)
            if isinstance(value, list):
                for element in child[2]:
                    tree[2].append((key, element[1], element[2]))
            else:
                tree[2].append((key, child[1], child[2]))
    else:
        return "", str(_namespaced(node, namespaces, True)), []
    if "bizTransaction" not in node and "source" not in node and "destination" not in node:
        tree[2].sort()  # the children of _KEPT_IN_ORDER's holders keep their order
    return tree


def _context_namespaces(context: Any) -> dict[str, str]:
    namespaces: dict[str, str] = {}
    if isinstance(context, list):
        for entry in context:
            if isinstance(entry, str):
                namespaces[entry] = "{" + entry + "}"
            else:
                for key in entry:
                    namespaces[key] = "{" + entry[key] + "}"
    return namespaces


# The reference's XML/JSON structure correction (`deep_structure_correction`), ported: the same
# tree, built in one pass without list removals.

_PAIR_LISTS = frozenset(("sourceList", "destinationList", "bizTransactionList"))
_RENAMED = {
    "inputEPC": "epc",
    "outputEPC": "epc",
    "inputQuantity": "quantityElement",
    "outputQuantity": "quantityElement",
    "childQuantity": "quantityElement",
}


def _corrected(node: Any) -> Any:
    name, text = node[0], node[1]
    children = node[2] if len(node) > 2 else []
    if children:
        kept: list[Any] = []
        lists: dict[str, list[Any]] = {}
        child_epcs: list[Any] = []
        for child in children:
            key = child[0]
            if isinstance(key, tuple):
                kept.append(child)
            elif key.endswith("List"):
                lists.setdefault(key, []).append((key[:-4], child[1], child[2]))
            elif key == "childEPCs":
                child_epcs.append(("epc", child[1], []))
            else:
                kept.append(child)
        corrected = [
            child if isinstance(child[0], str) and child[0] in _PAIR_LISTS else _corrected(child)
            for child in kept
        ]
        for key, elements in lists.items():
            if key in _PAIR_LISTS:
                corrected.append((key, "", [(e[2][0], e[2][1]) for e in elements]))
            else:
                corrected.append(_corrected((key, "", elements)))
        if child_epcs:
            corrected.append(_corrected(("childEPCs", "", child_epcs)))
        children = corrected
        if name == "quantity":
            return "quantityElement", text, children
    renamed = _RENAMED.get(name) if isinstance(name, str) else None
    return (renamed, text, children) if renamed else (name, text, children)


# The pre-hash string (the reference's ordering rules, ported) --------------------------------


_FRACTION = re.compile(r"\.(\d+)")
_FROM_ISO = datetime.datetime.fromisoformat
_UTC = datetime.UTC


def _utc_millis(stamp: str) -> str:
    """A time stamp in UTC at millisecond precision, as the reference writes it."""
    try:
        moment = _FROM_ISO(stamp.replace("Z", "+00:00"))
    except ValueError:
        return str(hash_generator._fix_time_stamp_format(stamp))
    fraction = _FRACTION.search(stamp)
    if moment.tzinfo is None or (fraction and len(fraction.group(1)) > 6):
        return str(hash_generator._fix_time_stamp_format(stamp))
    moment = moment.astimezone(_UTC)
    rounded = round(moment.microsecond, -3)
    if rounded >= 1_000_000:
        return str(hash_generator._fix_time_stamp_format(stamp))
    # What `isoformat(timespec="milliseconds")` writes, less its offset, without the copy
    # `replace(microsecond=…)` would make.
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (  # noqa: UP031 - the fastest of the three
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
        rounded // 1000,
    )


# Canonical GS1 Digital Link URIs (what civichub stores and sends) that the reference's
# normaliser returns unchanged: its chain of some fifty regular expressions ends in one of these
# shapes, which it returns as they are. AI 10/21 values without `?` (it would cut a query there).
_CANONICAL_DL = re.compile(
    r"https://id\.gs1\.org/(?:00/\d{18}|414/\d{13}|01/\d{14}"
    r"(?:/(?:10|21)/[\x22\x27\x2D\x2E\x30-\x39\x3B-\x3E\x41-\x5A\x5F\x61-\x7A]{0,20})?)"
)


@lru_cache(maxsize=50_000)
def _canonical_value(text: str) -> str:
    if _CANONICAL_DL.fullmatch(text):
        return text
    text = hash_generator._try_format_web_vocabulary(text)
    text = hash_generator._try_format_numeric(text)
    converted = dl_normaliser(text)
    return str(converted) if converted else text


def _child_pre_hash(child: Any, order: Any) -> str:
    text = ""
    # A leaf has no children to order (the walk over none would find nothing).
    nested = _children_pre_hash(child[2], order) if order and child[2] else ""
    if child[1]:
        text = child[1].strip()
        name = child[0].lower()
        text = (
            _utc_millis(text) if "time" in name and "offset" not in name else _canonical_value(text)
        )
        if text:
            text = "=" + text
    if text or nested:
        return str(child[0]) + text + nested
    return ""


def _user_extensions(children: list[Any]) -> list[Any]:
    if len(children) <= 1:
        return []
    if any("eventTime" in child[0] or "action" in child[0] for child in children):
        return []
    found = [c for c in children if isinstance(c, tuple) and "{" in c[0] and "/}" in c[0]]
    for child in found:
        children.remove(child)
    return found


_POSITIONS: dict[int, dict[str, int]] = {}


def _positions(order: Any) -> dict[str, int]:
    """Where each name stands in a property order (the orders are the reference's constants)."""
    key = id(order)
    if key not in _POSITIONS:
        _POSITIONS[key] = {
            name: i for i, (name, _sub) in reversed(list(enumerate(order))) if isinstance(name, str)
        }
    return _POSITIONS[key]


def _children_pre_hash(children: list[Any], order: Any) -> str:
    """The reference's `_recurse_through_children_in_order`: the children named in `order`, in
    that order, each name's values sorted; the children used up are removed from the list."""
    pre_hash = ""
    extensions = _user_extensions(children)
    named: dict[str, list[Any]] = {}
    if all(isinstance(child[0], str) for child in children):
        for child in children:
            named.setdefault(child[0], []).append(child)
    else:  # pairs (bizTransaction and the like) are matched the reference's slow way
        named = {
            name: [c for c in children if c[0] == name]
            for name, _sub in order
            if isinstance(name, str)
        }
    used: set[int] = set()
    positions = _positions(order)
    present = sorted((positions[name], name) for name in named if name in positions)
    for _position, name in present:
        matching = named[name]
        sub_order = order[_position][1]
        values = []
        for child in matching:
            text = _child_pre_hash(child, sub_order)
            if text:
                values.append(text)
            if len(child[2]) == 0:
                used.add(id(child))
        values.sort()
        if "".join(values):
            if pre_hash:
                values.insert(0, pre_hash)
            pre_hash = JOIN_BY.join(values)
    if used:
        children[:] = [child for child in children if id(child) not in used]
    if extensions:
        pre_hash = pre_hash + JOIN_BY + _generic_pre_hash(extensions)
    return pre_hash


def _generic_pre_hash(children: Any) -> str:
    values = []
    for child in children:
        if isinstance(child, tuple) and len(child) == 2 and isinstance(child[0], tuple):
            values.append(_generic_pre_hash(child))
        else:
            text = child[1].strip()
            if text:
                text = "=" + _canonical_value(text)
            values.append(child[0] + text + _generic_pre_hash(child[2]))
    if len(children) > 1 and hash_generator.should_sort(children):
        values.sort()
    return JOIN_BY.join(values)


# The pre-hash string in a single pass ---------------------------------------------------------
#
# The reference reads an event in four steps: (1) bare values replaced by the vocabulary URIs
# they stand for, (2) the JSON turned into a tree of (name, text, children) tuples, (3) that tree
# corrected to the XML binding's structure (`fooList` items renamed `foo`, `childEPCs` items
# `epc`, quantity elements `quantityElement`, the pairs of bizTransaction/source/destination
# lists), (4) the pre-hash string: the children named in PROP_ORDER in its order, each name's
# values sorted, then what is left (user extensions) in sorted order. For the shapes capture
# sees, the pass below goes from the event's JSON to that string at once; what it reads here
# is what steps 1-4 would have made of each value. Any other shape raises `_Unusual` and is read
# by the ported steps (`_ported_pre_hash`), so the two never disagree on what they both read.


def _is_time(name: str) -> bool:
    lowered = name.lower()
    return "time" in lowered and "offset" not in lowered


class _Unusual(Exception):
    """A shape the single pass does not read (the ported steps do)."""


_LEAVES = frozenset(
    name for name, sub in PROP_ORDER if sub is None and isinstance(name, str)
)  # eventTime, eventTimeZoneOffset, certificationInfo, parentID, action, transformationID, …
_TIME_LEAVES = frozenset(name for name in _LEAVES if _is_time(name))
_EPC_LISTS = frozenset(("epcList", "inputEPCList", "outputEPCList", "childEPCs"))
_QUANTITY_LISTS = frozenset(
    ("quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList")
)
_QUANTITY_FIELDS = ("epcClass", "quantity", "uom")
_ID_HOLDERS = frozenset(("readPoint", "bizLocation"))
_PAIRS = {"bizTransactionList": "bizTransaction", "sourceList": "source"}
_PAIRS["destinationList"] = "destination"
_ORDER_INDEX = {name: i for i, (name, _sub) in enumerate(PROP_ORDER) if isinstance(name, str)}
_COMMENTS = frozenset(("rdfs:comment", "comment"))
# Names the ported steps treat specially wherever they stand: not read as extensions here.
_SPECIAL = frozenset(("bizTransaction", "source", "destination", "childEPCs", "quantity"))


@lru_cache(maxsize=256)
def _namespaces_of(context_key: str) -> dict[str, str]:
    return _context_namespaces(json.loads(context_key))


def _text(value: Any, index: dict[str, frozenset[str]], namespaces: dict[str, str]) -> str:
    """A leaf's text after step 1 (a bare value one URI ends with becomes that URI) and step 2
    (a prefix of the context written out, `str` of anything not a string)."""
    if isinstance(value, str):
        found = index.get(value)
        if found and len(found) == 1:
            value = next(iter(found))
        return _namespaced(value, namespaces, True)
    if isinstance(value, dict | list):
        raise _Unusual
    return str(value)


@lru_cache(maxsize=50_000)
def _ordered_leaf(name: str, text: str) -> str:
    """Step 4 on a leaf named in PROP_ORDER: time stamps in UTC milliseconds, other values in
    their canonical form; an empty value adds nothing."""
    text = text.strip()
    if not text:
        return ""
    text = _utc_millis(text) if _is_time(name) else _canonical_value(text)
    return name + "=" + text if text else ""


def _time_leaf(name: str, text: str) -> str:
    """`_ordered_leaf` of a time stamp, not remembered: an event's time is mostly its own."""
    text = text.strip()
    text = _utc_millis(text) if text else ""
    return name + "=" + text if text else ""


@lru_cache(maxsize=20_000)
def _generic_leaf(name: str, text: str) -> str:
    """Step 4 on a leaf left over (an extension): its name, and its canonical value if any."""
    text = text.strip()
    return name + "=" + _canonical_value(text) if text else name


def _scalars(value: Any) -> list[Any]:
    """A value, or the items of a list of values (step 2 makes each item a child of its own)."""
    items = value if isinstance(value, list) else [value]
    for item in items:
        if isinstance(item, dict | list):
            raise _Unusual
    return items


def _fields(node: Any, allowed: frozenset[str] | tuple[str, ...]) -> dict[str, Any]:
    """A JSON object's fields, comments left out (step 2 skips them); only `allowed` names."""
    if not isinstance(node, dict):
        raise _Unusual
    fields = {k: v for k, v in node.items() if k not in _COMMENTS}
    if any(key not in allowed for key in fields):
        raise _Unusual
    return fields


def _epc_list(name: str, value: Any, index: Any, namespaces: Any) -> str:
    """An EPC list (step 3: its items become `epc` children, `childEPCs` ones too); step 4: the
    list's name, then its items sorted."""
    if not isinstance(value, list):
        raise _Unusual
    items = [_ordered_leaf("epc", _text(v, index, namespaces)) for v in _scalars(value)]
    joined = JOIN_BY.join(sorted(item for item in items if item))
    return name + joined if joined else ""


def _quantity_list(name: str, value: Any, index: Any, namespaces: Any) -> str:
    """A quantity list (step 3: each item a `quantityElement`); step 4: each element's epcClass,
    quantity and uom in that order, the elements sorted."""
    if not isinstance(value, list):
        raise _Unusual
    elements = []
    for item in value:
        fields = _fields(item, _QUANTITY_FIELDS)
        if not fields:
            raise _Unusual  # an empty element keeps the name `quantity` (step 3)
        inner = JOIN_BY.join(
            _ordered_leaf(key, _text(fields[key], index, namespaces))
            for key in _QUANTITY_FIELDS
            if key in fields
        )
        if inner:
            elements.append("quantityElement" + inner)
    joined = JOIN_BY.join(sorted(elements))
    return name + joined if joined else ""


def _flat_ordered(name: str, value: Any, order: tuple[str, ...], index: Any, ns: Any) -> str:
    """An object of leaves named in a sub-order (readPoint's id, persistentDisposition's set and
    unset): step 4 takes each name in order, its values sorted."""
    if type(value) is dict and len(value) == 1 and isinstance(value.get(order[0]), str):
        # The common shape, `{"id": …}`: what the loop below makes of it.
        text = _ordered_leaf(order[0], _text(value[order[0]], index, ns))
        return name + text if text else ""
    fields = _fields(value, order)
    parts = []
    for key in order:
        if key in fields:
            items = [_ordered_leaf(key, _text(v, index, ns)) for v in _scalars(fields[key])]
            parts.extend(sorted(item for item in items if item))
    joined = JOIN_BY.join(parts)
    return name + joined if joined else ""


def _pair_list(name: str, value: Any, index: Any, namespaces: Any) -> str:
    """A bizTransaction, source or destination list: step 3 keeps each item's two fields as a
    pair in their written order; step 4 reads it as an extension, pairs sorted, fields not."""
    if not isinstance(value, list):
        raise _Unusual
    allowed = ("type", _PAIRS[name])
    pairs = []
    for item in value:
        fields = _fields(item, allowed)
        if len(fields) != 2:
            raise _Unusual  # the reference takes the first two fields, or fails
        pairs.append(
            JOIN_BY.join(
                _generic_leaf(key, _text(v, index, namespaces)) for key, v in fields.items()
            )
        )
    return name + JOIN_BY.join(sorted(pairs))


def _extension(name: str, value: Any, index: Any, namespaces: Any) -> list[str]:
    """A field PROP_ORDER does not name (ilmd, a user extension): step 4's generic reading, its
    leaves sorted. Only values and objects of values are read here."""
    if not isinstance(value, dict):
        return [_generic_leaf(name, _text(v, index, namespaces)) for v in _scalars(value)]
    leaves: list[str] = []
    for key, item in value.items():
        if key in _COMMENTS:
            continue
        if key == "type" or key.startswith(("@", "#")):
            raise _Unusual  # an object's type names its node; #text and @xmlns change it
        key = _namespaced(key, namespaces)
        if key.endswith("List") or key in _SPECIAL or key in _RENAMED:
            raise _Unusual  # step 3 restructures these
        leaves.extend(_generic_leaf(key, _text(v, index, namespaces)) for v in _scalars(item))
    return [name + JOIN_BY.join(sorted(leaves))]


def _single_pass(
    event: dict[str, Any], index: dict[str, frozenset[str]], namespaces: dict[str, str]
) -> str:
    """Steps 1-4 at once: `eventType=`, the PROP_ORDER fields in order, the rest sorted."""
    if "eventTime" not in event or not isinstance(event.get("type"), str):
        raise _Unusual  # without eventTime (or action) the top level's extensions move
    ordered: list[tuple[int, str]] = []
    rest: list[str] = []
    for key, value in event.items():
        if key in _IGNORED or key in _COMMENTS:
            continue  # step 4 leaves recordTime, eventID, type and errorDeclaration out
        if key.startswith(("@", "#")):
            raise _Unusual
        if key in _LEAVES:
            if isinstance(value, str):  # one value: what the list of one below gives
                text = (_time_leaf if key in _TIME_LEAVES else _ordered_leaf)(
                    key, _text(value, index, namespaces)
                )
            else:
                items = [_ordered_leaf(key, _text(v, index, namespaces)) for v in _scalars(value)]
                text = JOIN_BY.join(sorted(item for item in items if item))
        elif key in _EPC_LISTS:
            text = _epc_list(key, value, index, namespaces)
        elif key in _QUANTITY_LISTS:
            text = _quantity_list(key, value, index, namespaces)
        elif key in _ID_HOLDERS:
            text = _flat_ordered(key, value, ("id",), index, namespaces)
        elif key == "persistentDisposition":
            text = _flat_ordered(key, value, ("set", "unset"), index, namespaces)
        elif key in _PAIRS:
            rest.append(_pair_list(key, value, index, namespaces))
            continue
        else:
            name = _namespaced(key, namespaces)
            if name in _ORDER_INDEX or name.endswith("List") or name in _SPECIAL:
                raise _Unusual  # sensorElementList, and names step 3 restructures
            if name in _RENAMED:
                raise _Unusual
            rest.extend(_extension(name, value, index, namespaces))
            continue
        if text:
            ordered.append((_ORDER_INDEX[key], text))
    ordered.sort()
    found = index.get(event["type"])
    event_type = next(iter(found)) if found and len(found) == 1 else event["type"]
    return (
        "eventType="
        + event_type
        + JOIN_BY
        + JOIN_BY.join(text for _i, text in ordered)
        + JOIN_BY
        + JOIN_BY.join(sorted(rest))
    )


def _ported_pre_hash(event: dict[str, Any], context: Any, index: dict[str, frozenset[str]]) -> str:
    """The pre-hash string by the reference's own steps, ported one by one: bare values replaced,
    the tuple tree built, its structure corrected, then ordered. The single pass below gives the
    same string for the shapes capture sees; every other event is read here."""
    replaced = _replace_bare(event, index) if index else event
    # The reference keeps the namespaces of every document it has read in one module-level
    # table; here they come from this event's context alone.
    tree = _corrected(_tree(replaced, _context_namespaces(context)))
    children = tree[2]
    ordered = _children_pre_hash(children, PROP_ORDER)
    rest = [c for c in children if c[0] not in _IGNORED]
    return (
        "eventType="
        + str(tree[0])
        + JOIN_BY
        + ordered
        + JOIN_BY
        + (_generic_pre_hash(rest) if rest else "")
    )


def pre_hash(event: dict[str, Any], context: Any) -> str:
    """The CBV 2.0 canonical pre-hash string of one event (without its `@context`)."""
    index = _suffix_index(frozenset(vocabulary_uris(event, context)))
    try:
        return _single_pass(event, index, _namespaces_of(_key_of(context)))
    except _Unusual:
        return _ported_pre_hash(event, context, index)


def cbv_event_hash(event: dict[str, Any], context: Any) -> str:
    """The event's CBV 2.0 hash; raises HashUnavailable where the reference would fail too."""
    body = {k: v for k, v in event.items() if k != "@context"} if "@context" in event else event
    try:
        text = pre_hash(body, context)
    except Exception as exc:  # the reference's own reading fails on this event
        raise HashUnavailable(str(exc)) from exc
    return f"ni:///sha-256;{hashlib.sha256(text.encode('utf-8')).hexdigest()}?ver=CBV2.0"
