from __future__ import annotations

from tests.browser import browser  # noqa: F401  (fixture)
from tests.chat.conftest import asgi_server, corpus, seeded, team  # noqa: F401  (fixtures)
