//! Appointment reads: a view of the current version, one version, the history and a patient's
//! appointments. Each is scoped and policed like a write's own reads, and audited.

use bars_booking::{AppointmentStatus, Scope};
use bars_fhir::NhsNumber;
use bars_http::RequestContext;
use bars_store::{
    AppointmentCursor, AppointmentPage, AppointmentQuery, AppointmentRecord, AppointmentScan,
    AppointmentVersion, HistoryPage, HistoryQuery,
};

use super::{Audited, Bookings};
use crate::access;
use crate::booking_error::BookingError;
use crate::demographics::Demographics;

/// Appointments read per round trip while a search collects its matches.
const SCAN_BATCH: usize = 500;

/// A Core 1.5.0 search: by NHS number, by demographics, or both (AND), and the statuses
/// wanted (`None`: every status but entered-in-error, decision D5).
pub struct Matching {
    pub patient: Option<NhsNumber>,
    pub demographics: Option<Demographics>,
    pub statuses: Option<Vec<AppointmentStatus>>,
}

/// What a [`Matching`] search found.
pub struct Matched {
    /// In order of start (those without one last), then id.
    pub appointments: Vec<AppointmentRecord>,
    /// The demographics named more than one patient, so nothing is returned (decision D2).
    pub ambiguous: bool,
}
/// A search of appointments the sender has been admitted to (see [`Bookings::searching`]).
pub struct Searching<'a> {
    bookings: &'a Bookings,
    ctx: &'a RequestContext,
    /// The one service whose appointments are listed; `None`: every service's.
    service: Option<&'a str>,
}

impl Bookings {
    /// The current version of an appointment (a FHIR `read`).
    pub async fn view(
        &self,
        ctx: &RequestContext,
        scope: &Scope,
        id: &str,
    ) -> Result<AppointmentVersion, BookingError> {
        let (found, what) = match self.appointment(ctx, scope, id).await? {
            Some(record) => {
                let what = Audited {
                    action: "read",
                    id: Some(id),
                    version: Some(record.version),
                    patient: record.patient,
                    outcome: 200,
                };
                let answer = AppointmentVersion {
                    id: record.id,
                    version: record.version,
                    last_updated: record.last_updated,
                    body: record.body,
                };
                (Some(answer), what)
            }
            None => (
                None,
                Audited {
                    action: "read",
                    id: Some(id),
                    version: None,
                    patient: None,
                    outcome: 404,
                },
            ),
        };
        self.audit(ctx, what).await;
        found.ok_or_else(|| BookingError::NotFound { id: id.to_string() })
    }

    /// One version of an appointment (a FHIR `vread`). Another service's appointment has no
    /// versions to this request.
    pub async fn version(
        &self,
        ctx: &RequestContext,
        scope: &Scope,
        id: &str,
        version: u64,
    ) -> Result<AppointmentVersion, BookingError> {
        let (found, patient) = match self.appointment(ctx, scope, id).await? {
            Some(current) => (
                self.store.get_appointment_version(id, version).await?,
                current.patient,
            ),
            None => (None, None),
        };
        let outcome = if found.is_some() { 200 } else { 404 };
        self.audit(
            ctx,
            Audited {
                action: "vread",
                id: Some(id),
                version: Some(version),
                patient,
                outcome,
            },
        )
        .await;
        found.ok_or_else(|| BookingError::NoVersion {
            id: id.to_string(),
            version,
        })
    }

    /// One page of an appointment's versions, newest first. Another service's appointment has
    /// no history to this request.
    pub async fn history(
        &self,
        ctx: &RequestContext,
        scope: &Scope,
        id: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Result<HistoryPage, BookingError> {
        let (page, patient) = match self.appointment(ctx, scope, id).await? {
            Some(current) => (
                self.store
                    .appointment_history(HistoryQuery {
                        id: id.to_string(),
                        before,
                        limit,
                    })
                    .await?,
                current.patient,
            ),
            None => (
                HistoryPage {
                    versions: Vec::new(),
                    total: 0,
                },
                None,
            ),
        };
        let outcome = if page.total == 0 { 404 } else { 200 };
        self.audit(
            ctx,
            Audited {
                action: "history",
                id: Some(id),
                version: None,
                patient,
                outcome,
            },
        )
        .await;
        if page.total == 0 {
            return Err(BookingError::NotFound { id: id.to_string() });
        }
        Ok(page)
    }

    /// Admits the sender to a search of appointments within `scope`: the addressed service's
    /// policy, or for an unaddressed request every service's. Checked before the search's
    /// parameters are read, so that a sender refused learns nothing from their refusals.
    pub fn searching<'a>(
        &'a self,
        ctx: &'a RequestContext,
        scope: &'a Scope,
    ) -> Result<Searching<'a>, BookingError> {
        match scope.service() {
            Some(service) => access::check_owner(&self.config, ctx, Some(service))?,
            None => access::check_every_service(&self.config, ctx)?,
        }
        Ok(Searching {
            bookings: self,
            ctx,
            service: scope.service(),
        })
    }
}

