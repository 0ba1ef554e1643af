# The budget_pipeline image: the code location, and the Dagster webserver and daemon.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DAGSTER_HOME=/opt/dagster/home \
    BUDGET_LANDING_DIR=/opt/dagster/landing

WORKDIR /opt/dagster/app
COPY pyproject.toml README.md ./
COPY budget_pipeline ./budget_pipeline
RUN pip install --no-cache-dir . \
    && mkdir -p "$DAGSTER_HOME" "$BUDGET_LANDING_DIR"
COPY dagster.yaml "$DAGSTER_HOME/dagster.yaml"
COPY deploy ./deploy

EXPOSE 3000 4000
