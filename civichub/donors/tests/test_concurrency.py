"""Two requests at once never take the same donor: a wave that ranked donors before another
request took them skips them, and waves running in parallel connections (PostgreSQL) share
the donors out with none taken twice."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection, connections
from django.utils import timezone

from civichub.donors import services
from civichub.donors.models import ACTIVE_STATES, CallUp
from civichub.donors.selectors import patient_of, rank_candidates
from civichub.donors.services.calling import _take


@pytest.mark.django_db
def test_a_wave_that_ranked_donors_before_another_took_them_skips_them(
    make_donor: Any, make_request: Any
) -> None:
    donors = [make_donor(km=0.5 + i / 10) for i in range(3)]
    first, second = make_request(), make_request()
    now = timezone.now()
    stale = rank_candidates(
        component="red_cells",
        patient=patient_of(second),
        lat=second.latitude,
        lng=second.longitude,
        radius_km=5,
        now=now,
        limit=5,
    )
    assert {c.donor_id for c in stale} == {d.pk for d in donors}
    services.call_up_wave(request_id=first.pk, now=now)
    assert [_take(second, candidate, 1, now) for candidate in stale] == [None, None, None]
    assert CallUp.objects.filter(request=second).count() == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_waves_of_four_requests_share_the_donors_out(
    make_donor: Any, make_request: Any
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: SQLite has one writer at a time")
    donors = [make_donor(km=0.3 + i / 20) for i in range(12)]
    requests = [make_request(units=3) for _ in range(4)]
    start = threading.Barrier(len(requests))
    errors: list[BaseException] = []

    def wave(request_id: int) -> None:
        try:
            start.wait()
            services.call_up_wave(request_id=request_id)
        except BaseException as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=wave, args=(r.pk,)) for r in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    active = list(CallUp.objects.filter(state__in=ACTIVE_STATES).values_list("donor_id", flat=True))
    assert len(active) == len(set(active))
    assert set(active) <= {d.pk for d in donors}
    assert len(active) >= 12 - 1  # every donor was taken by one request or another
