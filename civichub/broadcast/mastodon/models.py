"""OAuth tables of the Mastodon client API: authorization codes and access tokens. They belong
to the broadcast app (imported by broadcast/models.py). Only a SHA-256 of a code or token is
stored, as for civichub's own API tokens; the secret itself is shown once."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class OAuthAuthorization(models.Model):
    """An authorization code a resident granted an app on the consent page: single use and
    valid for ten minutes, redeemed at POST /oauth/token with the same redirect URI."""

    app = models.ForeignKey("broadcast.ClientApp", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    code_hash = models.CharField(max_length=64, unique=True)
    redirect_uri = models.TextField()
    scopes = models.CharField(max_length=1000)
    # PKCE (RFC 7636): the S256 challenge the client sent with the authorization request.
    code_challenge = models.CharField(max_length=128, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"code for {self.app_id} by {self.user_id}"


class OAuthToken(models.Model):
    """An access token of a Mastodon client, with the scopes it was granted. A token without a
    user is the app's own (client credentials grant): it can read public data only."""

    app = models.ForeignKey("broadcast.ClientApp", on_delete=models.CASCADE, related_name="tokens")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="mastodon_tokens",
    )
    token_hash = models.CharField(max_length=64, unique=True)
    scopes = models.CharField(max_length=1000)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"token of {self.app_id} for {self.user_id or 'the app'}"
