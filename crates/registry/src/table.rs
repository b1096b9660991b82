//! The `registry_pointer` table as both backends see it: one schema written once for two
//! dialects, the columns a pointer is read from and how a row of either driver becomes a
//! [`StoredPointer`], and the decisions both backends make the same way on what they read.
//! What is left in [`crate::sqlite`] and [`crate::postgres`] is each dialect's SQL and driver.

use bars_fhir::resource::stamp;
use bars_fhir::{Instant, NhsNumber};
use bars_store::StoreError;

use crate::store::{
    Cursor, NewPointer, PointerKeys, PointerPage, PointerQuery, StoredPointer, SupersedeRefusal,
    WriteError,
};

/// The Registry's one schema step in a dialect: `$seq` is the type of a sequence number that
/// only grows and is never reused (it gives searches a stable order and continuation tokens a
/// position that deletions cannot shift), `$int` that of a 64-bit integer.
macro_rules! schema {
    ($seq:literal, $int:literal) => {
        concat!(
            "CREATE TABLE registry_pointer (
            seq ",
            $seq,
            ",
            id TEXT NOT NULL UNIQUE,
            custodian TEXT NOT NULL,
            subject TEXT NOT NULL,
            type TEXT NOT NULL,
            category TEXT NOT NULL,
            appointment_id TEXT,
            version ",
            $int,
            " NOT NULL CHECK (version >= 1),
            last_updated TEXT NOT NULL,
            body TEXT NOT NULL
        );
        CREATE INDEX registry_pointer_by_subject ON registry_pointer (subject, seq);
        CREATE INDEX registry_pointer_by_custodian ON registry_pointer (custodian, seq);
        CREATE INDEX registry_pointer_by_appointment ON registry_pointer (appointment_id)
            WHERE appointment_id IS NOT NULL;"
        )
    };
}
pub(crate) use schema;

/// The columns a stored pointer is read from, in the order [`RawRow::read`] expects.
pub(crate) const COLUMNS: &str =
    "id, custodian, subject, type, category, appointment_id, version, last_updated, body";

/// A row of either driver, read column by column.
pub(crate) trait Columns {
    type Error;
    fn text(&self, i: usize) -> Result<String, Self::Error>;
    fn opt_text(&self, i: usize) -> Result<Option<String>, Self::Error>;
    fn int(&self, i: usize) -> Result<i64, Self::Error>;
}

impl Columns for rusqlite::Row<'_> {
    type Error = rusqlite::Error;
    fn text(&self, i: usize) -> rusqlite::Result<String> {
        self.get(i)
    }
    fn opt_text(&self, i: usize) -> rusqlite::Result<Option<String>> {
        self.get(i)
    }
    fn int(&self, i: usize) -> rusqlite::Result<i64> {
        self.get(i)
    }
}

impl Columns for tokio_postgres::Row {
    type Error = tokio_postgres::Error;
    fn text(&self, i: usize) -> Result<String, tokio_postgres::Error> {
        self.try_get(i)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>, tokio_postgres::Error> {
        self.try_get(i)
    }
    fn int(&self, i: usize) -> Result<i64, tokio_postgres::Error> {
        self.try_get(i)
    }
}

/// A row as a backend returns it, before the checks that turn it into a [`StoredPointer`].
pub(crate) struct RawRow {
    id: String,
    custodian: String,
    subject: String,
    type_token: String,
    category_token: String,
    appointment_id: Option<String>,
    version: i64,
    last_updated: String,
    body: String,
}

impl RawRow {
    /// Reads [`COLUMNS`] starting at column `at`.
    pub(crate) fn read<R: Columns>(r: &R, at: usize) -> Result<RawRow, R::Error> {
        Ok(RawRow {
            id: r.text(at)?,
            custodian: r.text(at + 1)?,
            subject: r.text(at + 2)?,
            type_token: r.text(at + 3)?,
            category_token: r.text(at + 4)?,
            appointment_id: r.opt_text(at + 5)?,
            version: r.int(at + 6)?,
            last_updated: r.text(at + 7)?,
            body: r.text(at + 8)?,
        })
    }