impl Searching<'_> {
    /// Every appointment that matches a Core 1.5.0 search, within the scope admitted. A
    /// search by NHS number reads the patient's appointments; one by demographics alone
    /// reads the service's appointments of patients born on that date, at most
    /// `demographic_scan_limit` of them (422 `too-costly` beyond).
    pub async fn matching(self, m: Matching) -> Result<Matched, BookingError> {
        let candidates = match &m.patient {
            Some(nhs) => self.all_of_patient(nhs).await?,
            None => self.scan(m.demographics.as_ref()).await?,
        };
        let mut found = Vec::new();
        for record in candidates {
            let wanted = match &m.demographics {
                Some(d) => {
                    let body: serde_json::Value = serde_json::from_str(&record.body)
                        .map_err(|_| BookingError::corrupt("a stored appointment"))?;
                    d.matches(&body)
                }
                None => true,
            };
            if wanted {
                found.push(record);
            }
        }
        let mut patients: Vec<&str> = found.iter().filter_map(|r| r.patient.as_deref()).collect();
        patients.sort_unstable();
        patients.dedup();
        let ambiguous = m.patient.is_none() && patients.len() > 1;
        let patient = match patients.as_slice() {
            [one] => Some(one.to_string()),
            _ => None,
        };
        let mut appointments: Vec<AppointmentRecord> = if ambiguous {
            Vec::new()
        } else {
            found
                .into_iter()
                .filter(|r| match &m.statuses {
                    Some(wanted) => wanted.contains(&r.status),
                    None => r.status != AppointmentStatus::EnteredInError,
                })
                .collect()
        };
        appointments.sort_by(|a, b| {
            (a.start.is_none(), a.start, &a.id).cmp(&(b.start.is_none(), b.start, &b.id))
        });
        self.bookings
            .audit(
                self.ctx,
                Audited {
                    action: "search",
                    id: None,
                    version: None,
                    patient: if ambiguous { None } else { patient },
                    outcome: 200,
                },
            )
            .await;
        Ok(Matched {
            appointments,
            ambiguous,
        })
    }

    /// All of a patient's appointments in scope, a page at a time.
    async fn all_of_patient(
        &self,
        nhs: &NhsNumber,
    ) -> Result<Vec<AppointmentRecord>, BookingError> {
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let mut page = self
                .bookings
                .store
                .appointments_for_patient(AppointmentQuery {
                    patient: nhs.as_str().to_string(),
                    service: self.service.map(str::to_string),
                    after: after.clone(),
                    limit: SCAN_BATCH,
                })
                .await?;
            let more = page.appointments.len() > SCAN_BATCH;
            page.appointments.truncate(SCAN_BATCH);
            after = page.appointments.last().map(|r| AppointmentCursor {
                created_nanos: r.created.unix_nanos(),
                id: r.id.clone(),
            });
            all.extend(page.appointments);
            if !more {
                return Ok(all);
            }
        }
    }

    /// The appointments in scope whose stored text has the demographics' birth date, up to
    /// the configured limit.
    async fn scan(
        &self,
        demographics: Option<&Demographics>,
    ) -> Result<Vec<AppointmentRecord>, BookingError> {
        let limit = self.bookings.config.demographic_scan_limit;
        let body_contains = demographics.and_then(Demographics::stored_text);
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let batch = self
                .bookings
                .store
                .scan_appointments(AppointmentScan {
                    service: self.service.map(str::to_string),
                    body_contains: body_contains.clone(),
                    after: after.clone(),
                    limit: SCAN_BATCH,
                })
                .await?;
            let done = batch.len() < SCAN_BATCH;
            after = batch.last().map(|r| AppointmentCursor {
                created_nanos: r.created.unix_nanos(),
                id: r.id.clone(),
            });
            all.extend(batch);
            if all.len() > limit {
                return Err(BookingError::TooCostly(format!(
                    "more than {limit} appointments would be read; search by patient:identifier (NHS number)"
                )));
            }
            if done {
                return Ok(all);
            }
        }
    }

    /// One page of `patient`'s appointments in booking order, after `after`.
    pub async fn patient(
        self,
        patient: &NhsNumber,
        after: Option<AppointmentCursor>,
        limit: usize,
    ) -> Result<AppointmentPage, BookingError> {
        let page = self
            .bookings
            .store
            .appointments_for_patient(AppointmentQuery {
                patient: patient.as_str().to_string(),
                service: self.service.map(str::to_string),
                after,
                limit,
            })
            .await?;
        self.bookings
            .audit(
                self.ctx,
                Audited {
                    action: "search",
                    id: None,
                    version: None,
                    patient: Some(patient.as_str().to_string()),
                    outcome: 200,
                },
            )
            .await;
        Ok(page)
    }
}
