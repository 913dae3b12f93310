import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("buckets", "0008_tagging"),
    ]

    operations = [
        migrations.CreateModel(
            name="CorsConfiguration",
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
                ("rules", models.JSONField(default=list)),
                ("response_vary", models.BooleanField(default=False)),
                (
                    "bucket",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="cors_configuration",
                        to="buckets.bucket",
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="RefererConfiguration",
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
                ("allow_empty", models.BooleanField(default=True)),
                ("allow_truncate_query_string", models.BooleanField(default=True)),
                ("truncate_path", models.BooleanField(default=False)),
                ("referers", models.JSONField(default=list)),
                ("blacklist", models.JSONField(default=list)),
                (
                    "bucket",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="referer_configuration",
                        to="buckets.bucket",
                    ),
                ),
            ],
        ),
    ]
