"""The Dagster layer: one module per concern."""

import warnings

from dagster import BetaWarning

# BackfillPolicy on assets is marked beta; single-run backfills are what we want.
warnings.filterwarnings("ignore", category=BetaWarning)
