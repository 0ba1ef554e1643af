"""The budget database: typed SQLAlchemy models. Migrations under `migrations/` create them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import cast

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from budget_pipeline.store.types import Money, UTCDateTime, opaque_id

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Brand(Base):
    __tablename__ = "brands"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    timezone: Mapped[str] = mapped_column(String(64))
    daily_budget: Mapped[Decimal] = mapped_column(Money)
    monthly_budget: Mapped[Decimal] = mapped_column(Money)
    # ISO 4217 code of the budgets' and spend's currency.
    currency: Mapped[str] = mapped_column(String(3), server_default="USD")
    # Sorted, comma-separated percents of a budget at which an alert fires ("" for none);
    # see store.catalog.alerts_text / parse_alerts.
    alerts: Mapped[str] = mapped_column(String(4000), server_default="80,100")
    # Predictive pause: how far ahead spend is projected, in minutes; None for none.
    pause_ahead_minutes: Mapped[int | None] = mapped_column(Integer)
    # The brand-local date / month start of the last reset, so each zone resets once, on time.
    last_daily_reset: Mapped[dt.date | None] = mapped_column(Date)
    last_monthly_reset: Mapped[dt.date | None] = mapped_column(Date)

    # The brands with a pause_ahead, which every incremental enforcement reads (migration 0017).
    __table_args__ = (
        Index(
            "ix_brands_pause_ahead",
            "id",
            postgresql_where=text("pause_ahead_minutes IS NOT NULL"),
            sqlite_where=text("pause_ahead_minutes IS NOT NULL"),
        ),
    )


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    daily_cap: Mapped[Decimal | None] = mapped_column(Money)
    monthly_cap: Mapped[Decimal | None] = mapped_column(Money)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Sorted, comma-separated pause reasons ("" when active); see rules.reasons.
    pause_reasons: Mapped[str] = mapped_column(String(200), default="")
    status_changed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Its dayparting windows as one text (rules.dayparting.window_key; "" = any hour), kept by
    # catalog apply beside dayparting_windows: campaigns with equal windows are decided together.
    window_key: Mapped[str] = mapped_column(Text, default="", server_default="")


class DaypartingWindow(Base):
    __tablename__ = "dayparting_windows"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    # Bit i set = the window may start on weekday i (0 = Monday).
    weekdays: Mapped[int] = mapped_column(Integer)
    start_minute: Mapped[int] = mapped_column(Integer)
    end_minute: Mapped[int] = mapped_column(Integer)


class SpendFile(Base):
    """One ingestion of one spend file; its id tags every record and quarantined row it added."""

    __tablename__ = "spend_files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(500))
    # name:size:mtime_ns: the same file seen again (say after a crash before it moved) has the same key.
    file_key: Mapped[str] = mapped_column(String(600), index=True)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    duplicate: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)


class RawSpendRecord(Base):
    __tablename__ = "raw_spend_records"

    record_id: Mapped[str] = mapped_column(opaque_id(128), primary_key=True)
    campaign_id: Mapped[str] = mapped_column(String(64))
    amount: Mapped[Decimal] = mapped_column(Money)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # The brand-local calendar date of occurred_at: the daily_spend partition it belongs to.
    local_date: Mapped[dt.date] = mapped_column(Date)
    file_id: Mapped[int] = mapped_column(Integer)
    line_no: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        # Partition rebuilds find a window of local dates here. A narrow index on purpose: every
        # indexed column is a B-tree insert per ingested record (migration 0003 says how much).
        Index("ix_raw_spend_records_local_date", "local_date"),
    )


class QuarantinedRow(Base):
    __tablename__ = "quarantined_rows"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    file_key: Mapped[str] = mapped_column(String(600))
    file_name: Mapped[str] = mapped_column(String(500))
    line_no: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    record_id: Mapped[str | None] = mapped_column(String(200))
    raw: Mapped[str] = mapped_column(Text)
    file_id: Mapped[int] = mapped_column(Integer)
    # When the row was quarantined: the database's clock at insert (migration 0007).
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, server_default=text("CURRENT_TIMESTAMP"))

    __table_args__ = (UniqueConstraint("file_key", "line_no", name="uq_quarantined_rows_file_line"),)


class DirtySpendDay(Base):
    """A brand-local date whose raw records changed since its daily_spend partition was built."""

    __tablename__ = "dirty_spend_days"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    # The spend_files.id that marked the day last (0: a catalog change did). A rebuild locks the
    # marks it clears, so a mark made while it runs survives it (store.upkeep.claim_dirty_days).
    file_id: Mapped[int] = mapped_column(Integer)
    # Only the campaigns of dirty_spend_campaigns changed in the day (spend files that touched a
    # few): a refresh sums their records alone. False: the whole day (a catalog change, 0016).
    campaigns_only: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class DirtySpendCampaign(Base):
    """A campaign whose records of a `campaigns_only` dirty day changed since it was built."""

    __tablename__ = "dirty_spend_campaigns"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    campaign_id: Mapped[str] = mapped_column(String(64), primary_key=True)


class MonthChecked(Base):
    """A month whose monthly_spend is known to equal its days summed: summed from them, or
    checked against them whole (0015). A refresh then checks only the brands its carry touched."""

    __tablename__ = "months_checked"

    month: Mapped[dt.date] = mapped_column(Date, primary_key=True)


class BrandToEnforce(Base):
    """A brand whose spend (or, for brand 0, whose catalog: every brand) changed since enforcement
    last evaluated it. Marks are only ever added, one per brand and spend file, and removed by
    the enforcement that saw them (store.marks), so writers never wait on each other."""

    __tablename__ = "brands_to_enforce"
    # A seq is never given twice, on SQLite too (0018): a catalog change's run key is its mark's.
    __table_args__ = {"sqlite_autoincrement": True}

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    brand_id: Mapped[int] = mapped_column(Integer)
    # The earliest brand-local date of the records that marked the brand (None: a catalog
    # change): enforcement looks for alerts back to it, so late spend has its alerts (0011).
    first_day: Mapped[dt.date | None] = mapped_column(Date)


class EnforcedZone(Base):
    """The local date of each time zone at the last enforcement: a zone whose date has moved on
    since has every brand re-evaluated (its day's and maybe its month's spend start over)."""

    __tablename__ = "enforced_zones"

    timezone: Mapped[str] = mapped_column(String(64), primary_key=True)
    local_date: Mapped[dt.date] = mapped_column(Date)


class DailySpend(Base):
    __tablename__ = "daily_spend"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    campaign_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    brand_id: Mapped[int] = mapped_column(Integer)
    spend: Mapped[Decimal] = mapped_column(Money)
    records: Mapped[int] = mapped_column(Integer)

    # Enforcement reads brand and capped-campaign spend from this index alone (migration 0004).
    __table_args__ = (
        Index("ix_daily_spend_day_brand", "day", "brand_id", postgresql_include=["campaign_id", "spend"]),
    )


class MonthlySpend(Base):
    __tablename__ = "monthly_spend"

    month: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    campaign_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    brand_id: Mapped[int] = mapped_column(Integer)
    spend: Mapped[Decimal] = mapped_column(Money)
    records: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_monthly_spend_month_brand", "month", "brand_id"),)


class _BrandTotal:
    """The columns of a per-brand spend aggregate after its period key (day or month)."""

    brand_id: Mapped[int] = mapped_column(Integer, primary_key=True, sort_order=1)
    spend: Mapped[Decimal] = mapped_column(Money, sort_order=2)
    records: Mapped[int] = mapped_column(Integer, sort_order=3)


class DailyBrandSpend(_BrandTotal, Base):
    """daily_spend summed per brand, written by the same rebuild: enforcement reads each brand's
    day by primary key instead of summing its campaigns' rows (migration 0006)."""

    __tablename__ = "daily_brand_spend"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True, sort_order=0)

    # A few brands' days (an incremental enforcement's later days, late spend's alerts) are read
    # by brand, not by scanning every brand's rows of those days (migration 0013).
    __table_args__ = (Index("ix_daily_brand_spend_brand_day", "brand_id", "day", postgresql_include=["spend"]),)


