"""The Dagster layer: one module per concern.

Importing it checks the settings first. The partitions are built at import from
BUDGET_START_DATE, and Dagster reports an exception there as a stack trace, so a bad setting
ends the process here with one line that names it.
"""

from budget_pipeline import settings

settings.exit_if_invalid()
