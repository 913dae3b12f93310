from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("buckets", "0023_merge"),
    ]

    operations = []
