"""What notify tells a person about their account, on core's account events (`core.hooks`)."""

from __future__ import annotations

from civichub.core.hooks import PasswordChanged
from civichub.notify.services.sending import notification_send


def password_changed_notify(event: PasswordChanged) -> None:
    """Tells the account holder their password changed, so a change they did not make does not
    go unnoticed."""
    notification_send(
        recipients=[event.user],
        kind="core.password_changed",
        actor=event.actor,
        context={
            "name": event.user.display_name(),
            "changed_at": event.at.strftime("%Y-%m-%d %H:%M"),
        },
    )
