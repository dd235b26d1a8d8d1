"""The statistics module's rules, plugged into core's single check: staff who lead or oversee
work see the figures of their organisation's subtree; the service evaluation (好差评) is
published for everyone. Figures are counts and averages, never a person's data."""

from __future__ import annotations

from civichub.core.registry import ActionDef

VIEWERS = frozenset(
    {
        "department_head",
        "case_dispatcher",
        "community_head",
        "publisher",
        "auditor",
        "operator",
    }
)

ACTIONS = [
    ActionDef(
        "statistics.figures.view",
        VIEWERS,
        description="See the figures of every module for the organisation's subtree.",
    ),
    ActionDef(
        "statistics.evaluation.view",
        frozenset(),
        public=True,
        description="The public service evaluation: ratings by department and service, by month.",
    ),
]
