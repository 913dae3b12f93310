from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("buckets", "0012_policy_payment"),
        ("buckets", "0013_encryption"),
        ("buckets", "0014_storage_classes"),
        ("buckets", "0015_worm_inventory_logging"),
        ("buckets", "0016_callback_misc"),
    ]

    operations = []
