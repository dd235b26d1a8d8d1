"""The design system page (/design/, staff): the platform's components rendered from the real
includes and stylesheet — buttons, a form with its error summary, a list that becomes cards on
a phone, status pills, charts with axes and units, an empty state, notices — so a new module
uses these rather than inventing its own. The figures on it are samples, not data."""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from civichub.core.charts import bar_chart, column_chart
from civichub.core.http import request_user
from civichub.core.permissions import require
from civichub.core.views import domain_errors_as_http


class SampleForm(forms.Form):
    """A form shown with its errors, as a person sees them after sending it incomplete."""

    title = forms.CharField(label=gettext_lazy("标题"), max_length=20)
    kind = forms.ChoiceField(
        label=gettext_lazy("留言类型"),
        choices=[("", "—"), ("complaint", gettext_lazy("投诉")), ("help", gettext_lazy("求助"))],
    )
    agree = forms.BooleanField(label=gettext_lazy("我已阅读并同意隐私说明"))


@login_required
@domain_errors_as_http
def design(request: HttpRequest) -> HttpResponse:
    require(request_user(request), "core.dashboard.view")
    form = SampleForm(data={"title": "", "kind": ""})
    form.is_valid()
    weeks = [f"{month}-{day:02d}" for month, day in [(11, 2), (11, 9), (11, 16), (11, 23)]]
    weeks += [f"12-{day:02d}" for day in (1, 8)]
    return render(
        request,
        "core/design.html",
        {
            "form": form,
            "columns": column_chart(list(zip(weeks, [12, 18, 0, 9, 21, 15], strict=True)), _("件")),
            "bars": bar_chart([(_("东湖区"), 42), (_("西山区"), 27), (_("南湾区"), 9)]),
            "rows": [
                ("2026-000123", _("楼下路灯坏了"), _("办理中"), "2026-12-10"),
                ("2026-000124", _("小区门口积水"), _("已答复"), "2026-12-08"),
            ],
        },
    )
