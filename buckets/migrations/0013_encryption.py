# A branch of its own so that parallel work on different features never collides;
# 0017_merge joins the branches.
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("buckets", "0011_object_acl_symlink")]

    operations = [
        migrations.AddField(
            model_name="bucket",
            name="encryption",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="storedobject",
            name="encryption",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="multipartupload",
            name="encryption",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="uploadedpart",
            name="encryption",
            field=models.JSONField(blank=True, default=dict),
        ),
    ]
