import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("buckets", "0019_versioning"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="AccessPoint",
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
                ("name", models.CharField(max_length=19)),
                ("alias", models.CharField(max_length=63, unique=True)),
                ("network_origin", models.CharField(default="internet", max_length=16)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("policy", models.TextField(blank=True)),
                ("policy_statements", models.JSONField(blank=True, default=list)),
                ("block_public_access", models.BooleanField(default=False)),
                (
                    "bucket",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="access_points",
                        to="buckets.bucket",
                    ),
                ),
                (
                    "owner",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["owner", "name"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("owner", "name"), name="unique_access_point_name"
                    )
                ],
            },
        ),
    ]
