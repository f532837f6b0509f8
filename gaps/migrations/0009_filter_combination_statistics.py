"""Statistics on how the worklist's filter columns occur together (PostgreSQL only).

PostgreSQL estimates a combination of filters by multiplying each one's share, as if the columns
were independent; on gaps they are not (a new gap has no assignee and no outreach). For a
combination no gap has (`assignee=me&workflow_state=new`), it expected thousands of rows, read the
contract's gaps in the page's order to find 51 of them, and walked all 1.2 million: 0.2-0.3 s a
page. A most-common-values list over the columns together gives it their real combinations.
"""

from django.db import migrations

NAME = "caregap_filter_combinations"
COLUMNS = [
    "contract_id",
    "workflow_state",
    "compliance_status",
    "risk_tier",
    "assignee_id",
    "last_outreach_at",
]
# Most-common combinations kept (PostgreSQL's default is 100); ANALYZE samples 300 times as many rows.
TARGET = 500


def create_statistics(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = apps.get_model("gaps", "CareGap")._meta.db_table
    schema_editor.execute(f"CREATE STATISTICS {NAME} (mcv) ON {', '.join(COLUMNS)} FROM {table}")
    schema_editor.execute(f"ALTER STATISTICS {NAME} SET STATISTICS {TARGET}")
    # Built by the next ANALYZE, which autovacuum runs only after a tenth of the rows change.
    schema_editor.execute(f"ANALYZE {table}")


def drop_statistics(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP STATISTICS IF EXISTS {NAME}")


class Migration(migrations.Migration):
    dependencies = [("gaps", "0008_worked_gaps_in_priority_order")]

    operations = [migrations.RunPython(create_statistics, drop_statistics)]
