from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("origin", "0007_mirror_taggings"),
    ]

    operations = [
        migrations.CreateModel(
            name="FlightOutcome",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True,
                        primary_key=True,
                        serialize=False,
                        verbose_name="ID",
                    ),
                ),
                ("bucket_id", models.BigIntegerField()),
                ("key_digest", models.CharField(max_length=64)),
                ("outcome", models.JSONField()),
                ("finished_at", models.DateTimeField(db_index=True)),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("bucket_id", "key_digest"),
                        name="origin_flight_outcome_key",
                    )
                ],
            },
        ),
    ]
