"""An alert as a CAP 1.2 document (OASIS Common Alerting Protocol), one `info` block per
language the post was written in."""

from __future__ import annotations

import datetime as dt
from xml.etree import ElementTree as ET

from civichub.broadcast import geometry, selectors
from civichub.broadcast.models import Post, PostState
from civichub.core.models import Organisation

NAMESPACE = "urn:oasis:names:tc:emergency:cap:1.2"
CONTENT_TYPE = "application/cap+xml"


def cap_time(value: dt.datetime) -> str:
    """CAP's dateTime form: seconds, an explicit offset, never "Z"."""
    return value.astimezone(dt.UTC).replace(microsecond=0).isoformat()


def cap_polygon(shape: geometry.Polygon) -> str:
    """CAP's polygon: WGS-84 "lat,lon" pairs separated by spaces, the first repeated last."""
    return " ".join(f"{lat:.6f},{lon:.6f}" for lat, lon in shape.points)


def cap_circle(shape: geometry.Circle) -> str:
    """CAP's circle: the centre "lat,lon", a space, and the radius in kilometres."""
    return f"{shape.lat:.6f},{shape.lon:.6f} {shape.radius_m / 1000:.3f}"


def cap_document(
    post: Post,
    *,
    sender: str,
    web: str,
    areas: list[Organisation] | None = None,
    drawn: list[geometry.Shape] | None = None,
) -> bytes:
    """`sender` names the publisher (a host name); `web` is the post's page. `areas` and
    `drawn` are given for a post not yet saved (the compose page's preview)."""

    def sub(parent: ET.Element, tag: str, text: str) -> ET.Element:
        element = ET.SubElement(parent, tag)
        element.text = text
        return element

    # The namespace is declared on the root and the tags left unqualified: ElementTree's prefix
    # registry is process-wide, and a render in another thread could change it mid-way.
    alert = ET.Element("alert", xmlns=NAMESPACE)
    sub(alert, "identifier", f"{sender}.broadcast.{post.pk}")
    sub(alert, "sender", sender)
    sub(alert, "sent", cap_time(post.published_at))
    sub(alert, "status", "Actual")
    # A retracted alert is re-issued as a Cancel of itself; an edited one as an Update.
    if post.state == PostState.RETRACTED:
        message_type = "Cancel"
    elif post.edited_at is not None:
        message_type = "Update"
    else:
        message_type = "Alert"
    sub(alert, "msgType", message_type)
    sub(alert, "scope", "Public")
    if areas is None:
        areas = list(post.target_areas.all())
    if drawn is None:
        drawn = [selectors.drawn_shape(area) for area in post.drawn_areas.all()]
    texts = [("zh-CN", post.text, post.account.name, post.cap_event, areas, "name")]
    if post.text_en:
        account_en = post.account.name_en or post.account.name
        texts.append(("en-US", post.text_en, account_en, post.cap_event, areas, "name_en"))
    for language, text, sender_name, event, info_areas, name_field in texts:
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
        sub(info, "headline", text[:80])
        sub(info, "description", text)
        if post.cap_instruction:
            sub(info, "instruction", post.cap_instruction)
        if web:
            sub(info, "web", web)
        for area in info_areas:
            block = ET.SubElement(info, "area")
            sub(block, "areaDesc", getattr(area, name_field) or area.name)
            geocode = ET.SubElement(block, "geocode")
            sub(geocode, "valueName", "civichub.organisation.code")
            sub(geocode, "value", area.code)
        for n, shape in enumerate(drawn, start=1):
            block = ET.SubElement(info, "area")
            english = language.startswith("en")
            if isinstance(shape, geometry.Circle):
                label = "Drawn circle" if english else "圆形区域"
                sub(block, "areaDesc", f"{label} {n}")
                sub(block, "circle", cap_circle(shape))
            else:
                label = "Drawn polygon" if english else "多边形区域"
                sub(block, "areaDesc", f"{label} {n}")
                sub(block, "polygon", cap_polygon(shape))
    return ET.tostring(alert, encoding="utf-8", xml_declaration=True)
