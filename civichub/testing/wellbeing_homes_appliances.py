"""What a household owns and the appliances that run by themselves, for the household simulator
(`wellbeing_homes`): fridges and freezers cycling, electric water heaters reheating (some on a
night-rate timer), wall-hung gas boilers, electric heating and heat pumps on thermostats in the
heating season, summer air conditioning, routers and standby, washing machines and rice
cookers on timers, leaking toilet cisterns and water purifiers flushing themselves.

None of them asks whether anybody is awake: they run through the night, during a fall and
during a stay away (a fridge keeps cycling; a thermostat holds a lower setting while nobody is
home). Figures are typical of Chinese households: compressor fridges of 50-150 W running 10-40
minutes every 30-90 minutes, storage water heaters of 1.5-3 kW, wall-hung boilers of 10-24 kW
(natural gas at about 10 kWh per m³).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from civichub.testing.wellbeing_homes_canvas import (
    BIN_MINUTES,
    DAY_MINUTES,
    ELECTRICITY_WH,
    GAS_L,
    WATER_L,
    Calendar,
    Canvas,
    at,
    cycles,
    daily,
)
from civichub.wellbeing.detection import Bool, Float, Int

# Hot water sources.
NO_HEATER, ELECTRIC_HEATER, GAS_HEATER, COMBI_BOILER = 0, 1, 2, 3
HOT_WATER = ("solar or none", "electric storage", "gas instantaneous", "combination boiler")
# Space heating.
DISTRICT, GAS_BOILER, ELECTRIC_HEATING, HEAT_PUMP = 0, 1, 2, 3
HEATING = ("district", "gas boiler", "electric", "heat pump")
# Heating one litre of water by 35 °C takes 0.041 kWh; an instantaneous gas heater burns about
# four litres of natural gas per litre of hot water.
WH_PER_HOT_LITRE = 41.0
GAS_L_PER_HOT_LITRE = 4.0
IGNITION = 2.5  # litres of hot water a minute


@dataclass(frozen=True)
class Equipment:
    """What each household has, (households,) each."""

    two_person: Bool
    gas: Bool  # a gas supply (and so a gas meter)
    cooks_on_gas: Bool
    hot_water: Int
    heater_watts: Float
    heater_timer: Bool  # an electric storage heater heating at the night rate only
    heating: Int
    heating_official: Bool  # heats in the official season, not by the weather
    air_conditioning: Bool
    fridge: Bool
    freezer: Bool
    washer_timer: Bool
    rice_timer: Bool
    cistern_litres: Float  # 6 or 9 litres a flush
    cistern_leak: Float  # litres per half hour leaking into the bowl, 0 for most
    purifier: Bool  # a reverse-osmosis purifier that flushes itself

    @classmethod
    def draw(cls, rng: np.random.Generator, households: int) -> Equipment:
        h = households
        gas = rng.random(h) < 0.75
        hot = rng.choice(4, h, p=[0.2, 0.45, 0.25, 0.1])
        hot = np.where(~gas & (hot >= GAS_HEATER), ELECTRIC_HEATER, hot)
        heating = rng.choice(4, h, p=[0.45, 0.25, 0.12, 0.18])
        heating = np.where(~gas & (heating == GAS_BOILER), HEAT_PUMP, heating)
        hot = np.where(heating == GAS_BOILER, np.where(rng.random(h) < 0.7, COMBI_BOILER, hot), hot)
        hot = np.where((hot == COMBI_BOILER) & (heating != GAS_BOILER), GAS_HEATER, hot)
        return cls(
            two_person=rng.random(h) < 0.45,
            gas=gas,
            cooks_on_gas=gas & (rng.random(h) < 0.85),
            hot_water=hot,
            heater_watts=rng.uniform(1500, 3000, h),
            heater_timer=(hot == ELECTRIC_HEATER) & (rng.random(h) < 0.25),
            heating=heating,
            heating_official=rng.random(h) < 0.5,
            air_conditioning=rng.random(h) < 0.65,
            fridge=rng.random(h) < 0.97,
            freezer=rng.random(h) < 0.2,
            washer_timer=rng.random(h) < 0.2,
            rice_timer=rng.random(h) < 0.25,
            cistern_litres=np.where(rng.random(h) < 0.6, 6.0, 9.0),
            cistern_leak=np.where(rng.random(h) < 0.06, rng.uniform(0.2, 3.0, h), 0.0),
            purifier=rng.random(h) < 0.12,
        )

    def names(self, household: int) -> dict[str, object]:
        i = household
        return {
            "two_person": bool(self.two_person[i]),
            "gas": bool(self.gas[i]),
            "cooks_on_gas": bool(self.cooks_on_gas[i]),
            "hot_water": HOT_WATER[int(self.hot_water[i])],
            "heater_timer": bool(self.heater_timer[i]),
            "heating": HEATING[int(self.heating[i])],
            "heating_official": bool(self.heating_official[i]),
            "air_conditioning": bool(self.air_conditioning[i]),
            "fridge": bool(self.fridge[i]),
            "freezer": bool(self.freezer[i]),
            "washer_timer": bool(self.washer_timer[i]),
            "rice_timer": bool(self.rice_timer[i]),
            "cistern_leak_l_per_half_hour": float(self.cistern_leak[i]),
            "purifier": bool(self.purifier[i]),
        }


def hot_water(
    canvas: Canvas, eq: Equipment, household: Int, start: Float, end: Float, hot_per_minute: Float
) -> None:
    """Heating for hot water drawn from `start` to `end`: gas at once from an instantaneous
    heater or a combination boiler; an electric storage heater reheats after the draw (a
    night-rate one reheats at 23:00, see `appliances`). A gas burner lights only for a flow of
    at least 2.5 litres a minute (a trickle to rinse a cup stays cold)."""
    source = eq.hot_water[household]
    burner = ((source == GAS_HEATER) | (source == COMBI_BOILER)) & (hot_per_minute >= IGNITION)
    canvas.box(
        GAS_L,
        household[burner],
        start[burner],
        end[burner],
        hot_per_minute[burner] * GAS_L_PER_HOT_LITRE,
    )
    electric = (source == ELECTRIC_HEATER) & ~eq.heater_timer[household]
    h = household[electric]
    watts = eq.heater_watts[h]
    litres = (hot_per_minute * (end - start))[electric]
    minutes = litres * WH_PER_HOT_LITRE / watts * 60
    canvas.box(ELECTRICITY_WH, h, end[electric], end[electric] + minutes, watts / 60)


def appliances(
    rng: np.random.Generator,
    calendar: Calendar,
    eq: Equipment,
    canvas: Canvas,
    home: Bool,
    away: Bool,
    evening_active: Bool,
) -> None:
    """Draw every automatic appliance. `home` (households, bins): somebody is in the home
    (awake, asleep or unable to get up); `away` (households, bins): the household is away for
    days (a trip); `evening_active` (households, days): somebody was up and about the evening
    before (and so set the timers)."""
    minutes = calendar.minutes
    _refrigeration(rng, calendar, eq, canvas, minutes)
    _water_heaters(rng, eq, canvas, away, minutes)
    _heating(rng, calendar, eq, canvas, away, minutes)
    _cooling(rng, calendar, eq, canvas, home, minutes)
    _standby(rng, calendar, canvas)
    _timers(rng, calendar, eq, canvas, away, evening_active)
    _water_by_itself(rng, eq, canvas, minutes)


def _refrigeration(
    rng: np.random.Generator, calendar: Calendar, eq: Equipment, canvas: Canvas, minutes: int
) -> None:
    h = int(eq.fridge.shape[0])
    warm = np.clip((calendar.daily_mean_c - 10) / 20, 0, 1)  # a warmer kitchen in summer
    for owned, period_range, on_range, watts_range in (
        (eq.fridge, (30, 90), (10, 40), (50, 150)),
        (eq.freezer, (40, 120), (15, 45), (60, 120)),
    ):
        period = rng.uniform(period_range[0], period_range[1], h)
        on = np.minimum(rng.uniform(on_range[0], on_range[1], h), 0.6 * period)
        watts = rng.uniform(watts_range[0], watts_range[1], h)
        hh, start, gap = cycles(rng, period, minutes)
        day = np.minimum(start // DAY_MINUTES, calendar.days - 1).astype(np.int64)
        length = on[hh] * (1 + 0.35 * warm[day]) * rng.uniform(0.85, 1.15, hh.size)
        length = np.minimum(length, 0.9 * gap)
        keep = owned[hh]
        canvas.box(
            ELECTRICITY_WH, hh[keep], start[keep], start[keep] + length[keep], watts[hh[keep]] / 60
        )
    # A fridge's defrost heater: about 20 minutes at a few hundred watts after so many hours of
    # compressor running, so it drifts round the clock.
    hh, start, _ = cycles(rng, rng.uniform(20, 28, h) * 60, minutes, jitter=0.05)
    keep = eq.fridge[hh]
    hh, start = hh[keep], start[keep]
    canvas.box(
        ELECTRICITY_WH,
        hh,
        start,
        start + rng.uniform(15, 25, hh.size),
        rng.uniform(200, 400, hh.size) / 60,
    )


def _water_heaters(
    rng: np.random.Generator, eq: Equipment, canvas: Canvas, away: Bool, minutes: int
) -> None:
    """Storage heaters reheat against their standing losses every few hours; a night-rate one
    only between 23:00 and 07:00, with one long reheat at 23:00 for the day's hot water."""
    h = int(eq.hot_water.shape[0])
    period = rng.uniform(180, 480, h)
    hh, start, _ = cycles(rng, period, minutes, jitter=0.25)
    keep = eq.hot_water[hh] == ELECTRIC_HEATER
    clock = (start % DAY_MINUTES) / 60
    keep &= ~eq.heater_timer[hh] | (clock >= 23) | (clock < 7)
    hh, start = hh[keep], start[keep]
    watts = eq.heater_watts[hh]
    canvas.box(ELECTRICITY_WH, hh, start, start + rng.uniform(5, 15, hh.size), watts / 60)
    days = minutes // DAY_MINUTES
    hh = np.repeat(np.flatnonzero(eq.heater_timer), days)
    day = np.tile(np.arange(days), int(eq.heater_timer.sum()))
    start = day * DAY_MINUTES + 23 * 60 + rng.uniform(0, 2, hh.size)
    # The day's hot water (a person or two: 20-90 litres) less while away.
    occupied = ~at(away, hh, start - 12 * 60)
    litres = rng.uniform(20, 90, hh.size) * np.where(occupied, 1.0, 0.1)
    watts = eq.heater_watts[hh]
    canvas.box(
        ELECTRICITY_WH, hh, start, start + litres * WH_PER_HOT_LITRE / watts * 60, watts / 60
    )


