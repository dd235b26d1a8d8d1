"""The blood centre's file: good rows stored as tested groups, bad rows rejected with their
number and a stable code (nothing of them stored), duplicates by identity number merged, a
second run of the same file changing nothing; CSV and Excel; the page and the command."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.urls import reverse
from openpyxl import Workbook

from civichub.core import crypto
from civichub.core.errors import PermissionDenied
from civichub.core.identity import check_digit
from civichub.core.models import AuditEvent
from civichub.donors import services
from civichub.donors.models import Donor, GroupSource

HEADER = [
    "identity_number",
    "name",
    "phone",
    "community",
    "sex",
    "birth_date",
    "weight_kg",
    "abo",
    "rhd",
    "phenotype",
    "health_consent",
    "location_consent",
    "latitude",
    "longitude",
    "crs",
]


def identity(n: int) -> str:
    first17 = f"11010519800101{n:03d}"
    return first17 + check_digit(first17)


def good(n: int, **changes: Any) -> dict[str, Any]:
    row = {
        "identity_number": identity(n),
        "name": f"献血者{n}",
        "phone": f"1390000{n:04d}",
        "community": "T1.1.1.1",
        "sex": "男" if n % 2 else "female",
        "birth_date": "1990-05-01",
        "weight_kg": "62",
        "abo": "O",
        "rhd": "阴性" if n == 2 else "pos",
        "phenotype": "K-;Fy(a)+" if n == 1 else "",
        "health_consent": "是",
        "location_consent": "yes",
        "latitude": "30.66",
        "longitude": "104.07",
        "crs": "wgs84",
    }
    row.update(changes)
    return row


def as_csv(rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=HEADER)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8-sig")


BAD_ROWS = [
    (good(10, abo="C"), "bad_abo", "abo"),
    (good(11, rhd="maybe"), "bad_rhd", "rhd"),
    (good(12, birth_date="2090-01-01"), "bad_birth_date", "birth_date"),
    (good(13, weight_kg="10"), "bad_weight", "weight_kg"),
    (good(14, weight_kg="heavy"), "bad_number", "weight_kg"),
    (good(15, birth_date="1990-02-30"), "bad_date", "birth_date"),
    (good(16, identity_number="110105198001010161"), "bad_identity_number", "identity_number"),
    (good(17, identity_number=""), "missing", "identity_number"),
    (good(18, community="NOPE"), "unknown_community", "community"),
    (good(19, health_consent="否"), "no_health_consent", "health_consent"),
    (good(20, phenotype="Q+"), "bad_phenotype", "phenotype"),
    (good(21, latitude="95"), "bad_location", "location"),
    (good(22, sex="x"), "bad_sex", "sex"),
    (good(23, health_consent="perhaps"), "bad_flag", "health_consent"),
    (good(1, name="重复"), "duplicate_in_file", "identity_number"),
]


@pytest.mark.django_db
def test_good_rows_are_stored_as_tested_groups_and_bad_rows_rejected_with_codes(
    city: Any, staff: dict[str, Any]
) -> None:
    rows = [good(1), good(2), *(row for row, _code, _column in BAD_ROWS)]
    result = services.donor_import(
        actor=staff["centre"], filename="centre.csv", content=as_csv(rows)
    )
    assert (result.created, result.merged, result.unchanged) == (2, 0, 0)
    got = [(r.row, r.code, r.column) for r in result.rejects]
    assert got == [(n + 3, code, column) for n, (_row, code, column) in enumerate(BAD_ROWS)]
    assert all(r.message for r in result.rejects)
    # Nothing of a rejected row is stored.
    assert Donor.objects.count() == 2
    first = Donor.objects.get(identity_hash=crypto.identity_lookup_hash(identity(1)))
    assert first.group_source == GroupSource.CENTRE
    assert first.phenotype == {"K": "-", "Fya": "+"}
    assert first.health_consent and first.location_consent
    assert first.identity_encrypted is not None
    assert identity(1).encode() not in bytes(first.identity_encrypted)
    assert crypto.decrypt_identity(first.identity_encrypted) == identity(1)
    second = Donor.objects.get(identity_hash=crypto.identity_lookup_hash(identity(2)))
    assert (second.abo, second.rhd, second.sex) == ("O", "neg", "female")
    report = list(csv.reader(io.StringIO(result.rejects_csv())))
    assert report[0] == ["row", "code", "column", "message"]
    assert report[1][:3] == ["3", "bad_abo", "abo"]
    assert AuditEvent.objects.filter(action="donors.donor.import").count() == 1


@pytest.mark.django_db
def test_a_second_run_changes_nothing_and_a_changed_row_merges(
    city: Any, staff: dict[str, Any]
) -> None:
    content = as_csv([good(1), good(2)])
    services.donor_import(actor=staff["centre"], filename="a.csv", content=content)
    before = list(Donor.objects.order_by("pk").values())
    audits = AuditEvent.objects.filter(action__startswith="donors.donor.").count()
    again = services.donor_import(actor=staff["centre"], filename="a.csv", content=content)
    assert (again.created, again.merged, again.unchanged, again.rejects) == (0, 0, 2, [])
    assert list(Donor.objects.order_by("pk").values()) == before
    # Only the import itself is recorded again, no donor.
    assert AuditEvent.objects.filter(action__startswith="donors.donor.").count() == audits + 1
    changed = services.donor_import(
        actor=staff["centre"], filename="b.csv", content=as_csv([good(1, weight_kg="70")])
    )
    assert (changed.created, changed.merged, changed.unchanged) == (0, 1, 0)
    assert Donor.objects.count() == 2
    donor = Donor.objects.get(identity_hash=crypto.identity_lookup_hash(identity(1)))
    assert donor.weight_kg == 70.0


@pytest.mark.django_db
def test_an_import_merges_into_a_self_registered_donor_and_verifies_the_group(
    city: Any, staff: dict[str, Any], make_donor: Any
) -> None:
    declared = make_donor("A", "pos", identity_number=identity(1), verified=False)
    assert declared.group_source == GroupSource.SELF
    result = services.donor_import(
        actor=staff["centre"], filename="c.csv", content=as_csv([good(1)])
    )
    assert result.merged == 1
    declared.refresh_from_db()
    assert (declared.abo, declared.group_source) == ("O", GroupSource.CENTRE)
    assert Donor.objects.count() == 1


@pytest.mark.django_db
def test_an_excel_file_is_read_like_a_csv(city: Any, staff: dict[str, Any]) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["身份证号", "姓名", "手机", "社区", "性别", "出生日期", "体重", "ABO", "RhD"])
    sheet.append([identity(5), "甲", "13900000005", "T1.1.1.1", "男", "1990-05-01", 60, "B"])
    sheet.append([identity(6), "乙", "13900000006", "T1.1.1.1", "女", "1991-05-01", 55, "AB", "-"])
    out = io.BytesIO()
    book.save(out)
    result = services.donor_import(
        actor=staff["centre"], filename="centre.xlsx", content=out.getvalue()
    )
    # The first has no RhD; the second has no health consent column: not stored.
    assert [(r.row, r.code) for r in result.rejects] == [(1, "missing"), (2, "no_health_consent")]
    assert result.created == 0


@pytest.mark.django_db
def test_a_file_that_is_not_utf8_or_no_workbook_is_refused_whole(
    city: Any, staff: dict[str, Any]
) -> None:
    with pytest.raises(services.ImportUnreadable):
        services.donor_import(
            actor=staff["centre"], filename="x.csv", content="姓名".encode("gb18030")
        )
    with pytest.raises(services.ImportUnreadable):
        services.donor_import(actor=staff["centre"], filename="x.xlsx", content=b"not a book")


@pytest.mark.django_db
def test_hospital_staff_may_not_import(city: Any, staff: dict[str, Any]) -> None:
    with pytest.raises(PermissionDenied):
        services.donor_import(actor=staff["hospital"], filename="a.csv", content=as_csv([good(1)]))
    assert Donor.objects.count() == 0


@pytest.mark.django_db
def test_the_command_imports_and_writes_the_rejects_report(
    city: Any, tmp_path: Path, capsys: Any
) -> None:
    source = tmp_path / "centre.csv"
    source.write_bytes(as_csv([good(1), good(2, community=""), good(10, abo="C")]))
    report = tmp_path / "rejects.csv"
    call_command(
        "donors", "import", str(source), "--community", "T1.1.1.2", "--rejects", str(report)
    )
    out = capsys.readouterr().out
    assert "created: 2" in out and "rejected: 1" in out
    assert list(csv.reader(report.open(encoding="utf-8")))[1][:2] == ["3", "bad_abo"]
    donor = Donor.objects.get(identity_hash=crypto.identity_lookup_hash(identity(2)))
    assert donor.community.code == "T1.1.1.2"


@pytest.mark.django_db
def test_the_import_page_shows_counts_and_rejected_rows(
    city: Any, staff: dict[str, Any], client: Any
) -> None:
    client.force_login(staff["centre"])
    page = client.get(reverse("donors:import"))
    assert page.status_code == 200
    upload = io.BytesIO(as_csv([good(1), good(10, abo="C")]))
    upload.name = "centre.csv"
    response = client.post(reverse("donors:import"), {"file": upload})
    assert response.status_code == 200
    text = response.content.decode()
    assert "bad_abo" in text and "rejects.csv" in text
    assert Donor.objects.count() == 1
