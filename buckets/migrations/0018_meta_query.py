from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("buckets", "0017_merge"),
    ]

    operations = [
        migrations.AddField(
            model_name="bucket",
            name="meta_query_opened_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
