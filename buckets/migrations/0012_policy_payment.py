# A branch of its own so that parallel work on different features never collides;
# 0017_merge joins the branches.
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("buckets", "0011_object_acl_symlink"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="bucket",
            name="block_public_access",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="bucket",
            name="policy",
            field=models.TextField(blank=True),
        ),
        migrations.AddField(
            model_name="bucket",
            name="policy_statements",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="bucket",
            name="request_payer",
            field=models.CharField(
                choices=[("BucketOwner", "Bucket Owner"), ("Requester", "Requester")],
                default="BucketOwner",
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="bucket",
            name="storage_capacity_gb",
            field=models.BigIntegerField(default=-1),
        ),
        migrations.AddField(
            model_name="bucket",
            name="tls_enabled",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="bucket",
            name="tls_versions",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.CreateModel(
            name="AccountSettings",
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
                ("block_public_access", models.BooleanField(default=False)),
                (
                    "user",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="oss_account",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
        ),
    ]
