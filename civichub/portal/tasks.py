"""The portal's tasks (declared beside the services they call): keeping public notices in
search current."""

from civichub.portal.services import notice_reindex, notices_refresh

__all__ = ["notice_reindex", "notices_refresh"]
