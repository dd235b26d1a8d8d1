"""The people of the household simulator (`wellbeing_homes`): when one or two elderly residents
sleep, nap, go out and are up and about, what they use then, and what the incidents change.

Per person: a usual wake-up at 05:00-07:30 (one in seven a late riser, up at 07:30-09:00) and
bedtime at 20:30-23:00, each wobbling by about 25 minutes a day, up to half an hour later at
weekends; an afternoon nap on most days for three in five of them (59.3 % of Chinese people over 60
nap, CHARLS 2015: Xin et al., BMC Geriatrics 20:2, 2020; and the very old sleep long, 15.5 % ten
hours or more, CLHLS 2005: Gu et al., Sleep 33:601, 2010). Before going to bed, on most nights
(85-98 % per person), a bedtime routine in the last half hour up: the toilet and a wash (face,
teeth; for some a warm foot bath, a northern Chinese habit), the evening peak that residential
water end-use studies show before the night's lull (the routine's frequency is this simulator's
assumption). Per household: the morning market on 10-60 % of days, an afternoon walk or errand on
10-50 %, the clinic about twice a month for 2-6 hours (in a couple, one goes alone four times in
ten; nobody goes out asleep); children visiting on some weekends for 2-5 hours. On getting up: the
toilet and a wash. While somebody is up at home: toilet flushes (6 or 9 litres), taps (0.5-5 litres
at 2-8 litres a minute), the kettle, three meals on gas or induction with the washing-up, a shower
every one to three days, laundry, lamps after dark; the television and reading for long spells in
which little else happens (awake but idle). At night, asleep: toilet visits (0-2.5 a night, a
flush, a little water and a light for a few minutes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from civichub.testing.wellbeing_homes_appliances import Equipment, hot_water, washing_machine
from civichub.testing.wellbeing_homes_canvas import (
    BIN_MINUTES,
    BINS_PER_DAY,
    DAY_MINUTES,
    ELECTRICITY_WH,
    GAS_L,
    WATER_L,
    Array,
    Calendar,
    Canvas,
    at,
    daily,
    interval_mask,
)
from civichub.testing.wellbeing_homes_incidents import (
    FALL,
    LEAK,
    NIGHT,
    SHIFTED,
    STOVE,
    TRIP_MARKED,
    TRIP_UNMARKED,
    HomeIncident,
)
from civichub.wellbeing.detection import Bool, Float, Int


@dataclass(frozen=True)
class Habits:
    """Each person's usual day, drawn before the incidents are planned: (households, 2)."""

    wake: Float  # minutes after midnight
    bed: Float
    weekend_late: Float  # (households,)

    @classmethod
    def draw(cls, rng: np.random.Generator, households: int) -> Habits:
        late = rng.random(households) < 1 / 7
        wake = np.where(late, rng.uniform(450, 540, households), rng.uniform(300, 450, households))
        bed = rng.uniform(1230, 1380, households)
        return cls(
            wake=np.stack([wake, wake + rng.normal(0, 30, households)], axis=1),
            bed=np.stack([bed, bed + rng.normal(0, 30, households)], axis=1),
            weekend_late=rng.uniform(0, 30, households),
        )


@dataclass(frozen=True)
class Life:
    """Who is where, per five-minute bin (households, bins)."""

    active: Bool  # somebody up and about at home, able to use things
    asleep: Bool  # somebody asleep at home (and able to get up for the toilet)
    home: Bool  # somebody in the home, whatever their state
    away: Bool  # the household away for days
    tv: Bool  # a television spell (somebody watching: awake, idle)
    idle: Bool  # awake but idle: watching television or reading
    visit: Bool  # visitors in the home
    evening_active: Bool  # (households, days) somebody up the evening before
    rising: tuple[Array, Array]  # (household, minute) each time somebody gets up in the morning
    retiring: tuple[Array, Array]  # (household, minute) each time somebody goes to bed


