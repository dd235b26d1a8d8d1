"""Page forms: field shapes and labels only; the rules live in the services, whose errors the
views put back on these forms."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from civichub.casework.models import CaseKind, Category, RatingValue
from civichub.core.errors import DomainError
from civichub.core.models import CoordinateSystem


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleImageField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        if not data:
            return []
        items = data if isinstance(data, list | tuple) else [data]
        return [super(MultipleImageField, self).clean(item, initial) for item in items]


def category_choices() -> list[tuple[str, str]]:
    choices: list[tuple[str, str]] = [("", str(_("不确定（由系统分派）")))]
    language = get_language() or settings.LANGUAGE_CODE
    choices += [(c.key, c.display_name(language)) for c in Category.objects.filter(active=True)]
    return choices


# The fields map.js fills from the pin on the map.
PIN_FIELDS = ("latitude", "longitude", "crs")


class CaseForm(forms.Form):
    kind = forms.ChoiceField(label=_("留言类型"), choices=CaseKind.choices)
    category = forms.ChoiceField(label=_("问题类别"), required=False, choices=())
    title = forms.CharField(label=_("标题"), max_length=200, required=False)
    text = forms.CharField(
        label=_("留言内容"), max_length=4000, widget=forms.Textarea(attrs={"rows": 6})
    )
    address = forms.CharField(
        label=_("地点（地址）"),
        max_length=300,
        required=False,
        help_text=_("填写路名门牌、小区或社区名称，系统据此确定所属社区。"),
    )
    # The place as a pin on the map (map.js fills these; people never type coordinates). The
    # pin is in the base map's coordinate system, which `crs` names.
    latitude = forms.FloatField(
        required=False, min_value=-90, max_value=90, widget=forms.HiddenInput
    )
    longitude = forms.FloatField(
        required=False, min_value=-180, max_value=180, widget=forms.HiddenInput
    )
    crs = forms.ChoiceField(
        required=False,
        choices=[("", ""), *CoordinateSystem.choices],
        widget=forms.HiddenInput,
    )
    photos = MultipleImageField(
        label=_("照片（可多选，JPEG/PNG/WebP）"),
        required=False,
        widget=MultipleFileInput(attrs={"accept": "image/jpeg,image/png,image/webp"}),
    )
    keep_location = forms.BooleanField(
        label=_("保留照片中的位置信息（用于定位问题地点）"), required=False
    )
    is_public = forms.BooleanField(
        label=_("同意在留言公开栏公开本留言（不显示姓名、联系方式和地址）"), required=False
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = category_choices()  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any] | None:
        cleaned = super().clean()
        # The pin is hidden fields: a problem with it is shown at the place's address box, the
        # visible control of the place (the map sits beside it), which the summary links to.
        for name in PIN_FIELDS:
            for message in self.errors.pop(name, []):
                self.add_error("address", _("地图上的标记有误：%(e)s") % {"e": message})
        return cleaned


class PhoneCallForm(CaseForm):
    contact_name = forms.CharField(label=_("来电人姓名"), max_length=100, required=False)
    contact_phone = forms.CharField(label=_("来电号码"), max_length=32)


class VerifyStartForm(forms.Form):
    channel = forms.ChoiceField(
        label=_("验证方式"), choices=[("sms", _("手机短信")), ("email", _("电子邮件"))]
    )
    address = forms.CharField(label=_("手机号码或电子邮箱"), max_length=254)


class VerifyCodeForm(forms.Form):
    code = forms.CharField(
        label=_("验证码"),
        max_length=12,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code"}),
    )


class TrackForm(forms.Form):
    tracking_number = forms.CharField(label=_("受理编号"), max_length=16)
    access_code = forms.CharField(label=_("查询码"), max_length=64)


class RatingForm(forms.Form):
    value = forms.ChoiceField(
        label=_("您对答复是否满意？"), choices=RatingValue.choices, widget=forms.RadioSelect
    )
    comment = forms.CharField(
        label=_("意见（可选）"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # The question ends in its own punctuation (“？”), which Django does not know: it would
        # add a colon after it.
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


def add_domain_errors(form: forms.Form, exc: DomainError) -> None:
    """Puts a service's per-field errors on the matching form fields; the rest on the form."""
    placed = False
    for key, messages in exc.errors.items():
        field = key.split(".")[0]
        if field == "location" or field in PIN_FIELDS:
            # The pin is hidden fields: its problems are shown at the address box.
            field = "address"
        if field == "__all__":
            for message in messages:
                form.add_error(None, message)
            placed = True
        elif field in form.fields:
            for message in messages:
                form.add_error(field, message)
            placed = True
    if not placed:
        form.add_error(None, exc.message)
