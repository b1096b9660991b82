//! Appointment reads: a view of the current version, one version, the history and a patient's
//! appointments. Each is scoped and policed like a write's own reads, and audited.

use bars_booking::Scope;
use bars_fhir::NhsNumber;
use bars_http::RequestContext;
use bars_store::{
    AppointmentCursor, AppointmentPage, AppointmentQuery, AppointmentVersion, HistoryPage,
    HistoryQuery,
};

use super::{Audited, Bookings};
use crate::access;
use crate::booking_error::BookingError;

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
