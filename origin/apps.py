from django.apps import AppConfig


class OriginConfig(AppConfig):
    name = "origin"
    verbose_name = "Back-to-Origin"
