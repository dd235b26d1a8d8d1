"""Parsing the compose page's form into what `services.post_publish` takes. The rules (limits,
areas, CAP values) stay in the services; a form only turns text fields into values."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from civichub.broadcast import services

IMAGE_SLOTS = range(1, 5)


class IdsField(forms.Field):
    """Several values of one name (checkboxes), keeping those that are ids."""

    widget = forms.SelectMultiple

    def to_python(self, value: Any) -> list[int]:
        return [int(v) for v in value or () if str(v).isdigit()]


class RawText(forms.Field):
    """Text passed on exactly as sent ("" when missing): the services check and strip it."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(required=False, **kwargs)

    def to_python(self, value: Any) -> str:
        return "" if value is None else str(value)


class TimeField(RawText):
    """An ISO 8601 time, taken in the deployment's time zone when it names none."""

    def to_python(self, value: Any) -> dt.datetime | None:  # type: ignore[override]
        text = super().to_python(value)
        if not text:
            return None
        try:
            parsed = parse_datetime(text)
        except ValueError:
            parsed = None
        if parsed is None:
            raise forms.ValidationError(_("时间格式无效。"), code="invalid")
        return timezone.make_aware(parsed) if timezone.is_naive(parsed) else parsed


def _float_or_none(value: str) -> float | None:
    value = value.strip()
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        return float("nan")  # refused by the checks with the field named


class ComposeForm(forms.Form):
    """A post, or with `alert` an alert with its CAP fields."""

    text = RawText()
    text_en = RawText()
    category = RawText()
    target_areas = IdsField(required=False)
    publish_at = TimeField()
    cap_category = RawText()
    cap_event = RawText()
    cap_urgency = RawText()
    cap_severity = RawText()
    cap_certainty = RawText()
    cap_expires = TimeField()
    cap_instruction = RawText()
    cap_headline = RawText()
    cap_event_en = RawText()
    cap_headline_en = RawText()
    cap_instruction_en = RawText()
    submission = RawText()
    preview = RawText()
    video_id = forms.IntegerField(required=False, min_value=1)

    # The form's fields as the services name them in their errors.
    service_names = {"cap_expires": "expires"}

    def __init__(self, *args: Any, alert: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.alert = alert
        # An alert goes out at once: its time is not read; a post has no CAP expiry.
        del self.fields["publish_at" if alert else "cap_expires"]

    def alert_fields(self) -> services.AlertFields | None:
        if not self.alert:
            return None
        data = self.cleaned_data
        return services.AlertFields(
            category=data["cap_category"],
            event=data["cap_event"],
            urgency=data["cap_urgency"],
            severity=data["cap_severity"],
            certainty=data["cap_certainty"],
            expires=data["cap_expires"] or timezone.now(),
            instruction=data["cap_instruction"],
            headline=data["cap_headline"],
            event_en=data["cap_event_en"],
            headline_en=data["cap_headline_en"],
            instruction_en=data["cap_instruction_en"],
        )

    def wants_preview(self) -> bool:
        return self.alert and bool(self.cleaned_data["preview"])

    def images(self) -> list[services.ImageIn]:
        """The image fields (`image_1`…`image_4`, each with `alt_1`…`alt_4`)."""
        images = []
        for n in IMAGE_SLOTS:
            upload = self.files.get(f"image_{n}")
            if upload is not None:
                images.append(
                    services.ImageIn(
                        name=upload.name or f"image {n}",
                        data=upload.read(),
                        alt_text=self.data.get(f"alt_{n}", ""),
                    )
                )
        return images

    def has_images(self) -> bool:
        return any(self.files.get(f"image_{n}") for n in IMAGE_SLOTS)

    def drawn(self) -> list[services.DrawnAreaIn]:
        """The circle (centre and radius) and polygon (one "lat, lon" per line; the page closes
        the ring) as drawn areas, checked by the services."""
        data = self.data
        crs = data.get("shape_crs", "")
        drawn = []
        circle = [data.get(f"circle_{k}", "") for k in ("lat", "lon", "radius")]
        if any(v.strip() for v in circle):
            lat, lon, radius = (_float_or_none(v) for v in circle)
            drawn.append(
                services.DrawnAreaIn(kind="circle", lat=lat, lon=lon, radius_m=radius, crs=crs)
            )
        lines = [line.strip() for line in data.get("polygon", "").splitlines() if line.strip()]
        if lines:
            points: list[list[Any]] = [
                line.replace("，", ",").replace(",", " ").split() for line in lines
            ]
            if points and points[0] != points[-1]:
                points.append(points[0])
            drawn.append(services.DrawnAreaIn(kind="polygon", points=points, crs=crs))
        return drawn

    def errors_by_service_name(self) -> dict[str, list[str]]:
        return {
            self.service_names.get(name, name): [str(m) for m in messages]
            for name, messages in self.errors.items()
        }
