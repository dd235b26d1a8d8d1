"""Record linkage into the person registry, and the clerical review of uncertain pairs.

A record with a valid identity number is linked by the number's keyed lookup hash (core's
crypto helpers; the number itself is stored only encrypted). A record without one is scored
against the registry's candidates (same birth date or same pinyin name) with the
Fellegi-Sunter weights of `linkage`: at or above `link_weight` it is linked, from
`review_weight` it waits for a person in the review queue, below it starts a new person.
`registry_link` links the whole registry again at scale with splink (`scale_linkage`, DuckDB
in-process or Spark), for the records a number could not settle.
Linkage only links: a source's values are never changed, and every move of a record between
people (a review decision, a merge, a split) is audited with where it came from, so it can be
undone by the opposite move."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from civichub.core import crypto
from civichub.core.audit import audit_record
from civichub.core.config import module_config
from civichub.core.errors import Conflict
from civichub.core.models import Organisation, Resident, User
from civichub.core.permissions import require
from civichub.datahub.conf import DatahubSettings
from civichub.datahub.linkage import best_candidate, record_keys
from civichub.datahub.models import (
    LinkMethod,
    Person,
    ReviewItem,
    ReviewStatus,
    SourceRecord,
)
from civichub.datahub.scale_linkage import Engine, ScoredPair, link, row_from_keys

CANDIDATE_LIMIT = 200


def _person_new(
    keys: dict[str, Any], identity: str = "", community: Organisation | None = None
) -> Person:
    person = Person(
        community=community,
        name=keys["name"],
        name_key=keys["name_key"],
        birth_date=keys["birth_date"] or None,
        gender=keys["gender"],
        keys=keys,
    )
    if identity:
        person.identity_hash = crypto.identity_lookup_hash(identity)
        person.identity_encrypted = crypto.encrypt_identity(identity)
        person.resident = Resident.objects.filter(identity_hash=person.identity_hash).first()
    person.save()
    return person


def _candidates(
    keys: dict[str, Any], *, without_identity: bool
) -> list[tuple[int, dict[str, Any]]]:
    blocks = Q(name_key=keys["name_key"])
    if keys["birth_date"]:
        blocks |= Q(birth_date=keys["birth_date"])
    queryset = Person.objects.filter(blocks)
    if without_identity:
        queryset = queryset.filter(identity_hash__isnull=True)
    return list(queryset.values_list("pk", "keys")[:CANDIDATE_LIMIT])


def record_link(
    record: SourceRecord, person_fields: dict[str, str], community: Organisation | None = None
) -> SourceRecord:
    """Links a new record (called inside the import's transaction, which is audited as a
    whole). Saves the record."""
    config = module_config(DatahubSettings)
    keys = record_keys(person_fields)
    identity = person_fields.get("identity_number", "")
    record.keys = keys
    if identity:
        record.identity_hash = crypto.identity_lookup_hash(identity)
        person = Person.objects.filter(identity_hash=record.identity_hash).first()
        if person is not None:
            record.person, record.link_method = person, LinkMethod.IDENTITY
            record.save()
            return record
    best = best_candidate(keys, _candidates(keys, without_identity=bool(identity)))
    if best is not None and best[1].weight >= config.link_weight:
        person = Person.objects.get(pk=best[0])
        if identity:
            person.identity_hash = record.identity_hash
            person.identity_encrypted = crypto.encrypt_identity(identity)
            person.resident = Resident.objects.filter(identity_hash=record.identity_hash).first()
            person.save(update_fields=["identity_hash", "identity_encrypted", "resident"])
        record.person, record.link_method = person, LinkMethod.SCORE
        record.link_weight = best[1].weight
        record.save()
        return record
    if best is not None and not identity and best[1].weight >= config.review_weight:
        record.person, record.link_method = None, LinkMethod.PENDING
        record.link_weight = best[1].weight
        record.save()
        ReviewItem.objects.create(
            record=record,
            candidate_id=best[0],
            weight=best[1].weight,
            explanation=best[1].explanation(),
        )
        return record
    record.person, record.link_method = _person_new(keys, identity, community), LinkMethod.NEW
    record.save()
    return record


def person_community_set(person: Person, community: Organisation | None) -> None:
    if community is not None and person.community_id != community.pk:
        person.community = community
        person.save(update_fields=["community"])


@transaction.atomic
def review_decide(*, actor: User, item: ReviewItem, same: bool) -> SourceRecord:
    """Settles an uncertain pair: the same person (the record joins the candidate) or not
    (the record starts a person of its own)."""
    item = (
        ReviewItem.objects.select_for_update(of=("self",))
        .select_related("candidate")
        .get(pk=item.pk)
    )
    require(actor, "datahub.review.decide", item)
    if item.status != ReviewStatus.OPEN:
        raise Conflict(_("该待审核记录已处理。"))
    record = item.record
    if same:
        record.person = item.candidate
    else:
        record.person = _person_new(record.keys)
        record.person.community = item.candidate.community
        record.person.save(update_fields=["community"])
    record.link_method = LinkMethod.REVIEW
    record.save(update_fields=["person", "link_method"])
    item.status = ReviewStatus.SAME if same else ReviewStatus.DIFFERENT
    item.decided_by, item.decided_at = actor, timezone.now()
    item.save(update_fields=["status", "decided_by", "decided_at"])
    audit_record(
        actor=actor,
        action="datahub.review.decide",
        obj=item,
        organisation=item.candidate.community,
        changes={"record": record.pk, "same": same, "person": record.person_id},
    )
    return record


@transaction.atomic
def record_relink(*, actor: User, record: SourceRecord, person: Person | None) -> SourceRecord:
    """Moves a record to another person (a merge) or, with no person, to a new person of its
    own (a split). The audit row keeps where it was, so the opposite move undoes it."""
    record = (
        SourceRecord.objects.select_for_update(of=("self",))
        .select_related("person")
        .get(pk=record.pk)
    )
    if record.person is not None:
        require(actor, "datahub.review.decide", record.person)
    if person is not None:
        require(actor, "datahub.review.decide", person)
    before = record.person
    if person is None:
        person = _person_new(record.keys)
        person.community = before.community if before else None
        person.save(update_fields=["community"])
    record.person, record.link_method = person, LinkMethod.REVIEW
    record.save(update_fields=["person", "link_method"])
    audit_record(
        actor=actor,
        action="datahub.record.relink",
        obj=record,
        organisation=person.community,
        changes={"from_person": before.pk if before else None, "to_person": person.pk},
    )
    return record


# The records a registry-wide run may move: scored or new ones. A record linked by its identity
# number or by a person's decision anchors its person; a pending one waits for a person.
_MOVABLE = frozenset({LinkMethod.SCORE, LinkMethod.NEW})
_ANCHORED = frozenset({LinkMethod.IDENTITY, LinkMethod.REVIEW})


def registry_link(*, actor: User | None, engine: Engine = "duckdb") -> dict[str, int]:
    """Links every record of the registry again with splink (trained without labels on the
    registry itself): records the model is sure of join one person; an uncertain pair goes
    to the review queue with splink's waterfall as its explanation. Only links move: no
    value changes. A group holding two anchored people is left alone (a person decides).
    One audit row lists every move (record, from, to), so each can be moved back."""
    if actor is not None:
        require(actor, "datahub.registry.link")
    config = module_config(DatahubSettings)
    records: dict[str, tuple[str, int | None]] = {
        str(pk): (method, person_id)
        for pk, method, person_id in SourceRecord.objects.values_list(
            "pk", "link_method", "person_id"
        )
    }
    rows = [
        row_from_keys(str(pk), keys, identity=identity_hash)
        for pk, keys, identity_hash in SourceRecord.objects.values_list(
            "pk", "keys", "identity_hash"
        )
    ]
    if len(rows) < 2:
        return {"records": len(rows), "moved": 0, "review_items": 0}
    links = link(
        rows,
        link_probability=config.scale_link_probability,
        review_probability=config.scale_review_probability,
        engine=engine,
    )
    best: dict[str, float] = {}
    for pair in links.linked:
        for end in (pair.left, pair.right):
            best[end] = max(best.get(end, pair.weight), pair.weight)
    members: dict[str, list[str]] = {}
    for record_id, root in links.groups.items():
        members.setdefault(root, []).append(record_id)
    with transaction.atomic():
        moved = _groups_join(members, records, best)
        queued = _pairs_queue(links.review, records)
        audit_record(
            actor=actor,
            action="datahub.registry.link",
            changes={
                "engine": engine,
                "records": len(rows),
                "moved": [list(m) for m in moved],
                "review_items": queued,
            },
        )
    return {"records": len(rows), "moved": len(moved), "review_items": queued}


def _groups_join(
    members: dict[str, list[str]],
    records: dict[str, tuple[str, int | None]],
    best: dict[str, float],
) -> list[tuple[int, int | None, int]]:
    moved: list[tuple[int, int | None, int]] = []
    for group in members.values():
        if len(group) < 2:
            continue
        anchored = {records[r][1] for r in group if records[r][0] in _ANCHORED}
        if len(anchored) > 1:
            continue
        if anchored:
            target = anchored.pop()
        else:
            placed = sorted((int(r), records[r][1]) for r in group if records[r][1] is not None)
            target = placed[0][1] if placed else None
        if target is None:
            continue
        for record_id in group:
            method, person_id = records[record_id]
            if method in _MOVABLE and person_id != target:
                SourceRecord.objects.filter(pk=int(record_id), person=person_id).update(
                    person_id=target, link_method=LinkMethod.SCORE, link_weight=best[record_id]
                )
                moved.append((int(record_id), person_id, target))
    return moved


def _pairs_queue(pairs: list[ScoredPair], records: dict[str, tuple[str, int | None]]) -> int:
    queued = 0
    for pair in pairs:
        (a_method, a_person), (b_method, b_person) = records[pair.left], records[pair.right]
        if a_person == b_person:
            continue
        # The record that may move waits beside the other's person.
        if a_method in _MOVABLE and b_person is not None:
            record_id, candidate = pair.left, b_person
        elif b_method in _MOVABLE and a_person is not None:
            record_id, candidate = pair.right, a_person
        else:
            continue
        _item, created = ReviewItem.objects.get_or_create(
            record_id=int(record_id),
            candidate_id=candidate,
            status=ReviewStatus.OPEN,
            defaults={"weight": pair.weight, "explanation": list(pair.explanation)},
        )
        queued += created
    return queued
