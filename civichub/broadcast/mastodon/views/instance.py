"""Discovery and sign-in: the instance's description, OAuth metadata, registering an app and
checking its token; the preferences and the features civichub does not have."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse

from civichub.broadcast.mastodon import oauth
from civichub.broadcast.mastodon import services as oauth_services
from civichub.broadcast.mastodon.endpoint import (
    INVALID_TOKEN,
    READ_ACCOUNTS,
    Credential,
    endpoint,
    error,
)
from civichub.broadcast.mastodon.paging import empty
from civichub.broadcast.mastodon.render import api_base
from civichub.broadcast.models import POST_MAX_CHARS, POST_MAX_IMAGES

VERSION = "4.3.0 (compatible; civichub 0.1.0)"


@endpoint(auth=False)
def instance_v1(request: HttpRequest) -> HttpResponse:
    return JsonResponse(
        {
            "uri": request.get_host(),
            "title": "civichub",
            "short_description": "",
            "description": "",
            "email": "",
            "version": VERSION,
            "urls": {"streaming_api": api_base(request)},
            "languages": ["zh", "en"],
            "registrations": False,
            "approval_required": False,
            "thumbnail": None,
            "contact_account": None,
            "rules": [],
            "configuration": {
                "statuses": {
                    "max_characters": POST_MAX_CHARS,
                    "max_media_attachments": POST_MAX_IMAGES,
                }
            },
        }
    )


@endpoint(auth=False)
def instance_v2(request: HttpRequest) -> HttpResponse:
    return JsonResponse(
        {
            "domain": request.get_host(),
            "title": "civichub",
            "version": VERSION,
            "source_url": "",
            "description": "",
            "languages": ["zh", "en"],
            "api_versions": {"mastodon": 2},
            "registrations": {"enabled": False, "approval_required": False, "message": None},
            "thumbnail": {"url": ""},
            "contact": {"email": "", "account": None},
            "rules": [],
            "configuration": {
                "urls": {"streaming": api_base(request)},
                "statuses": {
                    "max_characters": POST_MAX_CHARS,
                    "max_media_attachments": POST_MAX_IMAGES,
                },
                "timelines_access": {
                    "live_feeds": {"local": "public", "remote": "public"},
                    "hashtag_feeds": {"local": "public", "remote": "public"},
                    "trending_link_feeds": {"local": "public", "remote": "public"},
                },
            },
        }
    )


def oauth_server_metadata(request: HttpRequest) -> HttpResponse:
    return JsonResponse(oauth.server_metadata(request))


@endpoint(auth=False, methods=("POST",))
def app_register(request: HttpRequest) -> HttpResponse:
    app, secret = oauth_services.client_app_register(
        name=request.POST.get("client_name", ""),
        website=request.POST.get("website", ""),
        redirect_uris=request.POST.get("redirect_uris")
        or "\n".join(request.POST.getlist("redirect_uris[]"))
        or oauth_services.OOB,
        scopes_text=request.POST.get("scopes") or " ".join(request.POST.getlist("scopes[]")),
    )
    return JsonResponse(
        {
            "id": str(app.pk),
            "name": app.name,
            "website": app.website or None,
            "redirect_uri": "\n".join(app.redirect_uris.split()),
            "redirect_uris": app.redirect_uris.split(),
            "scopes": app.scopes.split(),
            "client_id": app.client_id,
            "client_secret": secret,
            "vapid_key": "",
        }
    )


@endpoint(auth=False)
def app_verify_credentials(request: HttpRequest) -> HttpResponse:
    credential: Credential | None = request.mastodon_credential  # type: ignore[attr-defined]
    if credential is None:
        return error(INVALID_TOKEN, 401)
    return JsonResponse(
        {
            "name": credential.app_name or "civichub",
            "website": credential.app_website or None,
            "scopes": credential.scopes.split(),
        }
    )


@endpoint(scopes_needed=READ_ACCOUNTS)
def preferences(request: HttpRequest) -> HttpResponse:
    return JsonResponse(
        {
            "posting:default:visibility": "public",
            "posting:default:sensitive": False,
            "posting:default:language": "zh",
            "reading:expand:media": "default",
            "reading:expand:spoilers": False,
        }
    )


@endpoint(auth=False)
def nothing_here(request: HttpRequest) -> HttpResponse:
    """Mastodon features civichub does not have (custom emojis, filters, lists, announcements,
    bookmarks): an empty list, so that clients asking at start-up carry on."""
    return empty(request)