    /// A row that does not read back is corruption, not a caller's mistake: 500, and the
    /// message names the column, never its value.
    pub(crate) fn into_pointer(self) -> Result<StoredPointer, StoreError> {
        let corrupt =
            |what: &str| StoreError::Internal(format!("pointer {}: unreadable {what}", self.id));
        let subject = NhsNumber::parse(&self.subject).map_err(|_| corrupt("subject"))?;
        let last_updated =
            Instant::parse(&self.last_updated).map_err(|_| corrupt("last_updated"))?;
        let body = serde_json::from_str(&self.body).map_err(|_| corrupt("body"))?;
        let version = u64::try_from(self.version).map_err(|_| corrupt("version"))?;
        Ok(StoredPointer {
            keys: PointerKeys {
                custodian: self.custodian,
                subject,
                type_token: self.type_token,
                category_token: self.category_token,
                appointment_id: self.appointment_id,
            },
            id: self.id,
            version,
            last_updated,
            body,
        })
    }
}

/// The values a pointer row is written from, in [`COLUMNS`] order: the same nine bound
/// parameters (`1` to `9`) serve the INSERT and the UPDATE, which adds the version it
/// replaces as the tenth.
pub(crate) struct RowValues<'a> {
    pub id: &'a str,
    pub custodian: &'a str,
    pub subject: &'a str,
    pub type_token: &'a str,
    pub category_token: &'a str,
    pub appointment_id: Option<&'a str>,
    pub version: i64,
    pub last_updated: String,
    pub body: String,
}

