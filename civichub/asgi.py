import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "civichub.settings")
django_application = get_asgi_application()

from civichub.core.events.asgi import module_streams, with_event_streams  # noqa: E402

application = with_event_streams(django_application, module_streams())

# What was loaded to start (modules, templates, URL patterns: several hundred thousand objects)
# stays for the process's life: left out of the garbage collector's full passes, which otherwise
# walk it again each time, a pause of the event loop and of every stream it holds.
gc.freeze()
