# A branch of its own so that parallel work on different features never collides;
# 0017_merge joins the branches.
from django.db import migrations, models
from django.db.models import OuterRef, Subquery

STORAGE_CLASSES = [
    ("Standard", "Standard"),
    ("IA", "Infrequent Access"),
    ("Archive", "Archive"),
    ("ColdArchive", "Cold Archive"),
    ("DeepColdArchive", "Deep Cold Archive"),
]


def objects_take_their_buckets_class(apps, schema_editor):
    """Until now every object was in its bucket's class."""
    Bucket = apps.get_model("buckets", "Bucket")
    StoredObject = apps.get_model("buckets", "StoredObject")
    StoredObject.objects.update(
        storage_class=Subquery(
            Bucket.objects.filter(pk=OuterRef("bucket_id")).values("storage_class")[:1]
        )
    )


class Migration(migrations.Migration):
    dependencies = [("buckets", "0011_object_acl_symlink")]

    operations = [
        migrations.AddField(
            model_name="bucket",
            name="access_monitor_since",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="bucket",
            name="archive_direct_read",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="lifecyclerule",
            name="transitions",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="multipartupload",
            name="storage_class",
            field=models.CharField(blank=True, max_length=16),
        ),
        migrations.AddField(
            model_name="storedobject",
            name="last_access_time",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="storedobject",
            name="restore_expires_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="storedobject",
            name="restore_ready_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="storedobject",
            name="restore_tier",
            field=models.CharField(blank=True, max_length=10),
        ),
        migrations.AddField(
            model_name="storedobject",
            name="return_to_standard_on_read",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="storedobject",
            name="storage_class",
            field=models.CharField(
                choices=STORAGE_CLASSES, default="Standard", max_length=16
            ),
        ),
        migrations.AlterField(
            model_name="bucket",
            name="storage_class",
            field=models.CharField(
                choices=STORAGE_CLASSES, default="Standard", max_length=16
            ),
        ),
        migrations.RunPython(
            objects_take_their_buckets_class, migrations.RunPython.noop
        ),
    ]
