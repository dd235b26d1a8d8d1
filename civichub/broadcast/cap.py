"""An alert as a CAP 1.2 document (OASIS Common Alerting Protocol), one `info` block per
language the alert was written in: zh-CN always, en-US when its English event and text are
given (never the Chinese texts again under an English label)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from xml.etree import ElementTree as ET

from civichub.broadcast import geometry, selectors
from civichub.broadcast.models import Post, cap_time
from civichub.core.models import Organisation

NAMESPACE = "urn:oasis:names:tc:emergency:cap:1.2"
CONTENT_TYPE = "application/cap+xml"

__all__ = ["CONTENT_TYPE", "NAMESPACE", "CapIdentity", "cap_document", "cap_time"]


@dataclass(frozen=True)
class CapIdentity:
    """What makes one CAP message of an alert itself: who sent it, its identifier, when, its
    type, and the earlier messages it updates or cancels ("sender,identifier,sent" each)."""

    sender: str
    identifier: str
    sent: dt.datetime
    msg_type: str
    references: list[str] = field(default_factory=list)


def _english(post: Post) -> bool:
    return bool(post.text_en and post.cap_event_en)


def cap_polygon(shape: geometry.Polygon) -> str:
    """CAP's polygon: WGS-84 "lat,lon" pairs separated by spaces, the first repeated last."""
    return " ".join(f"{lat:.6f},{lon:.6f}" for lat, lon in shape.points)


def cap_circle(shape: geometry.Circle) -> str:
    """CAP's circle: the centre "lat,lon", a space, and the radius in kilometres."""
    return f"{shape.lat:.6f},{shape.lon:.6f} {shape.radius_m / 1000:.3f}"


def cap_document(
    post: Post,
    *,
    identity: CapIdentity,
    web: str,
    areas: list[Organisation] | None = None,
    drawn: list[geometry.Shape] | None = None,
    indent: bool = False,
) -> bytes:
    """`identity` is the message's header; `web` is the post's page. `areas` and `drawn` are
    given for a post not yet saved (the compose page's preview), which is also `indent`ed for
    people to read."""

    def sub(parent: ET.Element, tag: str, text: str) -> ET.Element:
        element = ET.SubElement(parent, tag)
        element.text = text
        return element

    # The namespace is declared on the root and the tags left unqualified: ElementTree's prefix
    # registry is process-wide, and a render in another thread could change it mid-way.
    alert = ET.Element("alert", xmlns=NAMESPACE)
    sub(alert, "identifier", identity.identifier)
    sub(alert, "sender", identity.sender)
    sub(alert, "sent", cap_time(identity.sent))
    sub(alert, "status", "Actual")
    sub(alert, "msgType", identity.msg_type)
    sub(alert, "scope", "Public")
    if identity.references:
        sub(alert, "references", " ".join(identity.references))
    if areas is None:
        areas = list(post.target_areas.all())
    if drawn is None:
        drawn = [selectors.drawn_shape(area) for area in post.drawn_areas.all()]
    texts = [
        (
            "zh-CN",
            post.text,
            post.account.name,
            post.cap_event,
            post.cap_headline,
            post.cap_instruction,
            "name",
        )
    ]
    if _english(post):
        account_en = post.account.name_en or post.account.name
        texts.append(
            (
                "en-US",
                post.text_en,
                account_en,
                post.cap_event_en,
                post.cap_headline_en,
                post.cap_instruction_en,
                "name_en",
            )
        )
    for language, text, sender_name, event, headline, instruction, name_field in texts:
        info = ET.SubElement(alert, "info")
        sub(info, "language", language)
        sub(info, "category", post.cap_category)
        sub(info, "event", event)
        sub(info, "urgency", post.cap_urgency)
        sub(info, "severity", post.cap_severity)
        sub(info, "certainty", post.cap_certainty)
        sub(info, "effective", cap_time(post.published_at))
        if post.cap_expires is not None:
            sub(info, "expires", cap_time(post.cap_expires))
        sub(info, "senderName", sender_name)
        sub(info, "headline", headline or text[:80])
        sub(info, "description", text)
        if instruction:
            sub(info, "instruction", instruction)
        if web:
            sub(info, "web", web)
        _areas(info, language, areas, drawn, name_field)
    if indent:
        ET.indent(alert)
    return ET.tostring(alert, encoding="utf-8", xml_declaration=True)


def _areas(
    info: ET.Element,
    language: str,
    areas: list[Organisation],
    drawn: list[geometry.Shape],
    name_field: str,
) -> None:
    def sub(parent: ET.Element, tag: str, text: str) -> ET.Element:
        element = ET.SubElement(parent, tag)
        element.text = text
        return element

    for area in areas:
        block = ET.SubElement(info, "area")
        sub(block, "areaDesc", getattr(area, name_field) or area.name)
        geocode = ET.SubElement(block, "geocode")
        sub(geocode, "valueName", "civichub.organisation.code")
        sub(geocode, "value", area.code)
    english = language.startswith("en")
    for n, shape in enumerate(drawn, start=1):
        block = ET.SubElement(info, "area")
        if isinstance(shape, geometry.Circle):
            label = "Drawn circle" if english else "圆形区域"
            sub(block, "areaDesc", f"{label} {n}")
            sub(block, "circle", cap_circle(shape))
        else:
            label = "Drawn polygon" if english else "多边形区域"
            sub(block, "areaDesc", f"{label} {n}")
            sub(block, "polygon", cap_polygon(shape))
