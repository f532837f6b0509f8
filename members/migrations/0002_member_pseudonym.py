"""Members get a pseudonym: a short readable code from their keyed hash, unique within the contract.

Existing members are given theirs contract by contract, oldest first (so where two codes
collide, the member who came later gets the longer one, as a new member would).
"""

from django.db import migrations, models

from members.identifiers import pseudonyms_allocate


def members_pseudonymize(apps, schema_editor):
    Member = apps.get_model("members", "Member")
    contract_ids = Member.objects.order_by().values_list("contract_id", flat=True).distinct()
    for contract_id in list(contract_ids):
        members = list(Member.objects.filter(contract_id=contract_id).order_by("id").only("id", "id_hash"))
        codes = pseudonyms_allocate(
            [member.id_hash for member in members], Member.objects.filter(contract_id=contract_id)
        )
        for member, code in zip(members, codes, strict=True):
            member.pseudonym = code
        Member.objects.bulk_update(members, ["pseudonym"], batch_size=2000)


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="member",
            name="pseudonym",
            field=models.CharField(
                default="",
                editable=False,
                help_text="A short code from the member ID hash (e.g. K7QD-2M9X-HT4P), unique within the contract.",
                max_length=64,
            ),
            preserve_default=False,
        ),
        migrations.RunPython(members_pseudonymize, migrations.RunPython.noop, elidable=True),
        migrations.AddIndex(
            model_name="member",
            index=models.Index(
                fields=["pseudonym"], name="member_pseudonym_prefix", opclasses=["varchar_pattern_ops"]
            ),
        ),
        migrations.AddConstraint(
            model_name="member",
            constraint=models.UniqueConstraint(
                fields=("contract", "pseudonym"),
                name="member_pseudonym_unique_in_contract",
                violation_error_message="Another member of this contract has this pseudonym.",
            ),
        ),
    ]
