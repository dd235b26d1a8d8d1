"""Casework's API at /api/casework/: intake, the staff inbox and actions, the sender's side, the
public board and statistics. Thin: parse, call a selector or service, shape the answer."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, File, Query, Router, Schema, Status
from ninja.files import UploadedFile

from civichub.casework import selectors, services
from civichub.casework.models import Case, Category, ContactVerification
from civichub.casework.permissions import may
from civichub.casework.photos import PhotoUpload
from civichub.casework.schemas import (
    AnonymousCaseIn,
    CaseIn,
    CaseOut,
    CasePageOut,
    CategoryOut,
    EventOut,
    PhotoOut,
    RatingOut,
    SubmittedOut,
    case_out,
    case_page_out,
    category_out,
    event_out,
)
from civichub.core.errors import ValidationFailed
from civichub.core.http import client_address, request_user, share_publicly
from civichub.core.models import Organisation, User

router = Router(tags=["casework"])


def _organisation(pk: int | None, field: str) -> Organisation | None:
    if pk is None:
        return None
    organisation = selectors.organisation_find(pk)
    if organisation is None:
        raise ValidationFailed.on(field, _("没有编号为 %(pk)s 的组织机构。") % {"pk": pk})
    return organisation


def _staff_case_out(case: Case) -> CaseOut:
    """The case after a staff action, reloaded with what the answer shows."""
    return case_out(selectors.case_load(case.pk), staff=True)


def _category(key: str | None) -> Category | None:
    if not key:
        return None
    category = selectors.category_find(key)
    if category is None:
        raise ValidationFailed.on("category", _("没有代码为 %(key)s 的类别。") % {"key": key})
    return category


def _submit(
    actor: User | None, payload: CaseIn, verification: ContactVerification | None
) -> SubmittedOut:
    result = services.case_submit(
        actor=actor,
        kind=payload.kind,
        title=payload.title,
        text=payload.text,
        channel=payload.channel,
        is_public=payload.is_public,
        address=payload.address,
        latitude=payload.latitude,
        longitude=payload.longitude,
        crs=payload.crs,
        category_key=payload.category,
        attributes=payload.attributes,
        contact_name=payload.contact_name,
        contact_phone=payload.contact_phone,
        verification=verification,
    )
    return SubmittedOut(
        tracking_number=result.case.tracking_number,
        status=result.case.status,
        due_at=result.case.due_at,
        access_code=result.access_code,
    )


# Intake ------------------------------------------------------------------------------------


@router.get("/categories", response=list[CategoryOut], auth=None, summary="The category taxonomy")
def category_list(request: HttpRequest) -> list[CategoryOut]:
    return [category_out(c) for c in selectors.category_list()]


class VerificationIn(Schema):
    channel: Literal["sms", "email"]
    address: str = Field(..., min_length=3, max_length=254)


class VerificationOut(Schema):
    id: int
    channel: str
    expires_at: dt.datetime
    verified: bool


class VerificationStartedOut(VerificationOut):
    token: str = Field(
        ...,
        description="Binds the verification to this client: confirming the code and sending "
        "the message need it. Shown once; keep it secret.",
    )


@router.post(
    "/verifications",
    response={201: VerificationStartedOut},
    auth=None,
    summary="Send a one-time code to an anonymous sender's phone or email",
)
def verification_start(
    request: HttpRequest, payload: VerificationIn
) -> Status[VerificationStartedOut]:
    started = services.contact_verification_start(
        channel=payload.channel, address=payload.address, client=client_address(request)
    )
    verification = started.verification
    return Status(
        201,
        VerificationStartedOut(
            id=verification.pk,
            channel=verification.channel,
            expires_at=verification.expires_at,
            verified=False,
            token=started.token,
        ),
    )


class CodeIn(Schema):
    code: str = Field(..., min_length=4, max_length=12)
    token: str = Field(..., max_length=128, description="The token the start gave.")


@router.post(
    "/verifications/{verification_id}/confirm",
    response=VerificationOut,
    auth=None,
    summary="Confirm the one-time code",
)
def verification_confirm(
    request: HttpRequest, verification_id: int, payload: CodeIn
) -> VerificationOut:
    verification = services.contact_verification_confirm(
        verification_id=verification_id, token=payload.token, code=payload.code
    )
    return VerificationOut(
        id=verification.pk,
        channel=verification.channel,
        expires_at=verification.expires_at,
        verified=verification.verified_at is not None,
    )


@router.post(
    "/cases",
    response={201: SubmittedOut},
    summary="Send a message (signed in), or log a phone call (staff, channel=phone)",
)
def case_submit(request: HttpRequest, payload: CaseIn) -> Status[SubmittedOut]:
    return Status(201, _submit(request_user(request), payload, None))


@router.post(
    "/cases/anonymous",
    response={201: SubmittedOut},
    auth=None,
    summary="Send a message without an account, with a verified phone or email",
)
def case_submit_anonymous(request: HttpRequest, payload: AnonymousCaseIn) -> Status[SubmittedOut]:
    verification = selectors.contact_verification_find(
        payload.verification_id, payload.verification_token
    )
    if verification is None:
        raise ValidationFailed.on("verification_id", _("请先验证联系方式。"))
    if payload.channel == "phone":
        raise ValidationFailed.on("channel", _("只有工作人员可以登记来电。"))
    return Status(201, _submit(None, payload, verification))


@router.post(
    "/cases/{tracking_number}/photos",
    response={201: list[PhotoOut]},
    summary="Add photos to one's own message (JPEG, PNG or WebP; location removed unless kept)",
)
def case_photos_add(
    request: HttpRequest,
    tracking_number: str,
    photos: File[list[UploadedFile]],
    keep_location: bool = False,
) -> Status[list[PhotoOut]]:
    user = request_user(request)
    case = selectors.case_get(actor=user, tracking_number=tracking_number, purpose="add photos")
    uploads = [PhotoUpload(name=f.name or "photo", data=f.read()) for f in photos]
    stored = services.case_photos_add(
        actor=user, case=case, photos=uploads, keep_location=keep_location
    )
    return Status(201, [PhotoOut.from_orm(p) for p in stored])


# Staff -------------------------------------------------------------------------------------


class InboxQuery(Schema):
    status: str = Field("open", description='A status, "open" or "" for all.')
    kind: str = ""
    department_id: int | None = None
    community_id: int | None = None
    category: str = ""
    q: str = Field("", max_length=100)
    due: Literal["", "overdue", "near"] = ""
    mine: bool = False


@router.get("/cases", response=CasePageOut, summary="The staff inbox in the caller's scope")
def case_inbox(
    request: HttpRequest,
    filters: Query[InboxQuery],
    offset: int = Query(0, ge=0),
    limit: int = Query(50, ge=1, le=200),
) -> CasePageOut:
    page = selectors.case_inbox(
        actor=request_user(request),
        filters=selectors.InboxFilter(**filters.dict()),
        offset=offset,
        limit=limit,
    )
    return case_page_out(page.total, page.items)


@router.get("/cases/mine", response=CasePageOut, summary="The caller's own messages")
def own_cases(
    request: HttpRequest, offset: int = Query(0, ge=0), limit: int = Query(50, ge=1, le=200)
) -> CasePageOut:
    page = selectors.own_cases(actor=request_user(request), offset=offset, limit=limit)
    return case_page_out(page.total, page.items)


def _get(request: HttpRequest, tracking_number: str, purpose: str = "casework") -> Case:
    return selectors.case_get(
        actor=request_user(request), tracking_number=tracking_number, purpose=purpose
    )


@router.get("/cases/{tracking_number}", response=CaseOut, summary="One case")
def case_get(request: HttpRequest, tracking_number: str, purpose: str = "casework") -> CaseOut:
    user = request_user(request)
    case = _get(request, tracking_number, purpose)
    return case_out(case, staff=may(user, "casework.case.note", case))


@router.get("/cases/{tracking_number}/events", response=list[EventOut], summary="Case history")
def case_events(request: HttpRequest, tracking_number: str) -> list[EventOut]:
    user = request_user(request)
    case = _get(request, tracking_number, "case history")
    staff = may(user, "casework.case.note", case)
    return [event_out(e, staff=staff) for e in selectors.case_history(actor=user, case=case)]


class TriageIn(Schema):
    category: str = Field(..., min_length=1, max_length=64)
    department_id: int | None = None
    note: str = Field("", max_length=2000)


@router.post("/cases/{tracking_number}/triage", response=CaseOut, summary="Triage a case")
def case_triage(request: HttpRequest, tracking_number: str, payload: TriageIn) -> CaseOut:
    case = _get(request, tracking_number)
    category = _category(payload.category)
    if category is None:
        raise ValidationFailed.on("category", _("请选择类别。"))
    case = services.case_triage(
        actor=request_user(request),
        case=case,
        category=category,
        department=_organisation(payload.department_id, "department_id"),
        note=payload.note,
    )
    return _staff_case_out(case)


class AssignIn(Schema):
    assignee_id: int


@router.post("/cases/{tracking_number}/assign", response=CaseOut, summary="Assign a handler")
def case_assign(request: HttpRequest, tracking_number: str, payload: AssignIn) -> CaseOut:
    assignee = selectors.user_find(payload.assignee_id, active_only=True)
    if assignee is None:
        raise ValidationFailed.on("assignee_id", _("没有这个人员。"))
    case = services.case_assign(
        actor=request_user(request), case=_get(request, tracking_number), assignee=assignee
    )
    return _staff_case_out(case)


class TransferIn(Schema):
    reason: str = Field(..., min_length=1, max_length=500)
    category: str | None = Field(None, max_length=64)
    department_id: int | None = None


@router.post(
    "/cases/{tracking_number}/transfer", response=CaseOut, summary="Transfer to another department"
)
def case_transfer(request: HttpRequest, tracking_number: str, payload: TransferIn) -> CaseOut:
    case = services.case_transfer(
        actor=request_user(request),
        case=_get(request, tracking_number),
        reason=payload.reason,
        category=_category(payload.category),
        department=_organisation(payload.department_id, "department_id"),
    )
    return _staff_case_out(case)


class TextIn(Schema):
    text: str = Field(..., min_length=1, max_length=8000)
    public: bool = False


@router.post("/cases/{tracking_number}/notes", response={201: EventOut}, summary="Add a note")
def case_note(request: HttpRequest, tracking_number: str, payload: TextIn) -> Status[EventOut]:
    event = services.case_note(
        actor=request_user(request),
        case=_get(request, tracking_number),
        text=payload.text,
        public=payload.public,
    )
    return Status(201, event_out(event, staff=True))


class ReplyIn(Schema):
    text: str = Field(..., min_length=1, max_length=8000)
    public: bool = Field(True, description="Also show on the public board if the case is public.")
    resolved: bool = Field(
        True,
        description="True when the reply resolves the matter: the sender is asked to rate it "
        "(satisfied closes the case). False for a progress reply (work promised, not yet done): "
        "the case stays in hand, its deadline running, and the sender is not asked to rate.",
    )


@router.post(
    "/cases/{tracking_number}/replies", response={201: EventOut}, summary="Reply to the sender"
)
def case_reply(request: HttpRequest, tracking_number: str, payload: ReplyIn) -> Status[EventOut]:
    event = services.case_reply(
        actor=request_user(request),
        case=_get(request, tracking_number),
        text=payload.text,
        public=payload.public,
        resolved=payload.resolved,
    )
    return Status(201, event_out(event, staff=True))


class CloseIn(Schema):
    reason: str = Field("resolved", max_length=32)
    note: str = Field("", max_length=4000)


@router.post("/cases/{tracking_number}/close", response=CaseOut, summary="Close a case")
def case_close(request: HttpRequest, tracking_number: str, payload: CloseIn) -> CaseOut:
    case = services.case_close(
        actor=request_user(request),
        case=_get(request, tracking_number),
        reason=payload.reason,
        note=payload.note,
    )
    return _staff_case_out(case)


class ExtensionIn(Schema):
    days: int = Field(..., ge=1, le=60)
    reason: str = Field(..., min_length=1, max_length=500)


@router.post("/cases/{tracking_number}/extension", response=CaseOut, summary="Request more time")
def case_extension_request(
    request: HttpRequest, tracking_number: str, payload: ExtensionIn
) -> CaseOut:
    case = services.case_extension_request(
        actor=request_user(request),
        case=_get(request, tracking_number),
        days=payload.days,
        reason=payload.reason,
    )
    return _staff_case_out(case)


class DecisionIn(Schema):
    approve: bool
    note: str = Field("", max_length=500)


@router.post(
    "/cases/{tracking_number}/extension/decision",
    response=CaseOut,
    summary="Approve or refuse an extension (department head)",
)
def case_extension_decide(
    request: HttpRequest, tracking_number: str, payload: DecisionIn
) -> CaseOut:
    case = services.case_extension_decide(
        actor=request_user(request),
        case=_get(request, tracking_number),
        approve=payload.approve,
        note=payload.note,
    )
    return _staff_case_out(case)


class MergeIn(Schema):
    into: str = Field(..., description="Tracking number of the case to keep.")
    reason: str = Field("", max_length=500)


@router.post(
    "/cases/{tracking_number}/merge", response=CaseOut, summary="Merge a duplicate into a case"
)
def case_merge(request: HttpRequest, tracking_number: str, payload: MergeIn) -> CaseOut:
    into = _get(request, payload.into)
    case = services.case_merge(
        actor=request_user(request),
        case=_get(request, tracking_number),
        into=into,
        reason=payload.reason,
    )
    return _staff_case_out(case)


class DuplicateOut(Schema):
    tracking_number: str
    title: str
    status: str
    score: float
    text_similarity: float
    distance_m: float | None
    hours_apart: float


@router.get(
    "/cases/{tracking_number}/duplicates",
    response=list[DuplicateOut],
    summary="Possible duplicates by text, place and time",
)
def case_duplicates(request: HttpRequest, tracking_number: str) -> list[DuplicateOut]:
    case = _get(request, tracking_number, "duplicate check")
    return [
        DuplicateOut(
            tracking_number=d.case.tracking_number,
            title=d.case.title,
            status=d.case.status,
            score=d.score,
            text_similarity=d.text_similarity,
            distance_m=d.distance_m,
            hours_apart=d.hours_apart,
        )
        for d in selectors.duplicate_candidates(actor=request_user(request), case=case)
    ]


# The sender's side -------------------------------------------------------------------------


class RatingIn(Schema):
    value: Literal["satisfied", "basic", "unsatisfied"]
    comment: str = Field("", max_length=2000)


@router.post(
    "/cases/{tracking_number}/rating", response={201: RatingOut}, summary="Rate the answer"
)
def case_rate(request: HttpRequest, tracking_number: str, payload: RatingIn) -> Status[RatingOut]:
    rating = services.case_rate(
        actor=request_user(request),
        case=_get(request, tracking_number),
        value=payload.value,
        comment=payload.comment,
    )
    return Status(201, RatingOut.from_orm(rating))


class TrackIn(Schema):
    tracking_number: str = Field(..., max_length=16)
    access_code: str = Field(..., max_length=64)


class TrackOut(Schema):
    case: CaseOut
    events: list[EventOut]


@router.post(
    "/track",
    response=TrackOut,
    auth=None,
    summary="Follow a message sent without an account (tracking number and access code)",
)
def track(request: HttpRequest, payload: TrackIn) -> TrackOut:
    case = selectors.case_for_tracking(
        tracking_number=payload.tracking_number, access_code=payload.access_code
    )
    events = selectors.case_history(actor=None, case=case, staff_view=False)
    return TrackOut(
        case=case_out(case, staff=False), events=[event_out(e, staff=False) for e in events]
    )


class TrackRatingIn(TrackIn, RatingIn):
    pass


@router.post(
    "/track/rating",
    response={201: RatingOut},
    auth=None,
    summary="Rate the answer to a message sent without an account",
)
def track_rate(request: HttpRequest, payload: TrackRatingIn) -> Status[RatingOut]:
    case = selectors.case_for_tracking(
        tracking_number=payload.tracking_number, access_code=payload.access_code
    )
    rating = services.case_rate(
        actor=None,
        case=case,
        value=payload.value,
        comment=payload.comment,
        access_code=payload.access_code,
    )
    return Status(201, RatingOut.from_orm(rating))


# Public board and statistics -----------------------------------------------------------------


class BoardReplyOut(Schema):
    at: dt.datetime
    text: str


class BoardEntryOut(Schema):
    tracking_number: str
    kind: str
    title: str
    text: str
    status: str
    department: str
    department_id: int | None
    category: str
    created_at: dt.datetime
    replies: list[BoardReplyOut]


class BoardPageOut(Schema):
    total: int
    items: list[BoardEntryOut]


@router.get(
    "/board",
    response=BoardPageOut,
    auth=None,
    summary="Public messages and their replies (no personal data)",
)
def board(
    request: HttpRequest,
    q: str = Query("", max_length=100),
    department_id: int | None = None,
    offset: int = Query(0, ge=0),
    limit: int = Query(20, ge=1, le=100),
) -> BoardPageOut:
    share_publicly(request)
    entries, total = selectors.board_list(
        q=q, department_id=department_id, offset=offset, limit=limit
    )
    return BoardPageOut(
        total=total,
        items=[
            BoardEntryOut(
                tracking_number=e.tracking_number,
                kind=e.kind,
                title=e.title,
                text=e.text,
                status=e.status,
                department=e.department,
                department_id=e.department_id,
                category=e.category,
                created_at=e.created_at,
                replies=[BoardReplyOut(at=at, text=text) for at, text in e.replies],
            )
            for e in entries
        ],
    )


class FiguresOut(Schema):
    key: str
    label: str
    volume: int
    responded: int
    response_rate: float | None
    resolved: int
    resolution_rate: float | None
    rated: int
    satisfied: int
    satisfaction_rate: float | None
    median_hours_to_first_reply: float | None
    overdue: int
    late_replies: int


class StatisticsOut(Schema):
    since: dt.date
    until: dt.date
    group_by: str
    period: str
    total: FiguresOut
    groups: list[FiguresOut]
    periods: list[FiguresOut]


@router.get("/statistics", response=StatisticsOut, summary="Casework figures in the caller's scope")
def statistics(
    request: HttpRequest,
    since: dt.date,
    until: dt.date,
    group_by: Literal["department", "community"] = "department",
    period: Literal["week", "month"] = "week",
) -> StatisticsOut:
    stats = selectors.case_statistics(
        actor=request_user(request), since=since, until=until, group_by=group_by, period=period
    )
    return StatisticsOut.from_orm(stats)
