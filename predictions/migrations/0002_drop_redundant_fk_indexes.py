"""Drop single-column foreign-key indexes that a composite index already leads with.

Only the indexes change: the foreign-key constraints stay as they are (AlterField would
drop and re-add them, re-checking every row of a table of millions).
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('members', '0001_initial'),
        ('predictions', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='prediction',
                    name='contract',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='predictions', to='members.contract'),
                ),
                migrations.AlterField(
                    model_name='prediction',
                    name='member',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='predictions', to='members.member'),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "predictions_prediction_contract_id_175d315b"',
                    reverse_sql='CREATE INDEX "predictions_prediction_contract_id_175d315b" ON "predictions_prediction" ("contract_id")',
                ),
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "predictions_prediction_member_id_2a22a635"',
                    reverse_sql='CREATE INDEX "predictions_prediction_member_id_2a22a635" ON "predictions_prediction" ("member_id")',
                ),
            ],
        ),
    ]
