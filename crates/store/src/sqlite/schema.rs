//! The receiver's SQLite schema, in numbered steps (see [`super::migrate`]).
//!
//! Steps are append-only: a released step is never edited, a change is a new step.

use super::migrate::Migrations;

pub const RECEIVER: Migrations = Migrations {
    component: "receiver",
    steps: STEPS,
};

const STEPS: &[&str] = &[
    // 1: the receiver's booking tables, idempotency records, outbox and audit log.
    r#"
    CREATE TABLE resource (
        resource_type TEXT NOT NULL,
        id TEXT NOT NULL,
        version INTEGER NOT NULL,
        last_updated_ns INTEGER NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (resource_type, id)
    ) WITHOUT ROWID;

    CREATE TABLE schedule (
        id TEXT PRIMARY KEY,
        service_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        last_updated_ns INTEGER NOT NULL,
        body TEXT NOT NULL,
        slot_template TEXT NOT NULL
    );
    CREATE INDEX schedule_by_service ON schedule (service_id);

    CREATE TABLE slot (
        id TEXT PRIMARY KEY,
        schedule_id TEXT NOT NULL REFERENCES schedule (id),
        service_id TEXT NOT NULL,
        status TEXT NOT NULL,
        start_ns INTEGER NOT NULL,
        end_ns INTEGER NOT NULL,
        version INTEGER NOT NULL,
        last_updated_ns INTEGER NOT NULL,
        extra TEXT,
        CHECK (start_ns < end_ns)
    );
    -- Slot search reads one service, a status and a window on start: this index answers it
    -- without touching other services' rows however large the table grows.
    CREATE INDEX slot_search ON slot (service_id, status, start_ns, id);

    CREATE TABLE appointment (
        id TEXT PRIMARY KEY,
        version INTEGER NOT NULL,
        status TEXT NOT NULL,
        service_id TEXT,
        patient TEXT,
        start_ns INTEGER,
        end_ns INTEGER,
        created_ns INTEGER NOT NULL,
        last_updated_ns INTEGER NOT NULL,
        pointer_id TEXT,
        body TEXT NOT NULL
    );
    CREATE INDEX appointment_by_patient ON appointment (patient, start_ns);

    CREATE TABLE appointment_version (
        id TEXT NOT NULL,
        version INTEGER NOT NULL,
        last_updated_ns INTEGER NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (id, version)
    ) WITHOUT ROWID;

    CREATE TABLE appointment_slot (
        appointment_id TEXT NOT NULL,
        slot_id TEXT NOT NULL,
        active INTEGER NOT NULL,
        PRIMARY KEY (appointment_id, slot_id)
    ) WITHOUT ROWID;
    -- The last line of defence against double booking: at most one active booking per slot.
    CREATE UNIQUE INDEX one_active_booking_per_slot ON appointment_slot (slot_id) WHERE active = 1;

    CREATE TABLE request (
        request_id TEXT NOT NULL,
        correlation_id TEXT NOT NULL,
        sender TEXT NOT NULL,
        succeeded INTEGER NOT NULL,
        status INTEGER,
        body TEXT,
        location TEXT,
        recorded_ns INTEGER NOT NULL,
        PRIMARY KEY (request_id, correlation_id, sender)
    ) WITHOUT ROWID;
    CREATE INDEX request_by_age ON request (recorded_ns);

    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        appointment_id TEXT NOT NULL,
        appointment_version INTEGER NOT NULL,
        action TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_ns INTEGER NOT NULL,
        last_error TEXT,
        created_ns INTEGER NOT NULL,
        done_ns INTEGER
    );
    CREATE INDEX outbox_pending ON outbox (state, appointment_id, seq);

    CREATE TABLE audit (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        at_ns INTEGER NOT NULL,
        request_id TEXT NOT NULL,
        correlation_id TEXT NOT NULL,
        sender_ods TEXT,
        sender_software TEXT,
        sender_app TEXT,
        action TEXT NOT NULL,
        resource_type TEXT NOT NULL,
        resource_id TEXT,
        version INTEGER,
        outcome INTEGER NOT NULL,
        patient TEXT
    );
    CREATE INDEX audit_by_resource ON audit (resource_id);
    CREATE INDEX audit_by_patient ON audit (patient);
    CREATE INDEX audit_by_request ON audit (request_id);
    -- The audit log is append-only: the database itself refuses edits and deletions.
    CREATE TRIGGER audit_is_append_only_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_is_append_only_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    "#,
    // 2: leases on pointer jobs, so a worker holds a job while delivering it and several
    // workers never deliver the same job; a lease that expires (a crashed worker) frees it.
    r#"
    ALTER TABLE outbox ADD COLUMN leased_by TEXT;
    ALTER TABLE outbox ADD COLUMN leased_until_ns INTEGER;
    "#,
    // 3: request records appended in the order they are made and found through an index of a
    // hash of their key, instead of a table ordered by senders' random request ids (why:
    // requests.rs). The records kept are moved over, oldest first, with their hashes.
    r#"
    CREATE TABLE request_by_arrival (
        key_hash INTEGER NOT NULL,
        request_id TEXT NOT NULL,
        correlation_id TEXT NOT NULL,
        sender TEXT NOT NULL,
        succeeded INTEGER NOT NULL,
        status INTEGER,
        body TEXT,
        location TEXT,
        recorded_ns INTEGER NOT NULL
    );
    INSERT INTO request_by_arrival
        (key_hash, request_id, correlation_id, sender, succeeded, status, body, location, recorded_ns)
        SELECT bars_request_key_hash(request_id, correlation_id, sender), request_id, correlation_id,
               sender, succeeded, status, body, location, recorded_ns
        FROM request ORDER BY recorded_ns;
    DROP TABLE request;
    ALTER TABLE request_by_arrival RENAME TO request;
    CREATE INDEX request_by_key ON request (key_hash);
    CREATE INDEX request_by_age ON request (recorded_ns);
    "#,
    // 4: the change log's request ids indexed a sealed run at a time (see audit.rs), not by an
    // index of random keys updated with every change; what is already logged is the first run.
    r#"
    CREATE TABLE audit_request_run (
        run INTEGER PRIMARY KEY,
        last_seq INTEGER NOT NULL
    );
    CREATE TABLE audit_request_key (
        run INTEGER NOT NULL,
        request_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (run, request_id, seq)
    ) WITHOUT ROWID;
    CREATE TRIGGER audit_request_key_is_append_only_update BEFORE UPDATE ON audit_request_key
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_request_key_is_append_only_delete BEFORE DELETE ON audit_request_key
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_request_run_is_append_only_update BEFORE UPDATE ON audit_request_run
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_request_run_is_append_only_delete BEFORE DELETE ON audit_request_run
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    INSERT INTO audit_request_key (run, request_id, seq)
        SELECT 0, request_id, seq FROM audit ORDER BY request_id, seq;
    INSERT INTO audit_request_run (run, last_seq) SELECT 0, coalesce(max(seq), 0) FROM audit;
    DROP INDEX audit_by_request;
    "#,
];