def _person_intervals(
    rng: np.random.Generator,
    calendar: Calendar,
    habits: Habits,
    person: int,
    incidents: list[HomeIncident],
) -> tuple[Array, Array, Array, Array]:
    """(household, day, wake, bed) of one person's days, wake and bed in minutes from the start."""
    h = int(habits.wake.shape[0])
    hh, day = daily(h, calendar.days)
    weekend = calendar.weekday[day] >= 5
    base = day * DAY_MINUTES
    wake = habits.wake[hh, person] + weekend * habits.weekend_late[hh] + rng.normal(0, 25, hh.size)
    if person == 0:
        for incident in incidents:
            if incident.kind == SHIFTED:
                row = incident.household * calendar.days + int(incident.start_minute // DAY_MINUTES)
                wake[row] = incident.end_minute - base[row]
    bed = habits.bed[hh, person] + rng.normal(0, 25, hh.size)
    return hh, day, base + wake, base + bed


def life(
    rng: np.random.Generator,
    calendar: Calendar,
    eq: Equipment,
    habits: Habits,
    incidents: list[HomeIncident],
) -> Life:
    h, n = int(eq.two_person.shape[0]), calendar.bins
    hh, day = daily(h, calendar.days)
    base = day * DAY_MINUTES
    outings = _outings(rng, calendar, eq, hh, base)
    active = np.zeros((h, n), dtype=bool)
    asleep = np.zeros((h, n), dtype=bool)
    home = np.zeros((h, n), dtype=bool)
    risers, rising, sleepers, retiring = [], [], [], []
    for person in (0, 1):
        ph, _, wake, bed = _person_intervals(rng, calendar, habits, person, incidents)
        there = (person == 0) | eq.two_person[ph]
        risers.append(ph[there])
        rising.append(wake[there])
        sleepers.append(ph[there])
        retiring.append(bed[there])
        awake = interval_mask(h, n, ph[there], wake[there], bed[there])
        napper = rng.random(h) < 0.6
        naps = napper[ph] & (rng.random(ph.size) < 0.7) & there
        nap_start = base + 13 * 60 + rng.uniform(0, 90, ph.size)
        nap = interval_mask(
            h, n, ph[naps], nap_start[naps], nap_start[naps] + rng.uniform(30, 90, naps.sum())
        )
        out_h, out_start, out_end = outings[person]
        up = at(awake, out_h, out_start)  # nobody goes to the market in their sleep
        out = interval_mask(h, n, out_h[up], out_start[up], out_end[up])
        present = np.zeros(h, dtype=bool)
        present[ph[there]] = True
        in_home = ~out & present[:, None]
        active |= awake & ~nap & in_home
        asleep |= ~awake & in_home
        home |= in_home
    blocked = np.zeros((h, n), dtype=bool)
    away = np.zeros((h, n), dtype=bool)
    confused = np.zeros((h, n), dtype=bool)
    for kind, grid in (
        (FALL, blocked),
        (TRIP_MARKED, away),
        (TRIP_UNMARKED, away),
        (NIGHT, confused),
    ):
        chosen = [i for i in incidents if i.kind == kind]
        if chosen:
            grid |= interval_mask(
                h,
                n,
                np.array([i.household for i in chosen]),
                np.array([i.start_minute for i in chosen]),
                np.array([i.end_minute for i in chosen]),
            )
    active = (active & ~blocked & ~away) | confused
    asleep &= ~blocked & ~away & ~confused
    home = (home | blocked) & ~away
    tv = _television(rng, calendar, habits, h, n) & active
    reads = rng.random(hh.size) < rng.uniform(0.2, 0.6, h)[hh]
    start = day * DAY_MINUTES + rng.uniform(9.5, 16, hh.size) * 60
    end = start + rng.uniform(30, 120, hh.size)
    idle = (tv | interval_mask(h, n, hh[reads], start[reads], end[reads])) & active
    visit = _visitors(rng, calendar, h, n, active)
    evening = np.any(active.reshape(h, calendar.days, BINS_PER_DAY)[:, :, 14 * 12 :], axis=2)
    evening_active = np.concatenate([np.ones((h, 1), dtype=bool), evening[:, :-1]], axis=1)
    return Life(
        active,
        asleep,
        home,
        away,
        tv,
        idle,
        visit,
        evening_active,
        (np.concatenate(risers), np.concatenate(rising)),
        (np.concatenate(sleepers), np.concatenate(retiring)),
    )


def _outings(
    rng: np.random.Generator, calendar: Calendar, eq: Equipment, hh: Array, base: Array
) -> list[tuple[Int, Float, Float]]:
    """(household, start, end) of each person's time out: market, walks, the clinic."""
    h = int(eq.two_person.shape[0])
    households, starts, ends, owners = [], [], [], []
    for chance, at_hour, spread, length in (
        (rng.uniform(0.1, 0.6, h), 7.5, (0, 120), (60, 150)),  # the morning market
        (rng.uniform(0.1, 0.5, h), 14.5, (0, 120), (60, 180)),  # a walk, an errand
        (np.full(h, 1 / 15), 8.0, (0, 60), (120, 360)),  # the clinic
    ):
        on = rng.random(hh.size) < chance[hh]
        start = base + at_hour * 60 + rng.uniform(spread[0], spread[1], hh.size)
        households.append(hh[on])
        starts.append(start[on])
        ends.append((start + rng.uniform(length[0], length[1], hh.size))[on])
        # In a couple both go together, or one of the two alone.
        together = rng.random(int(on.sum())) < 0.6
        who = rng.integers(0, 2, int(on.sum()))
        owners.append(np.where(together | ~eq.two_person[hh[on]], -1, who))
    household = np.concatenate(households)
    start, end, owner = np.concatenate(starts), np.concatenate(ends), np.concatenate(owners)
    result = []
    for person in (0, 1):
        mine = (owner == -1) | (owner == person)
        result.append((household[mine], start[mine], end[mine]))
    return result


def _television(
    rng: np.random.Generator, calendar: Calendar, habits: Habits, h: int, n: int
) -> Bool:
    """Television spells: most evenings until bedtime, some afternoons and mornings."""
    hh, day = daily(h, calendar.days)
    base = day * DAY_MINUTES
    households, starts, ends = [], [], []
    evening_end = base + habits.bed[hh, 0] - rng.uniform(0, 30, hh.size)
    for chance, at_hour, spread, end in (
        (rng.uniform(0.4, 0.9, h), 19.0, 60.0, evening_end),
        (rng.uniform(0.1, 0.4, h), 14.0, 60.0, None),
        (rng.uniform(0.0, 0.3, h), 8.5, 30.0, None),
    ):
        on = rng.random(hh.size) < chance[hh]
        start = base + at_hour * 60 + rng.uniform(0, spread, hh.size)
        stop = start + rng.uniform(60, 180, hh.size) if end is None else end
        households.append(hh[on])
        starts.append(start[on])
        ends.append(stop[on])
    return interval_mask(
        h, n, np.concatenate(households), np.concatenate(starts), np.concatenate(ends)
    )


def _visitors(rng: np.random.Generator, calendar: Calendar, h: int, n: int, active: Bool) -> Bool:
    """Children visiting on some weekend days, for lunch or dinner, 2-5 hours."""
    hh, day = daily(h, calendar.days)
    chance = rng.uniform(0.0, 0.4, h)
    start = day * DAY_MINUTES + rng.choice([11.0, 17.0], hh.size) * 60 + rng.normal(0, 45, hh.size)
    on = (calendar.weekday[day] >= 5) & (rng.random(hh.size) < chance[hh]) & at(active, hh, start)
    return (
        interval_mask(h, n, hh[on], start[on], (start + rng.uniform(120, 300, hh.size))[on])
        & active
    )


def _events(rng: np.random.Generator, chance: Float) -> tuple[Int, Float]:
    """(household, minute) of events happening in each bin with probability `chance`."""
    hh, b = np.nonzero(rng.random(chance.shape) < chance)
    return hh, b * BIN_MINUTES + rng.uniform(0, BIN_MINUTES, hh.size)


def person_use(
    rng: np.random.Generator,
    calendar: Calendar,
    eq: Equipment,
    habits: Habits,
    living: Life,
    canvas: Canvas,
) -> None:
    """Everything the residents (and visitors) use."""
    h = int(eq.two_person.shape[0])
    people = np.where(eq.two_person, 1.6, 1.0)[:, None]
    # Watching television or reading, little else happens.
    busy = np.where(living.idle, 0.3, 1.0) * living.active * people + living.visit
    _flushes(canvas, eq, *_events(rng, busy * (BIN_MINUTES / 120)))
    _taps(rng, canvas, eq, *_events(rng, busy * (BIN_MINUTES / 60)), (0.5, 5.0))
    hh, start = _events(rng, busy * (BIN_MINUTES / 360))
    canvas.box(
        ELECTRICITY_WH,
        hh,
        start,
        start + rng.uniform(3, 5, hh.size),
        rng.uniform(1500, 2200, hh.size) / 60,
    )
    # Getting up: the toilet and a wash within minutes (unless the day starts elsewhere).
    hh, start = living.rising
    start = start + rng.uniform(1, 10, hh.size)
    up = at(living.active, hh, start)
    _flushes(canvas, eq, hh[up], start[up])
    _taps(rng, canvas, eq, hh[up], start[up] + 2, (2.0, 8.0))
    _bedtime(rng, canvas, eq, living)
    # Toilet visits at night: a flush, a little water, a light for a few minutes.
    nightly = rng.uniform(0, 2.5, h)[:, None] * people
    hh, start = _events(rng, living.asleep * nightly / (8 * 60 / BIN_MINUTES))
    _flushes(canvas, eq, hh, start + 3)
    _taps(rng, canvas, eq, hh, start + 4, (0.3, 1.0))
    canvas.box(
        ELECTRICITY_WH,
        hh,
        start,
        start + rng.uniform(3, 8, hh.size),
        rng.uniform(10, 40, hh.size) / 60,
    )
    lamps = rng.uniform(15, 60, h)[:, None] * people
    canvas.power(
        lamps * (living.active & calendar.dark[None, :])
        + 20.0 * living.visit * calendar.dark[None, :]
    )
    canvas.power(rng.uniform(60, 150, h)[:, None] * living.tv)
    _meals(rng, calendar, eq, habits, living, canvas)
    _showers(rng, calendar, eq, habits, living, canvas)
    hh, day = daily(h, calendar.days)
    start = day * DAY_MINUTES + 9 * 60 + rng.normal(0, 60, hh.size)
    laundry = (rng.random(hh.size) < rng.uniform(0.1, 0.35, h)[hh]) & at(living.active, hh, start)
    washing_machine(rng, canvas, hh[laundry], start[laundry])


def _bedtime(rng: np.random.Generator, canvas: Canvas, eq: Equipment, living: Life) -> None:
    """The bedtime routine in the last half hour up: the toilet and a wash on most nights, a
    warm foot bath in some households (unless the person is not at home and up then)."""
    h = int(eq.two_person.shape[0])
    habit = rng.uniform(0.85, 0.98, h)
    foot_bath = rng.uniform(0.0, 0.6, h) * (rng.random(h) < 0.5)
    hh, bed = living.retiring
    start = bed - rng.uniform(5, 30, hh.size)
    on = (rng.random(hh.size) < habit[hh]) & at(living.active, hh, start)
    hh, start = hh[on], start[on]
    _flushes(canvas, eq, hh, start)
    _taps(rng, canvas, eq, hh, start + 2, (1.0, 4.0))
    bath = rng.random(hh.size) < foot_bath[hh]
    feet, at_ = hh[bath], start[bath] + 4
    end = at_ + rng.uniform(0.5, 1.0, feet.size)
    litres = rng.uniform(3, 6, feet.size)
    canvas.box(WATER_L, feet, at_, end, litres / (end - at_))
    hot_water(canvas, eq, feet, at_, end, 0.6 * litres / (end - at_))


def _flushes(canvas: Canvas, eq: Equipment, hh: Array, start: Array) -> None:
    canvas.box(WATER_L, hh, start, start + 1, eq.cistern_litres[hh])


def _taps(
    rng: np.random.Generator,
    canvas: Canvas,
    eq: Equipment,
    hh: Int,
    start: Float,
    litres: tuple[float, float],
) -> None:
    """Water drawn at a tap at 2-8 litres a minute; three draws in ten are warm."""
    per_minute = rng.uniform(2, 8, hh.size)
    end = start + rng.uniform(litres[0], litres[1], hh.size) / per_minute
    canvas.box(WATER_L, hh, start, end, per_minute)
    hot = rng.random(hh.size) < 0.3
    hot_water(canvas, eq, hh[hot], start[hot], end[hot], 0.6 * per_minute[hot])


def _meals(
    rng: np.random.Generator,
    calendar: Calendar,
    eq: Equipment,
    habits: Habits,
    living: Life,
    canvas: Canvas,
) -> None:
    """Breakfast, lunch and dinner, each cooked on most days when somebody is up, then washed up;
    rice in the cooker for half of the lunches and dinners."""
    hh, day = daily(int(eq.two_person.shape[0]), calendar.days)
    base = day * DAY_MINUTES
    for meal, when in enumerate(
        (
            habits.wake[hh, 0] + rng.uniform(30, 60, hh.size),
            690 + rng.normal(0, 20, hh.size),
            1050 + rng.normal(0, 30, hh.size),
        )
    ):
        start = base + when
        on = (rng.random(hh.size) < 0.85) & at(living.active, hh, start)
        who, s = hh[on], start[on]
        end = s + rng.uniform(10, 40, who.size)
        gas = eq.cooks_on_gas[who]
        canvas.box(GAS_L, who[gas], s[gas], end[gas], rng.uniform(2.5, 5, int(gas.sum())))
        canvas.box(
            ELECTRICITY_WH,
            who[~gas],
            s[~gas],
            end[~gas],
            rng.uniform(1200, 2000, int((~gas).sum())) / 60,
        )
        if meal:
            rice = rng.random(who.size) < 0.5
            canvas.box(ELECTRICITY_WH, who[rice], s[rice] - 30, s[rice] + 5, 700 / 60)
        wash = end + rng.uniform(5, 20, who.size)
        _taps(rng, canvas, eq, who, wash, (8, 20))


def _showers(
    rng: np.random.Generator,
    calendar: Calendar,
    eq: Equipment,
    habits: Habits,
    living: Life,
    canvas: Canvas,
) -> None:
    """A shower every one to three days per person, more often in summer; evenings for most."""
    h = int(eq.two_person.shape[0])
    hh, day = daily(h, calendar.days)
    base = day * DAY_MINUTES
    evening = rng.random(h) < 0.7
    frequency = rng.uniform(0.35, 0.8, h)
    summer = np.clip((calendar.daily_mean_c - 18) / 10, 0, 1)
    for person in (0, 1):
        chance = np.minimum(frequency[hh] * (1 + 0.5 * summer[day]), 1.0)
        on = (rng.random(hh.size) < chance) & ((person == 0) | eq.two_person[hh])
        when = np.where(
            evening[hh],
            19 * 60 + rng.uniform(0, 120, hh.size),
            habits.wake[hh, person] + rng.uniform(10, 40, hh.size),
        )
        start = base + when + 15 * person
        on &= at(living.active, hh, start)
        h_, s = hh[on], start[on]
        end = s + rng.uniform(5, 12, h_.size)
        per_minute = rng.uniform(6, 9, h_.size)
        canvas.box(WATER_L, h_, s, end, per_minute)
        hot_water(canvas, eq, h_, s, end, 0.6 * per_minute)


def incident_use(
    rng: np.random.Generator,
    calendar: Calendar,
    incidents: list[HomeIncident],
    water_resolution: Float,
    canvas: Canvas,
) -> None:
    """What incidents add: a leak's water in every half hour, a stove's gas, and during some
    falls a lamp, the television or an electric heater left on until help comes."""
    for incident in incidents:
        i, a, b = incident.household, incident.start_minute, incident.end_minute
        one = np.array([i])
        if incident.kind == LEAK:
            # At least one register step every half hour, so every half hour shows water.
            litres = float(rng.uniform(max(2.0, water_resolution[i]), 40.0))
            incident.detail["litres_per_half_hour"] = litres
            canvas.box(WATER_L, one, np.array([a]), np.array([b]), litres / 30)
        elif incident.kind == STOVE:
            rate = float(incident.detail["gas_l_per_minute"])  # type: ignore[arg-type]
            canvas.box(GAS_L, one, np.array([a]), np.array([b]), rate)
        elif incident.kind == FALL:
            bin_ = min(int(a // BIN_MINUTES), calendar.bins - 1)
            day = int(calendar.day[bin_])
            cold = calendar.daily_mean_c[day] < 10
            draw = rng.random()
            if calendar.dark[bin_] and draw < 0.35:
                left, watts = "lamp", rng.uniform(15, 60)
            elif 0.35 <= draw < 0.5:
                left, watts = "tv", rng.uniform(60, 150)
            elif cold and 0.5 <= draw < 0.65:
                left, watts = "heater", rng.uniform(800, 2000)
            else:
                continue
            incident.detail["left_on"] = left
            canvas.box(ELECTRICITY_WH, one, np.array([a]), np.array([b]), watts / 60)
