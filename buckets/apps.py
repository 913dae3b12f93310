from django.apps import AppConfig


class BucketsConfig(AppConfig):
    name = "buckets"
    verbose_name = "Buckets and objects"

    def ready(self):
        # Every object write, whoever commits it, gets a storage class chosen for it.
        from buckets import storage_classes  # noqa: F401
