"""Form parsing for the data hub's pages."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from civichub.datahub.models import AgreementBasis, AgreementScope


class UploadForm(forms.Form):
    file = forms.FileField(label=_("数据文件"))


class AgreementForm(forms.Form):
    source = forms.CharField(label=_("数据源"), max_length=48)
    reader = forms.IntegerField(label=_("使用单位"), min_value=1)
    role = forms.CharField(label=_("角色"), max_length=48)
    area = forms.IntegerField(label=_("人员范围"), min_value=1)
    attributes = forms.CharField(label=_("属性（以逗号分隔）"), max_length=1000)
    purpose = forms.CharField(label=_("用途"), max_length=100)
    legal_basis = forms.CharField(label=_("法律依据"), max_length=200, required=False)
    basis = forms.ChoiceField(label=_("处理依据"), choices=AgreementBasis.choices, initial="law")
    scope = forms.ChoiceField(label=_("签约限制"), choices=AgreementScope.choices, initial="area")
    consent_text = forms.CharField(
        label=_("同意书文本（依据本人同意时）"), widget=forms.Textarea, required=False
    )
    consent_version = forms.CharField(label=_("同意书版本"), max_length=20, required=False)
    valid_from = forms.DateField(label=pgettext_lazy("validity", "起始日期"), initial=dt.date.today)
    valid_until = forms.DateField(label=pgettext_lazy("validity", "截止日期"), required=False)

    def attribute_list(self) -> list[str]:
        text = self.cleaned_data["attributes"].replace("，", ",")
        return [a.strip() for a in text.split(",") if a.strip()]


class ReadForm(forms.Form):
    purpose = forms.CharField(label=_("查看事由（本人可见）"), max_length=100)


class CorrectionForm(forms.Form):
    value = forms.IntegerField(label=_("需要更正的信息"), min_value=1)
    proposed_value = forms.CharField(label=_("正确的值"), max_length=300, required=False)
    reason = forms.CharField(label=_("原因"), max_length=500)
