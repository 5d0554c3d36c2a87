"""SQLAlchemy Core tables. The schema is owned by the Alembic migrations in `migrations/`; these
definitions mirror them for queries (a test checks the two agree)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

from service.storage.types import UtcDateTime

metadata = MetaData()

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a real BIGINT identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")

# The columns the comparison report reads (service/storage/report_repo.py), scheduled start first.
REPORT_COLUMNS = (
    "start_at",
    "status",
    "kind",
    "provider",
    "organizer_email",
    "origin",
    "duration_minutes",
    "end_at",
    "actual_start",
    "actual_end",
    "attended_count",
    "attended_internal_count",
    "attended_external_count",
    "invited_count",
    "invited_attended_count",
    "internal_attended_seconds",
)

meetings = Table(
    "meetings",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("external_system", String(100)),
    Column("external_id", String(200)),
    Column("origin", String(16), nullable=False),  # "api" (CRM) or "provider" (seen only in webhooks)
    Column("title", String(300), nullable=False),
    Column("agenda", Text),
    Column("kind", String(16), nullable=False),
    Column("kind_derived", Boolean, nullable=False),
    Column("start_at", UtcDateTime(), nullable=False),
    Column("end_at", UtcDateTime(), nullable=False),
    Column("duration_minutes", Integer, nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("organizer_email", String(320), nullable=False),
    Column("organizer_name", String(300)),
    Column("provider", String(16)),
    Column("provider_meeting_id", String(200)),
    # "" for a meeting scheduled here (it spans every instance the provider runs under its id); the
    # instance (Zoom's uuid) for one seen only in events, so a reused personal room is many meetings.
    Column("provider_instance", String(200), nullable=False),
    Column("provider_extra", JSON, nullable=False),
    Column("join_url", Text),
    Column("start_url", Text),
    Column("status", String(16), nullable=False),
    Column("provider_attempts", JSON, nullable=False),
    Column("actual_start", UtcDateTime()),
    Column("actual_end", UtcDateTime()),
    Column("reported_start", UtcDateTime()),
    Column("reported_end", UtcDateTime()),
    Column("completeness", String(16), nullable=False),
    Column("completeness_reason", Text),
    Column("attendance_dirty", Boolean, nullable=False),
    # A refresh that failed is retried at refresh_after, later after each further failure.
    Column("refresh_failures", Integer, nullable=False, server_default="0"),
    Column("refresh_after", UtcDateTime()),
    Column("reconcile_after", UtcDateTime()),
    Column("reconcile_attempts", Integer, nullable=False),
    # Who is changing the meeting on its provider right now, and until when (see schedule_meeting).
    Column("change_owner", String(64)),
    Column("change_until", UtcDateTime()),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    # The attendance record's counts, kept with it by attendance_repo.write_participants: the
    # comparison report sums meetings (a year: ~250k) instead of participant rows (millions).
    Column("attended_count", Integer, nullable=False, server_default="0"),
    Column("attended_internal_count", Integer, nullable=False, server_default="0"),
    Column("attended_external_count", Integer, nullable=False, server_default="0"),
    Column("invited_count", Integer, nullable=False, server_default="0"),
    Column("invited_attended_count", Integer, nullable=False, server_default="0"),
    Column("internal_attended_seconds", BigInteger, nullable=False, server_default="0"),
    UniqueConstraint("external_system", "external_id", name="uq_meetings_external_ref"),
    UniqueConstraint(
        "provider", "provider_meeting_id", "provider_instance", name="uq_meetings_provider_meeting"
    ),
    Index("ix_meetings_start_at", "start_at"),
    Index("ix_meetings_organizer", "organizer_email"),
    Index("ix_meetings_reconcile_after", "reconcile_after"),
    # Everything the comparison report reads, by scheduled start: a period is one range of this index
    # and never a random read of each row (on SQLite a year's report is ~3x faster this way).
    Index("ix_meetings_report", *REPORT_COLUMNS),
    # The report's lookup of a participant row's meeting (per-person rates): by id, with what it
    # filters and groups by, so the meeting's row itself is never read.
    Index("ix_meetings_report_lookup", "id", "start_at", "status", "kind", "provider", "organizer_email"),
)

meeting_attendees = Table(
    "meeting_attendees",
    metadata,
    Column("meeting_id", String(36), ForeignKey("meetings.id", ondelete="CASCADE"), primary_key=True),
    Column("email", String(320), primary_key=True),
    Column("name", String(300)),
    Column("required", Boolean, nullable=False),
    Column("classification", String(16), nullable=False),
    # The attendee's registration on the provider (Zoom registration): their own join link, and the
    # id the provider's webhooks and report name them by when it hides their e-mail.
    Column("registrant_id", String(200)),
    Column("join_url", Text),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("provider", String(16), nullable=False),
    Column("delivery_key", String(128), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("headers", JSON, nullable=False),
    # unresolved (waits for the provider's resolver) | pending | done | parked
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime(), nullable=False),
    Column("last_error", Text),
    Column("processed_at", UtcDateTime()),
    # The events a resolver fetched for a delivery that only names resources (see integrations.plugin).
    Column("needs_resolution", Boolean, nullable=False, server_default=false()),
    Column("resolved_events", JSON),
    UniqueConstraint("provider", "delivery_key", name="uq_webhook_deliveries_key"),
    Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
)

attendance_events = Table(
    "attendance_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("provider", String(16), nullable=False),
    Column("provider_meeting_id", String(200), nullable=False),
    Column("event_key", String(400), nullable=False),
    Column("type", String(32), nullable=False),
    Column("occurred_at", UtcDateTime(), nullable=False),
    Column("email", String(320)),
    Column("provider_participant_id", String(200)),
    Column("participant_name", String(300)),
    Column("session_key", String(200)),
    Column("meeting_title", String(300)),
    Column("host_email", String(320)),
    Column("provider_meeting_instance", String(200)),
    Column("delivery_id", BigInteger),
    Column("registrant_id", String(200)),
    UniqueConstraint("provider", "provider_meeting_id", "event_key", name="uq_attendance_events_key"),
    Index("ix_attendance_events_meeting", "provider", "provider_meeting_id"),
)

reported_sessions = Table(
    "reported_sessions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("meeting_id", String(36), ForeignKey("meetings.id", ondelete="CASCADE"), nullable=False),
    Column("email", String(320)),
    Column("provider_participant_id", String(200)),
    Column("participant_name", String(300)),
    Column("joined_at", UtcDateTime(), nullable=False),
    Column("left_at", UtcDateTime(), nullable=False),
    Column("registrant_id", String(200)),
    Column("in_waiting_room", Boolean, nullable=False, server_default=false()),
    Column("provider_meeting_instance", String(200)),
    Index("ix_reported_sessions_meeting", "meeting_id"),
)

participant_attendance = Table(
    "participant_attendance",
    metadata,
    Column("meeting_id", String(36), ForeignKey("meetings.id", ondelete="CASCADE"), primary_key=True),
    Column("participant_key", String(420), primary_key=True),
    Column("email", String(320)),
    Column("name", String(300)),
    Column("classification", String(16), nullable=False),
    Column("invited", Boolean, nullable=False),
    Column("attended_seconds", Integer, nullable=False),
    Column("attended", Boolean, nullable=False),
    Column("first_join", UtcDateTime()),
    Column("last_leave", UtcDateTime()),
    Column("late_seconds", Integer, nullable=False),
    Column("sessions", JSON, nullable=False),
    Column("identified_by", String(16)),
    Column("waiting_seconds", Integer, nullable=False, server_default="0"),
    # The report prices each internal person's time by their own rate: it finds their rows by e-mail.
    Index("ix_participant_attendance_email", "email", "classification", "meeting_id", "attended_seconds"),
)

# Each meeting's attendance record as last computed (the domain record as JSON), so a read serves it
# instead of recomputing it from every event. `inputs` fingerprints what besides the events it was
# computed from (invitees, schedule, completeness, company policy): a record whose inputs changed
# since, or whose meeting is dirty, is not served.
attendance_records = Table(
    "attendance_records",
    metadata,
    Column("meeting_id", String(36), ForeignKey("meetings.id", ondelete="CASCADE"), primary_key=True),
    Column("inputs", String(64), nullable=False),
    Column("computed_at", UtcDateTime(), nullable=False),
    Column("record", Text, nullable=False),
)

job_leases = Table(
    "job_leases",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("owner", String(100), nullable=False),
    Column("lease_until", UtcDateTime(), nullable=False),
)

provider_status = Table(
    "provider_status",
    metadata,
    Column("provider", String(16), primary_key=True),
    Column("last_webhook_at", UtcDateTime()),
    Column("last_error", Text),
    Column("last_error_at", UtcDateTime()),
    Column("last_success_at", UtcDateTime()),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("provider", String(16), nullable=False),
    Column("resource", String(400), nullable=False),
    Column("provider_subscription_id", String(200)),
    Column("expires_at", UtcDateTime()),
    Column("state", String(16), nullable=False),  # active | failed | deleted
    Column("last_error", Text),
    Column("updated_at", UtcDateTime(), nullable=False),
    UniqueConstraint("provider", "resource", name="uq_subscriptions_resource"),
)

# -- CRM connectors (integrations/crm): inbound deliveries, per-record state, and the write-back outbox

crm_deliveries = Table(
    "crm_deliveries",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("crm", String(16), nullable=False),
    Column("delivery_key", String(128), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("headers", JSON, nullable=False),
    Column("status", String(16), nullable=False),  # pending | done | parked
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime(), nullable=False),
    Column("last_error", Text),
    Column("processed_at", UtcDateTime()),
    UniqueConstraint("crm", "delivery_key", name="uq_crm_deliveries_key"),
    Index("ix_crm_deliveries_due", "status", "next_attempt_at"),
)

# One row per CRM record that became a meeting: the newest version applied (older deliveries are
# not applied after it) and what the write-back needs (associated ids).
crm_records = Table(
    "crm_records",
    metadata,
    Column("crm", String(16), primary_key=True),
    Column("object_id", String(200), primary_key=True),
    Column("meeting_id", String(36)),
    Column("applied_version", BigInteger),
    Column("context", JSON, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

crm_outbox = Table(
    "crm_outbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("crm", String(16), nullable=False),
    Column("meeting_id", String(36), ForeignKey("meetings.id", ondelete="CASCADE"), nullable=False),
    # The CRM's id of the object written (HubSpot's meeting engagement): a retry updates it.
    Column("remote_id", String(200)),
    Column("state", String(16), nullable=False),  # pending | done | parked
    Column("outcome", String(32)),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime(), nullable=False),
    Column("last_error", Text),
    # The meeting's updated_at this write covers: a later change to the meeting enqueues it again.
    Column("meeting_version", UtcDateTime(), nullable=False),
    Column("written_at", UtcDateTime()),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    UniqueConstraint("crm", "meeting_id", name="uq_crm_outbox_meeting"),
    Index("ix_crm_outbox_due", "state", "next_attempt_at"),
)
