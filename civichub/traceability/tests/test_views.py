"""The EPCIS REST binding (capture job, single event, queries with paging), the Digital Link
resolver (page, linkType, linkset, resolver description), the QR round trip through a real
decoder, the trace code lookup and the recall pages."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
import zxingcpp
from django.test import Client
from django.utils import timezone
from PIL import Image

from civichub.testing.summaries import described_by, summary_targets
from civichub.traceability.models import CaptureJob, Event
from civichub.traceability.tests.conftest import Chain, at, document, place


def _client(user: Any = None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def _event(chain: Chain, **extra: Any) -> dict[str, Any]:
    return (
        at(
            timezone.now() - timedelta(minutes=5),
            type="ObjectEvent",
            action="OBSERVE",
            bizStep="retail_selling",
            quantityList=[{"epcClass": chain.carcass.epc_class, "quantity": 1.5, "uom": "KGM"}],
            bizLocation=place(chain.stall),
        )
        | extra
    )


def test_capture_answers_202_with_the_job_and_the_limits(
    chain: Chain, immediate_tasks: None, django_capture_on_commit_callbacks: Any
) -> None:
    client = _client(chain.keeper)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/epcis/capture", document(_event(chain)), content_type="application/ld+json"
        )
    assert response.status_code == 202
    assert response["GS1-EPCIS-Capture-Limit"] == "500"
    job = client.get(response["Location"]).json()
    assert job["success"] is True and job["capturedCount"] == 1 and job["running"] is False
    assert CaptureJob.objects.count() == 1


def test_a_bad_document_is_refused_with_the_path(chain: Chain) -> None:
    before = Event.objects.count()
    response = _client(chain.keeper).post(
        "/epcis/events",
        _event(chain, action="FOO") | {"@context": []},
        content_type="application/json",
    )
    assert response.status_code == 422
    body = response.json()
    assert body["type"] == "epcisException:ValidationException"
    assert body["errors"][0]["path"] == "$.epcisBody.eventList[0].action"
    assert Event.objects.count() == before


def test_one_event_is_captured_once(chain: Chain) -> None:
    client = _client(chain.keeper)
    event = _event(chain) | {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"]
    }
    first = client.post("/epcis/events", event, content_type="application/json")
    assert first.status_code == 201
    again = client.post("/epcis/events", event, content_type="application/json")
    assert again.status_code == 409
    stored = client.get(first["Location"]).json()
    assert stored["type"] == "EPCISQueryDocument"


def test_visitors_cannot_capture_or_query(chain: Chain) -> None:
    assert (
        _client().post("/epcis/events", _event(chain), content_type="application/json").status_code
        == 401
    )
    assert _client().get("/epcis/events").status_code == 401


def test_query_pages_with_next_page_token(chain: Chain) -> None:
    client = _client(chain.regulator)
    url = "/epcis/events?EQ_bizStep=receiving&perPage=2"
    first = client.get(url)
    assert first.status_code == 200
    events = first.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert len(events) == 2
    following = first["Link"].split(";")[0].strip("<>")
    rest = client.get(following).json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    times = [e["eventTime"] for e in events + rest]
    assert len(times) == 4 and times == sorted(times)  # market, stall, canteen, other stall


def test_query_by_epc_class_and_time(chain: Chain) -> None:
    client = _client(chain.regulator)
    response = client.get(
        "/epcis/events",
        {"MATCH_anyEPCClass": chain.mince.epc_class, "GE_eventTime": "2000-01-01T00:00:00Z"},
    )
    events = response.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert {e["type"] for e in events} == {"TransformationEvent", "ObjectEvent"}
    by_epc = client.get(f"/epcis/epcs/{quote(chain.mince.epc_class, safe='')}/events").json()
    assert len(by_epc["epcisBody"]["queryResults"]["resultsBody"]["eventList"]) == 2
    unknown = client.get("/epcis/events?EQ_colour=red")
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["path"] == "EQ_colour"


def test_qr_code_decodes_to_the_digital_link_that_opens_the_shoppers_page(chain: Chain) -> None:
    client = _client()
    png = client.get(f"/trace/lots/{chain.carcass.pk}/qr.png")
    assert png["Content-Type"] == "image/png"
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)))
    assert len(decoded) == 1
    link = decoded[0].text
    assert link == f"http://testserver/01/{chain.carcass.product.gtin}/10/C1"
    page = client.get(link.removeprefix("http://testserver"))
    assert page.status_code == 200
    text = page.content.decode()
    assert chain.farm.name in text and chain.slaughterhouse.name in text and "clenbuterol" in text
    svg = client.get(f"/trace/lots/{chain.carcass.pk}/qr.svg")
    assert svg["Content-Type"] == "image/svg+xml" and b"<svg" in svg.content


def test_resolver_answers_link_types_and_describes_itself(chain: Chain) -> None:
    client = _client()
    path = f"/01/{chain.carcass.product.gtin}/10/C1"
    epcis = client.get(f"{path}?linkType=gs1:epcis")
    assert epcis.status_code == 302 and epcis["Location"].startswith(
        "/epcis/events?MATCH_anyEPCClass="
    )
    linkset = client.get(path, HTTP_ACCEPT="application/linkset+json").json()["linkset"][0]
    assert linkset["anchor"].endswith(path) and "https://gs1.org/voc/epcis" in linkset
    assert client.get(f"{path}?linkType=gs1:recipeInfo").status_code == 404
    wrong_check = client.get(f"/01/{chain.carcass.product.gtin[:-1]}9/10/C1")
    assert wrong_check.status_code == 404 and "check digit" in wrong_check.content.decode()
    description = client.get("/.well-known/gs1resolver").json()
    assert description["supportedPrimaryKeys"] == ["01"]


def test_a_compressed_digital_link_resolves_like_the_uncompressed_one(chain: Chain) -> None:
    from civichub.traceability.gs1.dl_compression import digital_link_compress

    client = _client()
    path = f"/01/{chain.carcass.product.gtin}/10/C1"
    compressed = digital_link_compress(f"https://id.gs1.org{path}").removeprefix(
        "https://id.gs1.org"
    )
    epcis = client.get(f"{compressed}?linkType=gs1:epcis")
    assert epcis.status_code == 302
    assert epcis["Location"] == client.get(f"{path}?linkType=gs1:epcis")["Location"]
    page = client.get(compressed)
    assert page.status_code == 200 and chain.farm.name in page.content.decode()
    unknown = digital_link_compress(f"https://id.gs1.org/01/{chain.carcass.product.gtin}/10/NO")
    assert client.get(unknown.removeprefix("https://id.gs1.org")).status_code == 404


def test_trace_code_lookup_opens_the_lot(chain: Chain) -> None:
    client = _client()
    found = client.get("/trace/lookup/", {"code": chain.carcass.trace_code})
    assert found.status_code == 302 and found["Location"].endswith("/10/C1")
    code = chain.carcass.trace_code
    mistyped = code[:-1] + str((int(code[-1]) + 1) % 10)
    wrong = client.get("/trace/lookup/", {"code": mistyped})
    assert "check digit" in wrong.content.decode()


def test_english_shoppers_page(chain: Chain) -> None:
    client = _client()
    page = client.get(f"/01/{chain.carcass.product.gtin}/10/C1", HTTP_ACCEPT_LANGUAGE="en")
    assert "Chilled pork" in page.content.decode()


def test_regulator_starts_a_recall_and_the_stall_acknowledges_it(chain: Chain) -> None:
    regulator = _client(chain.regulator)
    response = regulator.post(f"/trace/lots/{chain.carcass.pk}/recall/", {"reason": "抽检阳性"})
    assert response.status_code == 302
    recall_url = response["Location"]
    keeper = _client(chain.keeper)
    assert chain.carcass.product.name in keeper.get("/trace/recalls/").content.decode()
    notice = chain.stall.notices.get()
    done = keeper.post(recall_url, {"notice": notice.pk, "quantity_withdrawn": "12"})
    assert done.status_code == 302
    notice.refresh_from_db()
    assert notice.quantity_withdrawn == 12
    shopper = _client().get(f"/01/{chain.mince.product.gtin}/10/M1").content.decode()
    assert "召回警示" in shopper


def test_staff_form_records_an_event(chain: Chain) -> None:
    keeper = _client(chain.keeper)
    before = Event.objects.count()
    response = keeper.post(
        "/trace/record/",
        {
            "step": "receiving",
            "participant": chain.stall.pk,
            "trace_code": chain.other.trace_code,
            "quantity": "3",
        },
    )
    assert response.status_code == 200 and "已登记" in response.content.decode()
    assert Event.objects.count() == before + 1


@pytest.mark.parametrize("path", ["/trace/", "/trace/recalls/"])
def test_staff_pages_need_a_login(chain: Chain, path: str) -> None:
    assert _client().get(path).status_code == 302


def test_staff_upload_a_csv_batch(chain: Chain) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    keeper = _client(chain.keeper)
    before = Event.objects.count()
    text = f"step,trace_code,quantity\nreceiving,{chain.other.trace_code},4\n"
    upload = SimpleUploadedFile("batch.csv", text.encode(), content_type="text/csv")
    response = keeper.post("/trace/record/", {"participant": chain.stall.pk, "file": upload})
    assert "已登记" in response.content.decode()
    assert Event.objects.count() == before + 1
    bad = SimpleUploadedFile("batch.csv", (text + "cooking,1,,\n").encode(), "text/csv")
    refused = keeper.post("/trace/record/", {"participant": chain.stall.pk, "file": bad})
    assert "第 3 行（unknown_trace_code）" in refused.content.decode()
    assert Event.objects.count() == before + 1


def test_a_bad_record_is_named_in_the_error_summary_linked_to_its_field(chain: Chain) -> None:
    """An unknown trace code: the shared summary at the top, focused, leads to the code's box."""
    page = _client(chain.keeper).post(
        "/trace/record/",
        {"step": "receiving", "participant": chain.stall.pk, "trace_code": "000000"},
    )
    html = page.content.decode()
    summary = html[html.index('id="error-summary"') :]
    summary = summary[: summary.index("</div>")]
    assert 'role="alert" tabindex="-1" autofocus' in summary
    assert '<a href="#e-code">' in summary and 'id="e-code"' in html