def _thermostat(
    rng: np.random.Generator,
    canvas: Canvas,
    owners: Bool,
    active: Bool,
    duty: Float,
    period_range: tuple[float, float],
    draw: tuple[int, Float],
    minutes: int,
) -> tuple[Int, Float, Float]:
    """Cycles of a thermostat-driven appliance: `active` (households, bins) when it may run,
    `duty` (households, bins) the share of each cycle it runs; `draw` (utility, per-minute rate
    per household). Returns the cycles drawn (household, start, end)."""
    h = int(owners.shape[0])
    hh, start, gap = cycles(
        rng, rng.uniform(period_range[0], period_range[1], h), minutes, jitter=0.2
    )
    keep = owners[hh]
    hh, start, gap = hh[keep], start[keep], gap[keep]
    share = at(duty, hh, start) * at(active, hh, start)
    keep = share * gap >= 2.0  # a burner or compressor does not start for less than 2 minutes
    hh, start, end = hh[keep], start[keep], start[keep] + (share * gap)[keep]
    utility, rate = draw
    canvas.box(utility, hh, start, end, rate[hh])
    return hh, start, end


def _heating(
    rng: np.random.Generator,
    calendar: Calendar,
    eq: Equipment,
    canvas: Canvas,
    away: Bool,
    minutes: int,
) -> None:
    """Heating on a thermostat: the home loses 80-250 W per degree below the setting (20 °C, a
    few degrees less at night in half of the homes, 14 °C while away), and the heater runs the
    share of each cycle that covers it: a boiler a fifth of the time in a cold night, a small
    electric heater most of it. Households heat in the official season or when the day's mean
    falls below their own threshold (4-10 °C)."""
    h = int(eq.heating.shape[0])
    threshold = rng.uniform(4, 10, h)
    by_weather = calendar.daily_mean_c[None, :] < threshold[:, None]
    season = np.where(eq.heating_official[:, None], calendar.official_heating[None, :], by_weather)
    active = season[:, calendar.day]
    setting = np.where(away, 14.0, 20.0)
    night = (calendar.hour >= 22) | (calendar.hour < 6)
    setback = rng.random(h) < 0.5
    setting = setting - np.where(setback[:, None] & night[None, :], 3.0, 0.0)
    loss_w = rng.uniform(80, 250, h)[:, None] * np.maximum(setting - calendar.temperature_c, 0.0)
    boiler_kw = rng.uniform(10, 24, h)
    hh, start, end = _thermostat(
        rng,
        canvas,
        eq.heating == GAS_BOILER,
        active,
        np.clip(loss_w / (boiler_kw[:, None] * 900), 0.0, 0.95),  # 90 % efficient
        (15, 40),
        (GAS_L, boiler_kw * 100 / 60),  # natural gas: 10 kWh a cubic metre
        minutes,
    )
    # The boiler's fan while it fires, and its circulation pump on all day in the season.
    canvas.box(ELECTRICITY_WH, hh, start, end, rng.uniform(80, 150, h)[hh] / 60)
    pump = rng.uniform(40, 70, h)[:, None] * (active & (eq.heating == GAS_BOILER)[:, None])
    canvas.power(pump)
    del pump
    # Electric heaters warm a room or two: a quarter of the whole home's loss.
    heater_w = rng.uniform(1000, 3000, h)
    _thermostat(
        rng,
        canvas,
        eq.heating == ELECTRIC_HEATING,
        active,
        np.clip(loss_w / 4 / heater_w[:, None], 0.0, 0.95),
        (20, 50),
        (ELECTRICITY_WH, heater_w / 60),
        minutes,
    )
    pump_w = rng.uniform(600, 1500, h)  # a heat pump gives 2.5 times what it draws
    _thermostat(
        rng,
        canvas,
        eq.heating == HEAT_PUMP,
        active,
        np.clip(loss_w / 2 / (2.5 * pump_w[:, None]), 0.0, 0.95),
        (30, 60),
        (ELECTRICITY_WH, pump_w / 60),
        minutes,
    )


