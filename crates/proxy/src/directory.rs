//! The proxy's directory: the endpoint catalogue and the registered sender applications that
//! routing and authentication read, and the one way the admin API changes them.
//!
//! Reads never wait for a database: every routed call and token request reads the in-memory
//! [`Catalogue`] and [`Applications`]. With a store (the `bars proxy` role always has one),
//! an admin change is written to the database first and the copies are then reloaded from it, so
//! the proxy that made the change sees it at once and a restart finds it. Every other proxy
//! sharing the database sees it at its next refresh: a background task reads the database's
//! change counter every `refresh` interval and reloads when it moved. That interval is the
//! staleness bound for the other proxies (an application removed at one proxy keeps its access
//! at the others for at most that long). When the database cannot be read the proxies keep
//! serving the copy they have, and admin changes are refused with 503.
//!
//! Without a store (proxies embedded in tests) changes apply to memory only.
//!
//! A catalogue write (the FHIR API's or the admin API's) is decided on a fresh snapshot of the
//! database by a pure function ([`crate::epc::rules`]) and written only if the directory is
//! still at the snapshot's revision; otherwise it is decided again on the newer snapshot. So
//! rules that span records (an Endpoint still referenced, two Endpoints of one type for a
//! service) hold across every proxy sharing the database, not just within one.

use std::sync::{Arc, Weak};
use std::time::Duration;

use bars_fhir::headers::TargetIdentifier;
use bars_fhir::instant::Instant;
use bars_store::StoreError;

use crate::auth::applications::{Application, ApplicationError, Applications};
use crate::catalogue::{Catalogue, CatalogueError, Endpoint};
use crate::epc::errors::EpcError;
use crate::epc::seed;
use crate::epc::state::CatalogueState;
use crate::store::{CatalogueChange, ProxyStore, Seed, SeedRows, Snapshot};

/// How often a catalogue write is decided again when other writes keep coming first.
const WRITE_ATTEMPTS: usize = 8;

/// How often used `jti`s past their time are deleted from the database.
const PURGE_EVERY: Duration = Duration::from_secs(60);

