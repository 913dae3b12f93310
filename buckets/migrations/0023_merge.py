from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("buckets", "0020_qos"),
        ("buckets", "0021_access_points"),
        ("buckets", "0022_live_channels"),
    ]

    operations = []
