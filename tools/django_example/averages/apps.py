from django.apps import AppConfig


class AveragesConfig(AppConfig):
    name = "averages"
    default_auto_field = "django.db.models.AutoField"
