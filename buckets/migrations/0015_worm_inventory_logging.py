# A branch of its own so that parallel work on different features never collides;
# 0017_merge joins the branches.
import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("buckets", "0011_object_acl_symlink")]

    operations = [
        migrations.CreateModel(
            name="AccessLogRecord",
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
                ("line", models.TextField()),
                (
                    "recorded_at",
                    models.DateTimeField(default=django.utils.timezone.now),
                ),
                (
                    "bucket",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="buckets.bucket",
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="LoggingConfiguration",
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
                ("target_prefix", models.CharField(blank=True, max_length=1023)),
                (
                    "bucket",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="logging_configuration",
                        to="buckets.bucket",
                    ),
                ),
                (
                    "target_bucket",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="buckets.bucket",
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="WormConfiguration",
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
                ("worm_id", models.CharField(max_length=32, unique=True)),
                (
                    "state",
                    models.CharField(
                        choices=[("InProgress", "In progress"), ("Locked", "Locked")],
                        max_length=10,
                    ),
                ),
                ("retention_days", models.PositiveIntegerField()),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "bucket",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="worm_configuration",
                        to="buckets.bucket",
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="InventoryConfiguration",
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
                ("inventory_id", models.CharField(max_length=64)),
                ("is_enabled", models.BooleanField()),
                ("prefix", models.CharField(blank=True, max_length=1023)),
                ("last_modify_begin", models.BigIntegerField(blank=True, null=True)),
                ("last_modify_end", models.BigIntegerField(blank=True, null=True)),
                ("lower_size_bound", models.BigIntegerField(blank=True, null=True)),
                ("upper_size_bound", models.BigIntegerField(blank=True, null=True)),
                ("storage_classes", models.JSONField(blank=True, default=list)),
                ("frequency", models.CharField(max_length=8)),
                ("included_object_versions", models.CharField(max_length=8)),
                ("optional_fields", models.JSONField(blank=True, default=list)),
                ("destination_prefix", models.CharField(blank=True, max_length=1023)),
                ("account_id", models.CharField(max_length=64)),
                ("role_arn", models.CharField(max_length=255)),
                ("encryption", models.CharField(blank=True, max_length=8)),
                ("kms_key_id", models.CharField(blank=True, max_length=255)),
                ("last_run", models.DateTimeField(blank=True, null=True)),
                (
                    "bucket",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="inventory_configurations",
                        to="buckets.bucket",
                    ),
                ),
                (
                    "destination_bucket",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="buckets.bucket",
                    ),
                ),
            ],
            options={
                "ordering": ["bucket", "inventory_id"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("bucket", "inventory_id"), name="unique_inventory_id"
                    )
                ],
            },
        ),
    ]
