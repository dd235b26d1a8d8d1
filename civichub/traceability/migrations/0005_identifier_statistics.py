"""How many rows share an identifier, and an event, in `traceability_eventepc`, told to
PostgreSQL's planner rather than left to ANALYZE's estimate.

An identifier is named by a few events (made, packed, received: about two rows each) and an
event names a few identifiers. ANALYZE reads a sample of 30,000 rows; out of twenty million it
meets few repeats, and its estimator then says eight rows per identifier and ten per event.
The trace's recursive walks multiply these estimates hop by hop: at 10,000,000 events the
trace, which reads a few dozen rows, was estimated at 340,000, past `jit_above_cost` (100,000),
so that each trace first compiled its 129 expressions (0.1 s of the server's CPU, for a 2 ms
walk); past `jit_optimize_above_cost` (500,000), which another sample may reach, it also
optimises and inlines them: 1.6 s a trace with that threshold lowered.
With the number of distinct values given as half the rows (`n_distinct = -0.5`), which ANALYZE
then keeps instead of its own, the same statement is estimated at about 2,000 and runs
without JIT. SQLite's planner keeps no such statistics: nothing to do there.
"""

from django.db import migrations

COLUMNS = ("epc", "event_id")


def _alter(schema_editor, setting):
    if schema_editor.connection.vendor != "postgresql":
        return
    columns = ", ".join(f"ALTER COLUMN {c} {setting}" for c in COLUMNS)
    schema_editor.execute(f"ALTER TABLE traceability_eventepc {columns}")


def declare(apps, schema_editor):
    _alter(schema_editor, "SET (n_distinct = -0.5)")


def forget(apps, schema_editor):
    _alter(schema_editor, "RESET (n_distinct)")


class Migration(migrations.Migration):
    dependencies = [("traceability", "0004_recall_scope")]

    operations = [migrations.RunPython(declare, forget, elidable=False)]
