from django.urls import path

from . import views

urlpatterns = [
    path("", views.index, name="index"),
    path("async/", views.index_async, name="index_async"),
    path("examples/<slug:name>/", views.example, name="example"),
    path("submit/", views.submit, name="submit"),
    path("jobs/<str:job_id>/", views.job, name="job"),
    path("jobs/<str:job_id>/status.json", views.job_status, name="job_status"),
]
