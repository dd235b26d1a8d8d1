from django.urls import path

from civichub.wellbeing import views

app_name = "wellbeing"
urlpatterns = [
    path("visits/", views.visits, name="visits"),
    path("visits/<int:visit_id>/", views.visit, name="visit"),
    path("visits/<int:visit_id>/<slug:action>/", views.visit_action, name="visit_action"),
]
