import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("buckets", "0019_versioning"),
    ]

    operations = [
        migrations.CreateModel(
            name="LiveChannel",
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
                ("name", models.CharField(max_length=1023)),
                ("description", models.CharField(blank=True, max_length=128)),
                (
                    "status",
                    models.CharField(
                        choices=[("enabled", "Enabled"), ("disabled", "Disabled")],
                        default="enabled",
                        max_length=8,
                    ),
                ),
                ("frag_duration", models.PositiveSmallIntegerField(default=5)),
                ("frag_count", models.PositiveSmallIntegerField(default=3)),
                (
                    "playlist_name",
                    models.CharField(default="playlist.m3u8", max_length=128),
                ),
                (
                    "last_modified",
                    models.DateTimeField(default=django.utils.timezone.now),
                ),
                ("next_segment", models.PositiveBigIntegerField(default=0)),
                ("publisher_token", models.CharField(blank=True, max_length=32)),
                ("publisher_addr", models.CharField(blank=True, max_length=64)),
                ("connected_at", models.DateTimeField(blank=True, null=True)),
                ("heartbeat_at", models.DateTimeField(blank=True, null=True)),
                ("stream_info", models.JSONField(blank=True, default=dict)),
                (
                    "bucket",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="live_channels",
                        to="buckets.bucket",
                    ),
                ),
            ],
            options={
                "ordering": ["bucket", "name"],
            },
        ),
        migrations.CreateModel(
            name="LivePublishRecord",
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
                ("started_at", models.DateTimeField()),
                ("ended_at", models.DateTimeField(blank=True, null=True)),
                ("remote_addr", models.CharField(max_length=64)),
                (
                    "channel",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="publish_records",
                        to="buckets.livechannel",
                    ),
                ),
            ],
            options={
                "ordering": ["-started_at", "-pk"],
            },
        ),
        migrations.CreateModel(
            name="LiveSegment",
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
                ("sequence", models.PositiveBigIntegerField()),
                ("key", models.CharField(max_length=1023)),
                ("started_at", models.DateTimeField()),
                ("duration", models.FloatField()),
                (
                    "channel",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="segments",
                        to="buckets.livechannel",
                    ),
                ),
            ],
            options={
                "ordering": ["channel", "sequence"],
            },
        ),
        migrations.AddConstraint(
            model_name="livechannel",
            constraint=models.UniqueConstraint(
                fields=("bucket", "name"), name="unique_live_channel_name"
            ),
        ),
        migrations.AddIndex(
            model_name="livesegment",
            index=models.Index(
                fields=["channel", "started_at"], name="buckets_liv_channel_0950d5_idx"
            ),
        ),
    ]
