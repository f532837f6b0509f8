"""Drop single-column foreign-key indexes that a composite index already leads with.

Only the indexes change: the foreign-key constraints stay as they are (AlterField would
drop and re-add them, re-checking every row of a table of millions).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('gaps', '0002_initial'),
        ('members', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='caregap',
                    name='assignee',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='assigned_gaps', to=settings.AUTH_USER_MODEL),
                ),
                migrations.AlterField(
                    model_name='caregap',
                    name='contract',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='gaps', to='members.contract'),
                ),
                migrations.AlterField(
                    model_name='caregap',
                    name='member',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='gaps', to='members.member'),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "gaps_caregap_assignee_id_2ed2a1e1"',
                    reverse_sql='CREATE INDEX "gaps_caregap_assignee_id_2ed2a1e1" ON "gaps_caregap" ("assignee_id")',
                ),
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "gaps_caregap_contract_id_6d0a470c"',
                    reverse_sql='CREATE INDEX "gaps_caregap_contract_id_6d0a470c" ON "gaps_caregap" ("contract_id")',
                ),
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "gaps_caregap_member_id_c0d3c654"',
                    reverse_sql='CREATE INDEX "gaps_caregap_member_id_c0d3c654" ON "gaps_caregap" ("member_id")',
                ),
            ],
        ),
    ]