def _cooling(
    rng: np.random.Generator,
    calendar: Calendar,
    eq: Equipment,
    canvas: Canvas,
    home: Bool,
    minutes: int,
) -> None:
    """Air conditioning on hot days whenever somebody is home, through the night for most."""
    h = int(eq.air_conditioning.shape[0])
    threshold = rng.uniform(24, 28, h)
    hot_day = calendar.daily_mean_c[None, :] > threshold[:, None]
    nights = rng.random(h) < 0.7
    night = (calendar.hour >= 22) | (calendar.hour < 6)
    active = hot_day[:, calendar.day] & home & (nights[:, None] | ~night[None, :])
    duty = np.clip(
        rng.uniform(0.03, 0.07, h)[:, None] * (calendar.temperature_c[None, :] - 22), 0, 0.9
    )
    _thermostat(
        rng,
        canvas,
        eq.air_conditioning,
        active,
        duty,
        (20, 45),
        (ELECTRICITY_WH, rng.uniform(500, 1300, h) / 60),
        minutes,
    )


def _standby(rng: np.random.Generator, calendar: Calendar, canvas: Canvas) -> None:
    """Router, set-top box, clocks: flat, wandering a few per cent from hour to hour."""
    h, hours = canvas.households, calendar.days * 24
    base = rng.uniform(5, 40, h)
    wander = np.cumsum(rng.normal(0, 0.01, (h, hours)), axis=1)
    wander = np.clip(wander - wander.mean(axis=1, keepdims=True), -0.08, 0.08)
    watts = base[:, None] * (1 + np.repeat(wander, 60 // BIN_MINUTES, axis=1))
    watts *= rng.uniform(0.98, 1.02, watts.shape)
    canvas.power(watts)


def _timers(
    rng: np.random.Generator,
    calendar: Calendar,
    eq: Equipment,
    canvas: Canvas,
    away: Bool,
    evening_active: Bool,
) -> None:
    """A washing machine set to run early on two fixed weekdays; a rice cooker set the evening
    before to have porridge ready for breakfast. Neither runs while the household is away."""
    h, days = canvas.households, calendar.days
    hh, day = daily(h, days)
    first, second = rng.integers(0, 7, h), rng.integers(0, 7, h)
    wash_at = rng.choice([5.0, 5.5, 6.0, 21.5, 22.0], h) * 60
    weekday = calendar.weekday[day]
    on = eq.washer_timer[hh] & ((weekday == first[hh]) | (weekday == second[hh]))
    start = day * DAY_MINUTES + wash_at[hh]
    on &= ~at(away, hh, start)
    washing_machine(rng, canvas, hh[on], start[on])
    cook_at = rng.uniform(5.0, 6.5, h) * 60
    start = day * DAY_MINUTES + cook_at[hh] + rng.uniform(0, 1, hh.size)
    on = eq.rice_timer[hh] & evening_active[hh, day] & ~at(away, hh, start)
    hh, start = hh[on], start[on]
    cooked = start + rng.uniform(30, 40, hh.size)
    canvas.box(ELECTRICITY_WH, hh, start, cooked, 700 / 60)
    canvas.box(ELECTRICITY_WH, hh, cooked, cooked + rng.uniform(60, 120, hh.size), 40 / 60)


def washing_machine(rng: np.random.Generator, canvas: Canvas, hh: Int, start: Float) -> None:
    """One wash: three fills of 12-18 litres, the drum's motor for 70 minutes, a heating element
    for 12 minutes in half of the programmes."""
    n = hh.size
    for offset in (0.0, 25.0, 50.0):
        canvas.box(WATER_L, hh, start + offset, start + offset + 2, rng.uniform(6, 9, n))
    canvas.box(ELECTRICITY_WH, hh, start, start + 70, rng.uniform(150, 300, n) / 60)
    heats = rng.random(n) < 0.5
    canvas.box(ELECTRICITY_WH, hh[heats], start[heats] + 3, start[heats] + 15, 2000 / 60)


def _water_by_itself(rng: np.random.Generator, eq: Equipment, canvas: Canvas, minutes: int) -> None:
    """A cistern leaking a little into the bowl day and night; a purifier flushing its membrane
    every few hours."""
    leaking = np.flatnonzero(eq.cistern_leak > 0)
    canvas.box(
        WATER_L,
        leaking,
        np.zeros(leaking.size),
        np.full(leaking.size, float(minutes)),
        eq.cistern_leak[leaking] / 30,
    )
    h = int(eq.purifier.shape[0])
    hh, start, _ = cycles(rng, rng.uniform(120, 360, h), minutes, jitter=0.3)
    keep = eq.purifier[hh]
    hh, start = hh[keep], start[keep]
    canvas.box(WATER_L, hh, start, start + 1, rng.uniform(0.5, 1.5, hh.size))
