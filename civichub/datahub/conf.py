"""The data hub's part of the deployment profile: one frozen dataclass, each default written
once here. A deployment overrides keys in `settings.CIVICHUB_DATAHUB`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from civichub.core.config import ModuleConfig


@dataclass(frozen=True)
class DatahubSettings(ModuleConfig):
    setting: ClassVar[str] = "CIVICHUB_DATAHUB"

    # The folder of the sources' mapping files (one TOML file per source, reviewed like code);
    # empty means the files shipped in civichub/datahub/sources/.
    sources_dir: str = ""
    # Fellegi-Sunter match weight (log2 of the likelihood ratio, summed over the compared
    # fields) at or above which a record without an identity number is linked at once.
    link_weight: float = 14.0
    # Between this weight and `link_weight` a pair goes to the clerical review queue; below it
    # the record becomes a new person.
    review_weight: float = 8.0
    # The registry-wide linkage (splink, `scale_linkage`): a pair at or above this match
    # probability is linked; from `scale_review_probability` it goes to the review queue.
    scale_link_probability: float = 0.99
    scale_review_probability: float = 0.5
    # A source that has not delivered for this many hours is shown as stale.
    stale_hours: int = 48
    # The most rows one import reads (a larger file is refused before anything is written).
    max_rows: int = 200_000
    # Rows between two progress updates of a running import.
    progress_every: int = 200
    # Seconds a REST pull waits for the department's endpoint.
    pull_timeout_seconds: float = 20.0
    # The most pages one REST pull reads before it stops (the cursor is kept for the next run).
    pull_max_pages: int = 50
    # Calls one client (an account's token) may make to the exchange operations a minute.
    exchange_calls_per_minute: int = 600
    # A client's own limit, by its account's username, in place of the one above (a department's
    # nightly synchronisation may need more, a small clinic's system less).
    exchange_client_calls_per_minute: dict[str, int] = field(default_factory=dict)
