import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("buckets", "0019_versioning"),
    ]

    operations = [
        migrations.CreateModel(
            name="QosConfiguration",
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
                ("requester", models.CharField(blank=True, max_length=64)),
                ("total_upload_bw", models.IntegerField(default=-1)),
                ("intranet_upload_bw", models.IntegerField(default=-1)),
                ("extranet_upload_bw", models.IntegerField(default=-1)),
                ("total_download_bw", models.IntegerField(default=-1)),
                ("intranet_download_bw", models.IntegerField(default=-1)),
                ("extranet_download_bw", models.IntegerField(default=-1)),
                ("total_qps", models.IntegerField(default=-1)),
                ("intranet_qps", models.IntegerField(default=-1)),
                ("extranet_qps", models.IntegerField(default=-1)),
                (
                    "bucket",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="qos_configurations",
                        to="buckets.bucket",
                    ),
                ),
            ],
            options={
                "ordering": ["bucket", "requester"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("bucket", "requester"),
                        name="one_qos_per_bucket_requester",
                    )
                ],
            },
        ),
    ]