def test_a_refused_acknowledgement_links_to_the_quantity_of_its_row(chain: Chain) -> None:
    """A recall's table has one form per downstream participant: a quantity that is not a number
    is shown at that row's quantity box, which the summary links to and which names it."""
    regulator = _client(chain.regulator)
    recall_url = regulator.post(f"/trace/lots/{chain.carcass.pk}/recall/", {"reason": "抽检阳性"})[
        "Location"
    ]
    notice = chain.stall.notices.get()
    html = (
        _client(chain.keeper)
        .post(recall_url, {"notice": notice.pk, "quantity_withdrawn": "十二"})
        .content.decode()
    )
    assert summary_targets(html) == [f"q-{notice.pk}"]
    assert described_by(html, f"q-{notice.pk}") == ["quantity_withdrawn-error"]
    assert 'id="quantity_withdrawn-error" class="field-error">请填写下架数量。' in html


def test_a_recall_scope_too_wide_links_to_the_time_range(
    chain: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused as a whole (wider than the limit), the scope's problem is at the start of the time
    range that narrows it; a missing reason, at the reason's box, which the page shows again."""
    from civichub.traceability import selectors

    regulator = _client(chain.regulator)
    scope = {"kind": "farm", "farm": str(chain.farm.pk), "since": "", "until": ""}
    missing = regulator.post("/trace/recalls/scope/", scope | {"confirm": "1", "reason": ""})
    html = missing.content.decode()
    assert summary_targets(html) == ["s-reason"]
    assert described_by(html, "s-reason") == ["reason-error"]
    monkeypatch.setattr(selectors, "RECALL_SCOPE_MAX_CODES", 1)
    wide = regulator.post("/trace/recalls/scope/", scope | {"confirm": "1", "reason": "x"})
    html = wide.content.decode()
    assert summary_targets(html) == ["s-since"]
    assert described_by(html, "s-since") == ["since-error"]


def test_the_record_form_keeps_what_was_typed_and_links_each_problem(chain: Chain) -> None:
    keeper = _client(chain.keeper)
    typed = {
        "step": "receiving",
        "participant": chain.stall.pk,
        "trace_code": chain.other.trace_code,
        "quantity": "3",
        "residue_name": "克伦特罗",
        "residue_value": "阴性",
    }
    html = keeper.post("/trace/record/", typed).content.decode()
    assert summary_targets(html) == ["e-value"]
    assert described_by(html, "e-value") == ["e-value-error"]
    assert f'value="{chain.other.trace_code}"' in html and 'value="克伦特罗"' in html
    unknown = keeper.get("/trace/lookup/", {"code": "12345"}).content.decode()
    assert summary_targets(unknown) == ["t-code"]
    assert described_by(unknown, "t-code") == ["code-error"]
