"""The operator command: register the sources and import a file with a rejects file."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import call_command

from civichub.datahub.models import Source
from civichub.datahub.tests.conftest import LI_NA, POLICE_HEADER, Hub, csv_bytes, police_row

pytestmark = pytest.mark.django_db


def test_an_operator_imports_a_file_and_gets_the_rejects(hub: Hub, tmp_path: Path) -> None:
    out = io.StringIO()
    call_command("datahub", "sync", hub.city.city.code, stdout=out)
    assert "public_security" in out.getvalue() and Source.objects.count() == 5
    delivery = tmp_path / "hukou.csv"
    delivery.write_bytes(
        csv_bytes(
            POLICE_HEADER,
            [
                police_row("P1", "李娜", LI_NA, "1992-03-15", "女"),
                police_row("P2", "王芳", "", "1990-02-30", "女"),
            ],
        )
    )
    rejects = tmp_path / "rejects.csv"
    out = io.StringIO()
    call_command(
        "datahub", "import", "public_security", str(delivery), "--rejects", str(rejects), stdout=out
    )
    assert "1 accepted, 1 refused" in out.getvalue()
    assert rejects.read_text().splitlines() == ["row_number,code,field", "2,date_invalid,csrq"]