impl<'a> RowValues<'a> {
    pub(crate) fn of(p: &'a StoredPointer) -> RowValues<'a> {
        RowValues {
            id: &p.id,
            custodian: &p.keys.custodian,
            subject: p.keys.subject.as_str(),
            type_token: &p.keys.type_token,
            category_token: &p.keys.category_token,
            appointment_id: p.keys.appointment_id.as_deref(),
            version: p.version as i64,
            last_updated: p.last_updated.to_string(),
            body: p.body.to_string(),
        }
    }
}

/// A pointer with `id`, `meta.versionId` and `meta.lastUpdated` set in its body.
pub(crate) fn stamped(pointer: NewPointer, version: u64, now: Instant) -> StoredPointer {
    let NewPointer { id, keys, mut body } = pointer;
    stamp(&mut body, &id, version, now);
    StoredPointer {
        id,
        keys,
        version,
        last_updated: now,
        body,
    }
}

/// The pointer being replaced must be the same kind of pointer, for the same patient, kept by
/// the same custodian: superseding is a custodian correcting its own record, nothing wider.
/// `found` is the replaced pointer's (custodian, subject, type), if it exists.
pub(crate) fn check_supersede(
    found: Option<(String, String, String)>,
    keys: &PointerKeys,
) -> Result<(), SupersedeRefusal> {
    let Some((custodian, subject, type_token)) = found else {
        return Err(SupersedeRefusal::Missing);
    };
    if !custodian.eq_ignore_ascii_case(&keys.custodian) {
        return Err(SupersedeRefusal::OtherCustodian);
    }
    if subject != keys.subject.as_str() {
        return Err(SupersedeRefusal::OtherSubject);
    }
    if type_token != keys.type_token {
        return Err(SupersedeRefusal::OtherType);
    }
    Ok(())
}

/// The update of a pointer read (locked) at `current` version and `previous` lastUpdated: its
/// next version, stamped at a time that never goes backwards, even if the clock does; refused
/// when the caller expected another version.
pub(crate) fn next_version(
    pointer: NewPointer,
    current: (i64, String),
    expected: u64,
    now: Instant,
) -> Result<StoredPointer, WriteError> {
    let (current, previous) = (current.0.max(0) as u64, current.1);
    if current != expected {
        return Err(WriteError::VersionMismatch { current });
    }
    let now = match Instant::parse(&previous) {
        Ok(previous) => now.after(previous),
        Err(_) => now,
    };
    Ok(stamped(pointer, expected + 1, now))
}

/// Why a guarded write or delete that changed nothing was refused: the pointer is gone, or at
/// another version than expected (`current`, read after the attempt).
pub(crate) fn refusal(current: Option<i64>) -> WriteError {
    match current {
        None => WriteError::NotFound,
        Some(v) => WriteError::VersionMismatch {
            current: v.max(0) as u64,
        },
    }
}

/// The optional filters of a search that are set, as (column, value); the patient is always
/// the first condition.
pub(crate) fn filters(query: &PointerQuery) -> impl Iterator<Item = (&'static str, &String)> {
    [
        ("type", &query.type_token),
        ("custodian", &query.custodian),
        ("category", &query.category_token),
    ]
    .into_iter()
    .filter_map(|(column, value)| value.as_ref().map(|v| (column, v)))
}

/// One page from the rows (seq, pointer) read after the cursor, at most `limit + 1` of them:
/// the one beyond the page says that another follows.
pub(crate) fn page(
    rows: Vec<(i64, RawRow)>,
    total: i64,
    limit: usize,
) -> Result<PointerPage, StoreError> {
    let more = rows.len() > limit;
    let mut pointers = Vec::with_capacity(limit.min(rows.len()));
    let mut last_seq = None;
    for (seq, row) in rows.into_iter().take(limit) {
        last_seq = Some(seq);
        pointers.push(row.into_pointer()?);
    }
    Ok(PointerPage {
        pointers,
        total: total.max(0) as u64,
        next: if more {
            last_seq.map(|after| Cursor { after })
        } else {
            None
        },
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const PATIENT: &str = "9693893123";
    const BOOKING: &str = "http://snomed.info/sct|749001000000101";

    fn keys(custodian: &str) -> PointerKeys {
        PointerKeys {
            custodian: custodian.into(),
            subject: NhsNumber::parse(PATIENT).unwrap(),
            type_token: BOOKING.into(),
            category_token: "http://snomed.info/sct|419891008".into(),
            appointment_id: None,
        }
    }

    fn raw(id: &str) -> RawRow {
        RawRow {
            id: id.into(),
            custodian: "RGT".into(),
            subject: PATIENT.into(),
            type_token: BOOKING.into(),
            category_token: "c".into(),
            appointment_id: None,
            version: 1,
            last_updated: "2030-01-01T09:00:00Z".into(),
            body: "{}".into(),
        }
    }

    #[test]
    fn a_page_says_whether_another_follows() {
        let rows = |n: i64| (1..=n).map(|s| (s * 10, raw(&format!("p{s}")))).collect();
        let full = page(rows(3), 7, 2).unwrap();
        assert_eq!(
            (full.pointers.len(), full.total, full.next),
            (2, 7, Some(Cursor { after: 20 }))
        );
        let last = page(rows(2), 7, 2).unwrap();
        assert_eq!((last.pointers.len(), last.next), (2, None));
        let mut corrupt = raw("p1");
        corrupt.subject = "not a number".into();
        assert!(matches!(
            page(vec![(1, corrupt)], 1, 2),
            Err(StoreError::Internal(m)) if m.contains("subject") && !m.contains("not a number")
        ));
    }

    #[test]
    fn only_the_same_kind_of_pointer_of_the_same_custodian_and_patient_is_superseded() {
        let found = |custodian: &str, subject: &str, type_token: &str| {
            Some((custodian.into(), subject.into(), type_token.into()))
        };
        let k = keys("RGT");
        assert_eq!(check_supersede(found("rgt", PATIENT, BOOKING), &k), Ok(()));
        assert_eq!(check_supersede(None, &k), Err(SupersedeRefusal::Missing));
        assert_eq!(
            check_supersede(found("XYZ", PATIENT, BOOKING), &k),
            Err(SupersedeRefusal::OtherCustodian)
        );
        assert_eq!(
            check_supersede(found("RGT", "9434765919", BOOKING), &k),
            Err(SupersedeRefusal::OtherSubject)
        );
        assert_eq!(
            check_supersede(found("RGT", PATIENT, "x|y"), &k),
            Err(SupersedeRefusal::OtherType)
        );
    }

    #[test]
    fn an_update_follows_the_expected_version_and_never_goes_back_in_time() {
        let pointer = || NewPointer {
            id: "RGT-1".into(),
            keys: keys("RGT"),
            body: json!({"resourceType": "DocumentReference"}),
        };
        let later = "2200-01-01T00:00:00Z";
        let updated = next_version(pointer(), (2, later.into()), 2, Instant::now()).unwrap();
        assert_eq!(updated.version, 3);
        assert!(updated.last_updated > Instant::parse(later).unwrap());
        assert_eq!(updated.body["meta"]["versionId"], "3");
        assert!(matches!(
            next_version(pointer(), (3, later.into()), 2, Instant::now()),
            Err(WriteError::VersionMismatch { current: 3 })
        ));
        assert_eq!(refusal(None), WriteError::NotFound);
        assert_eq!(refusal(Some(4)), WriteError::VersionMismatch { current: 4 });
    }
}
