"""What the donors' maps show, on the platform's base map (`core.maps`): the requests on the
board at their hospital, and on a request's page the hospital with the areas its donors were
called from. A donor is never placed by an address or a point: only by the coarse search cell
of the registry (an H3 cell of about 5 km²), counted with the others in it, so that a marker
says "donors in this area" and never "this donor lives here". Without JavaScript the tables
beside the maps say the same."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import h3
from django.urls import reverse
from django.utils.translation import gettext as _

from civichub.core.maps import MapPoint, map_point
from civichub.core.models import User
from civichub.core.permissions import require
from civichub.donors.models import BloodRequest, CallUpState, RequestStatus
from civichub.donors.selectors.ranking import settings_

# The call-ups a request's map shows: donors called and not yet answered, and those who
# said yes (declined, no-show and stood-down donors are no longer part of the request).
MAPPED_STATES = (
    CallUpState.CALLED,
    CallUpState.ACCEPTED,
    CallUpState.ARRIVED,
    CallUpState.DONATED,
)
# The state an area's marker takes when its donors differ: the furthest along.
_PROGRESS = {state: n for n, state in enumerate(MAPPED_STATES)}
# Marker shapes in a 24 × 24 box, so that a state is told by its shape as well as its colour:
# the hospital a cross, called donors a circle, accepted a triangle, arrived or donated a square.
_CROSS = "M9,3h6v6h6v6h-6v6h-6v-6h-6v-6h6z"
_SHAPES = {
    CallUpState.CALLED: "M5,12a7,7 0 1,0 14,0a7,7 0 1,0 -14,0z",
    CallUpState.ACCEPTED: "M12,3L21,19H3z",
    CallUpState.ARRIVED: "M5,5h14v14h-14z",
    CallUpState.DONATED: "M5,5h14v14h-14z",
}


def hospital_point(blood_request: BloodRequest, url: str = "") -> MapPoint:
    """Where the request's donors go (the hospital's or blood centre's site): a public
    place, on the map as a cross."""
    label = _("%(hospital)s（献血地点）· 需求 #%(pk)s · %(status)s") % {
        "hospital": blood_request.hospital.name,
        "pk": blood_request.pk,
        "status": RequestStatus(blood_request.status).label,
    }
    return map_point(
        blood_request.latitude,
        blood_request.longitude,
        label,
        url,
        shape=_CROSS,
        kind="donors-marker donors-hospital",
    )


def board_map_points(requests: Iterable[BloodRequest]) -> list[MapPoint]:
    """The board's requests at their hospital, each leading to its page (the request's
    place is the hospital's; no donor is on this map)."""
    return [hospital_point(item, reverse("donors:request", args=[item.pk])) for item in requests]


def request_map_points(*, actor: User, blood_request: BloodRequest) -> list[MapPoint]:
    """The hospital, then one marker per coarse area its called and accepting donors are in
    (the centre of their search cell), named by how many donors there are in each state and
    shaped by the furthest along. A donor without a place (the location consent withdrawn)
    is not on the map."""
    require(actor, "donors.request.view", blood_request)
    by_cell: dict[str, Counter[str]] = {}
    rows = blood_request.call_ups.filter(
        state__in=MAPPED_STATES,
        donor__location_consent_at__isnull=False,
        donor__location_revoked_at__isnull=True,
    ).values_list("donor__search_cell", "state")
    for cell, state in rows:
        if cell:
            by_cell.setdefault(cell, Counter())[state] += 1
    area = h3.average_hexagon_area(settings_().search_resolution, "km^2")
    points = [hospital_point(blood_request)]
    for cell in sorted(by_cell):
        counts = by_cell[cell]
        furthest = max(counts, key=lambda s: _PROGRESS[CallUpState(s)])
        states = " · ".join(
            f"{CallUpState(s).label} {counts[s]}" for s in MAPPED_STATES if counts.get(s)
        )
        label = _("献血者所在区域（约 %(area)s 平方公里，不是住址）：%(states)s") % {
            "area": f"{area:.0f}",
            "states": states,
        }
        lat, lng = h3.cell_to_latlng(cell)
        points.append(
            map_point(
                lat,
                lng,
                label,
                shape=_SHAPES[CallUpState(furthest)],
                kind=f"donors-marker donors-state-{furthest}",
            )
        )
    return points
