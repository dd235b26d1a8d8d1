"""OAuth tables of the Mastodon client API: authorization codes and access tokens. They are
broadcast's tables, declared in broadcast/models.py with the app's other models."""

from civichub.broadcast.models import OAuthAuthorization, OAuthToken

__all__ = ["OAuthAuthorization", "OAuthToken"]
