# A branch of its own so that parallel work on different features never collides;
# 0017_merge joins the branches.
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("buckets", "0011_object_acl_symlink")]

    operations = [
        migrations.CreateModel(
            name="CallbackPolicy",
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
                ("position", models.PositiveIntegerField()),
                ("name", models.CharField(max_length=255)),
                ("callback", models.TextField()),
                ("callback_var", models.TextField(blank=True)),
                (
                    "bucket",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="callback_policies",
                        to="buckets.bucket",
                    ),
                ),
            ],
            options={
                "ordering": ["bucket", "position"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("bucket", "name"), name="unique_callback_policy_name"
                    )
                ],
            },
        ),
    ]
