"""The small web page to try faceproof in a browser (enrol, verify, identify), served by the API itself.

Why inside the API: one process, one origin, so the page needs no CORS and its Content-Security-Policy can allow
only ``'self'``. The page is plain HTML, CSS and JavaScript under ``static/`` with no build step and nothing fetched
from another site; :mod:`faceproof.web.routes` serves it with security headers.
"""