/// The provider's side, a component of its own so that its steps never interleave with the
/// booking tables' (see [`PROVIDER_STEPS`]).
pub const PROVIDER: Migrations = Migrations {
    component: "receiver-provider",
    steps: PROVIDER_STEPS,
};

const PROVIDER_STEPS: &[&str] = &[
    // 1: appointment events and their webhook deliveries, external slot ids, the day list's index.
    r#"
    CREATE TABLE appointment_event (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        appointment_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        service_id TEXT,
        action TEXT NOT NULL,
        status TEXT NOT NULL,
        actor_ods TEXT,
        at_ns INTEGER NOT NULL,
        UNIQUE (appointment_id, version)
    );
    CREATE INDEX event_by_service ON appointment_event (service_id, seq);

    CREATE TABLE event_subscriber (
        id TEXT PRIMARY KEY,
        service_id TEXT NOT NULL,
        url TEXT NOT NULL,
        secret TEXT NOT NULL
    );
    CREATE INDEX subscriber_by_service ON event_subscriber (service_id);

    CREATE TABLE event_delivery (
        subscriber_id TEXT NOT NULL,
        event_seq INTEGER NOT NULL,
        appointment_id TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_ns INTEGER NOT NULL,
        last_error TEXT,
        leased_by TEXT,
        leased_until_ns INTEGER,
        done_ns INTEGER,
        PRIMARY KEY (subscriber_id, event_seq)
    ) WITHOUT ROWID;
    CREATE INDEX delivery_queue ON event_delivery (subscriber_id, appointment_id, state, event_seq);
    CREATE INDEX delivery_due ON event_delivery (state, next_attempt_ns);

    CREATE TABLE slot_external (
        service_id TEXT NOT NULL,
        external_id TEXT NOT NULL,
        slot_id TEXT NOT NULL UNIQUE,
        PRIMARY KEY (service_id, external_id)
    ) WITHOUT ROWID;

    CREATE INDEX appointment_by_service_start ON appointment (service_id, start_ns, id);
    "#,
];
