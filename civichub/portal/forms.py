"""Form parsing for the portal's staff pages."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from civichub.core.errors import DomainError
from civichub.portal.models import ServiceVersion


class GuideForm(forms.Form):
    """A guide's names and its elements as one JSON document (the shape `guide.py` checks)."""

    name = forms.CharField(label=_("事项名称"), max_length=200)
    name_en = forms.CharField(label=_("事项名称（英文）"), max_length=200, required=False)
    content = forms.CharField(
        label=_("指南要素（JSON）"),
        widget=forms.Textarea(attrs={"rows": 24, "spellcheck": "false"}),
    )
    submit_for_review = forms.BooleanField(label=_("保存并送审"), required=False)

    @staticmethod
    def initial_from(version: ServiceVersion | None) -> dict[str, Any]:
        if version is None:
            return {}
        return {
            "name": version.name,
            "name_en": version.name_en,
            "content": json.dumps(version.content, ensure_ascii=False, indent=2),
        }

    def clean_content(self) -> dict[str, Any]:
        try:
            value = json.loads(self.cleaned_data["content"])
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(_("不是有效的 JSON：%(error)s") % {"error": exc}) from None
        if not isinstance(value, dict):
            raise forms.ValidationError(_("须为一个 JSON 对象。"))
        return value

    def add_domain_error(self, exc: DomainError) -> None:
        if not exc.errors:
            self.add_error(None, exc.message)
        for field, messages in exc.errors.items():
            for message in messages:
                self.add_error(field if field in self.fields else "content", message)
