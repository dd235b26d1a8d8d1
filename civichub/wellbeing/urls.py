from django.urls import path

from civichub.wellbeing import views

app_name = "wellbeing"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("enrol/", views.enrol, name="enrol"),
    path("households/<int:household_id>/", views.household, name="household"),
    path("households/<int:household_id>/contacts/", views.contacts_set, name="contacts"),
    path("households/<int:household_id>/meters/", views.meter_add, name="meter_add"),
    path(
        "households/<int:household_id>/meters/<int:meter_id>/remove/",
        views.meter_remove,
        name="meter_remove",
    ),
    path("households/<int:household_id>/away/", views.away_mark, name="away_mark"),
    path("households/<int:household_id>/withdraw/", views.withdraw, name="withdraw"),
    path("away/<int:away_id>/<slug:action>/", views.away_change, name="away_change"),
    path("alerts/<int:alert_id>/acknowledge/", views.alert_acknowledge, name="alert_acknowledge"),
    path("ack/<str:token>/", views.acknowledge, name="acknowledge"),
    path("visits/", views.visits, name="visits"),
    path("visits/<int:visit_id>/", views.visit, name="visit"),
    path("visits/<int:visit_id>/<slug:action>/", views.visit_action, name="visit_action"),
]
