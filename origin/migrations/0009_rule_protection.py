import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("origin", "0008_flight_outcome"),
    ]

    operations = [
        migrations.AddField(
            model_name="backtooriginrule",
            name="breaker_failures",
            field=models.PositiveIntegerField(
                default=0, verbose_name="Open circuit after N failures"
            ),
        ),
        migrations.AddField(
            model_name="backtooriginrule",
            name="breaker_open_seconds",
            field=models.PositiveIntegerField(
                default=0, verbose_name="Keep circuit open (seconds)"
            ),
        ),
        migrations.AddField(
            model_name="backtooriginrule",
            name="max_concurrent_fetches",
            field=models.PositiveIntegerField(
                default=0, verbose_name="Max concurrent fetches per origin host"
            ),
        ),
        migrations.AddField(
            model_name="backtooriginrule",
            name="negative_cache_seconds",
            field=models.PositiveIntegerField(
                default=0, verbose_name="Remember origin 404s (seconds)"
            ),
        ),
        migrations.CreateModel(
            name="NegativeCacheEntry",
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
                ("key_digest", models.CharField(max_length=64)),
                ("expires_at", models.DateTimeField(db_index=True)),
                (
                    "rule",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="origin.backtooriginrule",
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="OriginBreaker",
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
                ("failures", models.PositiveIntegerField(default=0)),
                ("open_until", models.DateTimeField(blank=True, null=True)),
                ("trial_until", models.DateTimeField(blank=True, null=True)),
                (
                    "rule",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="breaker",
                        to="origin.backtooriginrule",
                    ),
                ),
            ],
        ),
        migrations.AddConstraint(
            model_name="negativecacheentry",
            constraint=models.UniqueConstraint(
                fields=("rule", "key_digest"), name="origin_negative_cache_key"
            ),
        ),
    ]
