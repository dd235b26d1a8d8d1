import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "civichub.settings")
django_application = get_wsgi_application()

from civichub.core.serving import web_application  # noqa: E402

application = web_application(django_application)

# What was loaded to start (modules, templates, URL patterns: several hundred thousand objects)
# stays for the process's life: left out of the garbage collector's full passes, which otherwise
# walk it again each time, a pause of the event loop and of every stream it holds.
gc.freeze()
