"""Demo data (`flask seed-demo`): a demo organization and user, realistic evaluations (bulk-inserted fast
enough for 1e5 rows), and error-tracking symbol sets with real stored source maps, pending uploads and
failures to review.

content.py holds what the demo is about, bundles.py builds the minified chunks and their source maps,
seeder.py writes them, through the services' own helpers (accounts, releases, activity entries, storage).
"""

from .seeder import (
    DEFAULT_EVALUATIONS,
    DEFAULT_SYMBOL_SETS,
    DEMO_EMAIL,
    DEMO_ORGANIZATION,
    DEMO_PASSWORD,
    DEMO_URL,
    MAX_SYMBOL_SETS,
    DemoAccount,
    SeededSymbolSets,
    demo_password_works,
    demo_user_exists,
    ensure_demo_account,
    seed_evaluations,
    seed_symbol_sets,
)

__all__ = [
    "DEFAULT_EVALUATIONS",
    "DEFAULT_SYMBOL_SETS",
    "DEMO_EMAIL",
    "DEMO_ORGANIZATION",
    "DEMO_PASSWORD",
    "DEMO_URL",
    "MAX_SYMBOL_SETS",
    "DemoAccount",
    "SeededSymbolSets",
    "demo_password_works",
    "demo_user_exists",
    "ensure_demo_account",
    "seed_evaluations",
    "seed_symbol_sets",
]
