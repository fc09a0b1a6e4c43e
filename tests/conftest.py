# Fixtures live in their own modules; add yours to this list.
pytest_plugins = [
    "tests.servers",
    "tests.live_stack",
    "tests.pages.browser",
    "tests.smtp_server",
    "tests.cluster",
]
