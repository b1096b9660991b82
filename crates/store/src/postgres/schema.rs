//! The receiver's PostgreSQL schema, in numbered steps (see [`super::migrate`]). The same
//! tables as SQLite's, with the same guards: the partial unique index on active bookings, the
//! primary key on request ids, the append-only audit log enforced by the database.
//!
//! Steps are append-only: a released step is never edited, a change is a new step.

use crate::sqlite::migrate::Migrations;

pub const RECEIVER: Migrations = Migrations {
    component: "receiver",
    steps: STEPS,
};

const STEPS: &[&str] = &[
    // 1: the receiver's booking tables, idempotency records, leased outbox and audit log.
    r#"
    CREATE TABLE resource (
        resource_type TEXT NOT NULL,
        id TEXT COLLATE "C" NOT NULL,
        version BIGINT NOT NULL,
        last_updated_ns BIGINT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (resource_type, id)
    );

    CREATE TABLE schedule (
        id TEXT COLLATE "C" PRIMARY KEY,
        service_id TEXT NOT NULL,
        version BIGINT NOT NULL,
        last_updated_ns BIGINT NOT NULL,
        body TEXT NOT NULL,
        slot_template TEXT NOT NULL
    );
    CREATE INDEX schedule_by_service ON schedule (service_id);

    -- Ids compare byte by byte (COLLATE "C"), as in SQLite and Rust: search pages resume
    -- after a (start, id) cursor, so every ordering must agree on it.
    CREATE TABLE slot (
        id TEXT COLLATE "C" PRIMARY KEY,
        schedule_id TEXT NOT NULL REFERENCES schedule (id),
        service_id TEXT NOT NULL,
        status TEXT NOT NULL,
        start_ns BIGINT NOT NULL,
        end_ns BIGINT NOT NULL,
        version BIGINT NOT NULL,
        last_updated_ns BIGINT NOT NULL,
        extra TEXT,
        CHECK (start_ns < end_ns)
    );
    CREATE INDEX slot_search ON slot (service_id, status, start_ns, id);

    CREATE TABLE appointment (
        id TEXT COLLATE "C" PRIMARY KEY,
        version BIGINT NOT NULL,
        status TEXT NOT NULL,
        service_id TEXT,
        patient TEXT,
        start_ns BIGINT,
        end_ns BIGINT,
        created_ns BIGINT NOT NULL,
        last_updated_ns BIGINT NOT NULL,
        pointer_id TEXT,
        body TEXT NOT NULL
    );
    CREATE INDEX appointment_by_patient ON appointment (patient, start_ns);

    CREATE TABLE appointment_version (
        id TEXT NOT NULL,
        version BIGINT NOT NULL,
        last_updated_ns BIGINT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (id, version)
    );

    CREATE TABLE appointment_slot (
        appointment_id TEXT NOT NULL,
        slot_id TEXT COLLATE "C" NOT NULL,
        active BOOLEAN NOT NULL,
        PRIMARY KEY (appointment_id, slot_id)
    );
    -- The last line of defence against double booking: at most one active booking per slot,
    -- whichever instance wrote it.
    CREATE UNIQUE INDEX one_active_booking_per_slot ON appointment_slot (slot_id) WHERE active;

    CREATE TABLE request (
        request_id TEXT NOT NULL,
        correlation_id TEXT NOT NULL,
        sender TEXT NOT NULL,
        succeeded BOOLEAN NOT NULL,
        status INTEGER,
        body TEXT,
        location TEXT,
        recorded_ns BIGINT NOT NULL,
        PRIMARY KEY (request_id, correlation_id, sender)
    );
    CREATE INDEX request_by_age ON request (recorded_ns);

    -- seq orders each appointment's jobs: they are inserted after the appointment row is
    -- locked, so a later change of one appointment always gets a larger seq.
    CREATE TABLE outbox (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        appointment_id TEXT NOT NULL,
        appointment_version BIGINT NOT NULL,
        action TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_ns BIGINT NOT NULL,
        last_error TEXT,
        created_ns BIGINT NOT NULL,
        done_ns BIGINT,
        leased_by TEXT,
        leased_until_ns BIGINT
    );
    -- The head of each appointment's queue, and the pending jobs in order: the two lookups of
    -- a claim, kept small by leaving delivered jobs out.
    CREATE INDEX outbox_undelivered ON outbox (appointment_id, seq) WHERE state <> 'done';
    CREATE INDEX outbox_pending ON outbox (seq) WHERE state = 'pending';

    CREATE TABLE audit (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at_ns BIGINT NOT NULL,
        request_id TEXT NOT NULL,
        correlation_id TEXT NOT NULL,
        sender_ods TEXT,
        sender_software TEXT,
        sender_app TEXT,
        action TEXT NOT NULL,
        resource_type TEXT NOT NULL,
        resource_id TEXT,
        version BIGINT,
        outcome INTEGER NOT NULL,
        patient TEXT
    );
    CREATE INDEX audit_by_resource ON audit (resource_id);
    CREATE INDEX audit_by_patient ON audit (patient);
    CREATE INDEX audit_by_request ON audit (request_id);
    -- The audit log is append-only: the database itself refuses edits, deletions and TRUNCATE.
    CREATE FUNCTION audit_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'the audit log is append-only'; END
    $$;
    CREATE TRIGGER audit_is_append_only_row BEFORE UPDATE OR DELETE ON audit
        FOR EACH ROW EXECUTE FUNCTION audit_is_append_only();
    CREATE TRIGGER audit_is_append_only_truncate BEFORE TRUNCATE ON audit
        FOR EACH STATEMENT EXECUTE FUNCTION audit_is_append_only();
    "#,
];

