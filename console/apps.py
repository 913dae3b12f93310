from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "console"

    def ready(self):
        from django.contrib.auth.signals import user_logged_out

        from console.signals import say_logged_out

        user_logged_out.connect(say_logged_out, dispatch_uid="console-logged-out")