class MonthlyBrandSpend(_BrandTotal, Base):
    """monthly_spend summed per brand, written by the same rebuild."""

    __tablename__ = "monthly_brand_spend"

    month: Mapped[dt.date] = mapped_column(Date, primary_key=True, sort_order=0)


class StatusLog(Base):
    __tablename__ = "campaign_status_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    campaign_id: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    active_before: Mapped[bool] = mapped_column(Boolean)
    active_after: Mapped[bool] = mapped_column(Boolean)
    reasons_before: Mapped[str] = mapped_column(String(200))
    reasons_after: Mapped[str] = mapped_column(String(200))
    changed_reason: Mapped[str] = mapped_column(String(200))
    run_id: Mapped[str] = mapped_column(String(64))
    # A budget reason added because spend was projected to reach the budget (pause_ahead).
    predicted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Alert(Base):
    """A brand's spend reaching one of its `alerts` percents of a budget in one local day or
    month: recorded once per brand, period, period start and percent (migration 0011)."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    brand_id: Mapped[int] = mapped_column(Integer)
    period: Mapped[str] = mapped_column(String(8))  # "daily" or "monthly"
    period_start: Mapped[dt.date] = mapped_column(Date)
    percent: Mapped[int] = mapped_column(Integer)
    spend: Mapped[Decimal] = mapped_column(Money)
    budget: Mapped[Decimal] = mapped_column(Money)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    run_id: Mapped[str] = mapped_column(String(64))
    # The brand's currency when the alert was recorded (migration 0012).
    currency: Mapped[str] = mapped_column(String(3), server_default="USD")

    __table_args__ = (
        # Period start first: enforcement reads the alerts of the few periods in play.
        UniqueConstraint("period_start", "period", "brand_id", "percent", name="uq_alerts_period_brand_percent"),
    )


class Notification(Base):
    """The outbox: one row per status change and per alert, written in the change's transaction,
    then delivered to the webhook in `seq` order per campaign (migration 0011)."""

    __tablename__ = "notifications"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Stable and unique: the receiver's idempotency key. Since migration 0014 unique by how it is
    # made, not by an index: a write's 16-digit random prefix (so a restored or copied database
    # does not repeat ids a receiver has seen), ":", and the status-log row's id and ":" and the
    # campaign's, or "alert:" and the alert's id (before 0014: the campaign's id alone).
    id: Mapped[str] = mapped_column(String(128))
    # Since migration 0014 none for a status change (rendered from its log row when read).
    type: Mapped[str | None] = mapped_column(String(32))
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # Since migration 0014 none until a catalog apply renames or moves the campaign (then the
    # names of when it was written): the brand of the alert, or of the campaign, when read.
    brand: Mapped[str | None] = mapped_column(String(200))
    campaign_id: Mapped[str | None] = mapped_column(String(64))
    # The payload's "data" object, fixed when the row was written before migration 0012; since
    # then none: it is rendered, when read, from the alert or the status-log row the notification
    # names (neither ever changes). The human line likewise (see `brand`), except for rows
    # written before migration 0014, whose status changes' lines were written with them.
    data: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str | None] = mapped_column(Text)
    alert_id: Mapped[int | None] = mapped_column(Integer)
    log_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), server_default="pending")  # pending, delivered, failed
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    first_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # None while pending: due at the next delivery.
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    # Delivery reads the pending rows in order; the delivered and failed ones it never reads.
    __table_args__ = (Index("ix_notifications_status_seq", "status", "seq"),)


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


# Core handles for the set-based statements in store/ and ingest/.
brands_table = _table(Brand)
campaigns_table = _table(Campaign)
windows_table = _table(DaypartingWindow)
spend_files_table = _table(SpendFile)
raw_table = _table(RawSpendRecord)
quarantine_table = _table(QuarantinedRow)
dirty_days_table = _table(DirtySpendDay)
dirty_campaigns_table = _table(DirtySpendCampaign)
daily_table = _table(DailySpend)
monthly_table = _table(MonthlySpend)
daily_brand_table = _table(DailyBrandSpend)
monthly_brand_table = _table(MonthlyBrandSpend)
months_checked_table = _table(MonthChecked)
status_log_table = _table(StatusLog)
brands_to_enforce_table = _table(BrandToEnforce)
enforced_zones_table = _table(EnforcedZone)
alerts_table = _table(Alert)
notifications_table = _table(Notification)
