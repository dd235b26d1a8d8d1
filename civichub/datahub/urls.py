from __future__ import annotations

from django.urls import path

from civichub.datahub import views

app_name = "datahub"
urlpatterns = [
    path("sources/", views.sources, name="sources"),
    path("sources/<slug:key>/", views.source_detail, name="source"),
    path("imports/<int:pk>/", views.batch_detail, name="batch"),
    path("imports/<int:pk>/rejects.csv", views.batch_rejects, name="batch_rejects"),
    path("imports/<int:pk>/rollback/", views.batch_rollback, name="batch_rollback"),
    path("reviews/", views.reviews, name="reviews"),
    path("reviews/<int:pk>/", views.review_detail, name="review"),
    path("agreements/", views.agreements, name="agreements"),
    path("persons/<int:pk>/", views.person_detail, name="person"),
    path("my-data/", views.my_data, name="my_data"),
    path("my-data/consents/<int:pk>/", views.my_consent, name="my_consent"),
    path("corrections/", views.corrections, name="corrections"),
]
