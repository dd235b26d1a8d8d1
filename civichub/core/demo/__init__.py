"""The demo city: a fictional Chinese city generated from a seed, for demos, tests and benchmarks.

Planning is pure (no database): `plan_city` lays out the organisation tree (`organisations`), the
staff (`staff`) and how many residents live in each community (`plan`); `plan_residents` draws one
community's residents (`residents`). The same seed always gives the same names, codes,
coordinates, identity numbers and logins (`logins`). `seed_city` (`seeding`) writes a plan through
core's services (organisations, accounts, roles), imports residents in audited batches
(`resident_import`), gives residents their accounts (`accounts`), then lets every module add its
own demo data through the registry (`hooks`). `civichub demo` runs the web server and a task
worker over it as child processes (`processes`).

Everything is fictional. Administrative codes use the unassigned province prefix 99, so no identity
number generated here can belong to a real person; names are drawn from syllable tables (`names`)
and romanised in Hanyu Pinyin without tone marks.
"""

from civichub.core.demo.logins import DemoLogin, demo_logins, logins_table
from civichub.core.demo.names import romanise
from civichub.core.demo.organisations import CITY_CODE, Area, OrganisationPlan
from civichub.core.demo.plan import DEFAULT_SEED, SIZES, CityPlan, plan_city
from civichub.core.demo.residents import REFERENCE_DATE, ResidentPlan, plan_residents
from civichub.core.demo.seeding import SeedSummary, database_is_empty, database_reset, seed_city
from civichub.core.demo.staff import StaffPlan

__all__ = [
    "CITY_CODE",
    "DEFAULT_SEED",
    "REFERENCE_DATE",
    "SIZES",
    "Area",
    "CityPlan",
    "DemoLogin",
    "OrganisationPlan",
    "ResidentPlan",
    "SeedSummary",
    "StaffPlan",
    "database_is_empty",
    "database_reset",
    "demo_logins",
    "logins_table",
    "plan_city",
    "plan_residents",
    "romanise",
    "seed_city",
]