/// The provider's side, a component of its own (see the SQLite schema's `PROVIDER`).
pub const PROVIDER: Migrations = Migrations {
    component: "receiver-provider",
    steps: PROVIDER_STEPS,
};

const PROVIDER_STEPS: &[&str] = &[
    // 1: appointment events and their webhook deliveries, external slot ids, the day list's index.
    r#"
    -- seq is taken under a lock held until commit (see events.rs), so it orders events as
    -- their changes committed: a feed reader resuming after a seq misses none.
    CREATE TABLE appointment_event (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        appointment_id TEXT NOT NULL,
        version BIGINT NOT NULL,
        service_id TEXT,
        action TEXT NOT NULL,
        status TEXT NOT NULL,
        actor_ods TEXT,
        at_ns BIGINT NOT NULL,
        UNIQUE (appointment_id, version)
    );
    CREATE INDEX event_by_service ON appointment_event (service_id, seq);

    CREATE TABLE event_subscriber (
        id TEXT COLLATE "C" PRIMARY KEY,
        service_id TEXT NOT NULL,
        url TEXT NOT NULL,
        secret TEXT NOT NULL
    );
    CREATE INDEX subscriber_by_service ON event_subscriber (service_id);

    CREATE TABLE event_delivery (
        subscriber_id TEXT COLLATE "C" NOT NULL,
        event_seq BIGINT NOT NULL,
        appointment_id TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_ns BIGINT NOT NULL,
        last_error TEXT,
        leased_by TEXT,
        leased_until_ns BIGINT,
        done_ns BIGINT,
        PRIMARY KEY (subscriber_id, event_seq)
    );
    CREATE INDEX delivery_queue ON event_delivery (subscriber_id, appointment_id, event_seq) WHERE state <> 'done';
    CREATE INDEX delivery_pending ON event_delivery (event_seq) WHERE state = 'pending';

    CREATE TABLE slot_external (
        service_id TEXT NOT NULL,
        external_id TEXT COLLATE "C" NOT NULL,
        slot_id TEXT COLLATE "C" NOT NULL UNIQUE,
        PRIMARY KEY (service_id, external_id)
    );

    CREATE INDEX appointment_by_service_start ON appointment (service_id, start_ns, id);
    "#,
];
