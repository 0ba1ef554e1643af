"""The Dagster layer: one module per concern.

Importing it checks the settings first. The partitions are built at import from
BUDGET_START_DATE, and Dagster reports an exception there as a stack trace, so a bad setting
ends the process here with one line that names it.
"""

import warnings

from dagster import BetaWarning

from budget_pipeline import settings

settings.exit_if_invalid()

# BackfillPolicy on assets is marked beta; single-run backfills are what we want.
warnings.filterwarnings("ignore", category=BetaWarning)