/// Why an admin change was not made.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error(transparent)]
    Catalogue(#[from] CatalogueError),
    #[error(transparent)]
    Application(#[from] ApplicationError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The catalogue's rules refused a write.
    #[error(transparent)]
    Refused(#[from] EpcError),
}

pub struct Directory {
    pub catalogue: Arc<Catalogue>,
    pub applications: Applications,
    store: Option<Arc<dyn ProxyStore>>,
    /// The revision the copies were loaded at. Held while reloading, so two reloads never
    /// interleave and an older snapshot never overwrites a newer one.
    loaded: tokio::sync::Mutex<Option<i64>>,
    /// Serialises catalogue writes of a proxy without a database.
    writing: tokio::sync::Mutex<()>,
}

impl Directory {
    /// A directory kept in memory only.
    pub fn in_memory(catalogue: Arc<Catalogue>, applications: Applications) -> Directory {
        Directory {
            catalogue,
            applications,
            store: None,
            loaded: tokio::sync::Mutex::new(None),
            writing: tokio::sync::Mutex::new(()),
        }
    }

    /// A directory kept in `store`: writes `seed` (the configuration file's entries, see
    /// [`Seed`] for how they combine with admin changes), then loads the copies from it.
    pub async fn open(
        store: Arc<dyn ProxyStore>,
        seed: Seed,
        catalogue: Arc<Catalogue>,
        applications: Applications,
    ) -> Result<Directory, DirectoryError> {
        let endpoints = seed
            .endpoints
            .into_iter()
            .map(Catalogue::checked)
            .collect::<Result<Vec<_>, _>>()?;
        for application in &seed.applications {
            application.validate()?;
        }
        let seed = SeedRows {
            endpoints: seed::seed_rows(&endpoints, Instant::now())?,
            applications: seed.applications,
        };
        // Filling a new database from the file is routine; writing the file's entries over a
        // directory that already exists is news for operators (it may replace admin changes).
        let fresh = store.revision().await? == 0;
        let seeded = store.seed(seed).await?;
        let wrote = !(seeded.endpoints.is_empty() && seeded.applications.is_empty());
        if wrote && fresh {
            tracing::debug!(endpoints = ?seeded.endpoints, applications = ?seeded.applications, "a new proxy database filled from the configuration file");
        } else if wrote {
            tracing::info!(endpoints = ?seeded.endpoints, applications = ?seeded.applications, "configuration file entries written to the proxy database");
        }
        let directory = Directory {
            catalogue,
            applications,
            store: Some(store),
            loaded: tokio::sync::Mutex::new(None),
            writing: tokio::sync::Mutex::new(()),
        };
        directory.convert_legacy().await?;
        directory.reload().await?;
        Ok(directory)
    }

    pub fn store(&self) -> Option<&Arc<dyn ProxyStore>> {
        self.store.as_ref()
    }

    /// Reads the whole directory from the database into the copies.
    async fn reload(&self) -> Result<(), StoreError> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let mut loaded = self.loaded.lock().await;
        let snapshot = store.snapshot().await?;
        self.apply(snapshot, &mut loaded);
        Ok(())
    }

    fn apply(&self, snapshot: Snapshot, loaded: &mut Option<i64>) {
        self.catalogue
            .replace_all(CatalogueState::from_rows(&snapshot.records));
        self.applications.replace_all(snapshot.applications);
        *loaded = Some(snapshot.revision);
    }

    /// Reloads when another proxy (or this one) changed the database since the last load;
    /// true when it did.
    pub async fn refresh(&self) -> Result<bool, StoreError> {
        let Some(store) = &self.store else {
            return Ok(false);
        };
        let mut loaded = self.loaded.lock().await;
        if Some(store.revision().await?) == *loaded {
            return Ok(false);
        }
        let snapshot = store.snapshot().await?;
        self.apply(snapshot, &mut loaded);
        Ok(true)
    }

    /// Refreshes every `every` and purges used `jti`s past their time, for as long as the
    /// directory is in use (the task holds it weakly and ends when it is dropped).
    pub fn spawn_refresher(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let directory: Weak<Directory> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last_purge = tokio::time::Instant::now();
            loop {
                tick.tick().await;
                let Some(directory) = directory.upgrade() else {
                    return;
                };
                if let Err(e) = directory.refresh().await {
                    tracing::warn!(error = %e, "the proxy database could not be read; serving the directory as last loaded");
                }
                if last_purge.elapsed() >= PURGE_EVERY {
                    last_purge = tokio::time::Instant::now();
                    if let Some(store) = directory.store() {
                        match store.purge_jtis(crate::auth::unix_now()).await {
                            Ok(n) if n > 0 => tracing::debug!(purged = n, "used jtis purged"),
                            Ok(_) => {}
                            Err(e) => tracing::warn!(error = %e, "used jtis not purged"),
                        }
                    }
                }
            }
        })
    }

    /// Decides a catalogue write on the current catalogue and makes it: `decide` returns the
    /// rows to change and what to answer. With a database, decided on a fresh snapshot and
    /// written only if nothing changed meanwhile (else decided again); without one, under a
    /// lock on the copy in memory.
    pub async fn change_catalogue<T>(
        &self,
        decide: impl Fn(&CatalogueState) -> Result<(Vec<CatalogueChange>, T), EpcError>,
    ) -> Result<T, DirectoryError> {
        let Some(store) = &self.store else {
            let _writing = self.writing.lock().await;
            let mut state = (*self.catalogue.state()).clone();
            let (changes, answer) = decide(&state)?;
            state.apply(&changes);
            self.catalogue.replace_all(state);
            return Ok(answer);
        };
        for _ in 0..WRITE_ATTEMPTS {
            let snapshot = store.snapshot().await?;
            let state = CatalogueState::from_rows(&snapshot.records);
            let (changes, answer) = decide(&state)?;
            if changes.is_empty() {
                return Ok(answer);
            }
            if store.write_catalogue(snapshot.revision, changes).await? {
                self.reload().await?;
                return Ok(answer);
            }
        }
        Err(
            StoreError::Unavailable("the catalogue kept changing while a write was decided".into())
                .into(),
        )
    }

    /// A database written before the catalogue was FHIR keeps its entries in `proxy_endpoint`:
    /// each becomes its HealthcareService and Endpoint (unless its target is already in the
    /// catalogue) and leaves that table.
    async fn convert_legacy(&self) -> Result<(), DirectoryError> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        for _ in 0..WRITE_ATTEMPTS {
            let snapshot = store.snapshot().await?;
            if snapshot.legacy.is_empty() {
                return Ok(());
            }
            let mut state = CatalogueState::from_rows(&snapshot.records);
            let mut changes = Vec::new();
            for entry in &snapshot.legacy {
                // An entry whose target the catalogue already serves is simply retired.
                if let Ok(rows) = seed::add(&state, entry, Instant::now()) {
                    state.apply(&rows);
                    changes.extend(rows);
                }
                changes.push(CatalogueChange::RetireLegacy {
                    system: entry.system.clone(),
                    value: entry.value.clone(),
                });
            }
            if store.write_catalogue(snapshot.revision, changes).await? {
                tracing::info!(
                    entries = snapshot.legacy.len(),
                    "the proxy database's endpoints converted into Endpoint Catalogue records"
                );
                return Ok(());
            }
        }
        Err(
            StoreError::Unavailable("the catalogue kept changing while it was converted".into())
                .into(),
        )
    }

    pub async fn add_endpoint(&self, endpoint: Endpoint) -> Result<Endpoint, DirectoryError> {
        let endpoint = Catalogue::checked(endpoint)?;
        self.change_catalogue(|state| Ok((seed::add(state, &endpoint, Instant::now())?, ())))
            .await?;
        Ok(endpoint)
    }

    pub async fn replace_endpoint(&self, endpoint: Endpoint) -> Result<Endpoint, DirectoryError> {
        let endpoint = Catalogue::checked(endpoint)?;
        self.change_catalogue(|state| Ok((seed::replace(state, &endpoint, Instant::now()), ())))
            .await?;
        Ok(endpoint)
    }

    pub async fn remove_endpoint(&self, target: &TargetIdentifier) -> Result<bool, DirectoryError> {
        self.change_catalogue(|state| {
            let changes = seed::removal(state, target);
            let removed = !changes.is_empty();
            Ok((changes, removed))
        })
        .await
    }

    /// Registers an application or replaces the registration of its client id.
    pub async fn put_application(&self, application: Application) -> Result<(), DirectoryError> {
        application.validate()?;
        match &self.store {
            None => {
                self.applications.add(application)?;
            }
            Some(store) => {
                store.put_application(application).await?;
                self.reload().await?;
            }
        }
        Ok(())
    }

    pub async fn remove_application(&self, client_id: &str) -> Result<bool, StoreError> {
        match &self.store {
            None => Ok(self.applications.remove(client_id)),
            Some(store) => {
                let removed = store.remove_application(client_id).await?;
                self.reload().await?;
                Ok(removed)
            }
        }
    }
}
