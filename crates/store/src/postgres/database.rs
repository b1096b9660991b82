//! A PostgreSQL database shared by the components of one process: a connection pool, each
//! component's migrations applied at connect, and the three ways work runs on it.
//!
//! * [`PgDatabase::autocommit`]: statements on a pooled connection outside any transaction,
//!   each committed on its own: reads, and writes that are a single statement.
//! * [`PgDatabase::snapshot`]: several reads that must agree (a count and its page), in one
//!   `REPEATABLE READ READ ONLY` transaction.
//! * [`PgDatabase::write`]: a transaction at the configured isolation (READ COMMITTED by
//!   default), run again from the start when it fails with a serialization failure or a
//!   deadlock.
//!
//! Every call is bounded: waiting for a connection by the pool's timeouts, each statement by
//! the server's `statement_timeout`, and the whole call by a client-side deadline a little
//! longer, which also covers a server that stopped answering without closing the connection.
//! A connection that outlived that deadline is thrown away, never handed out again.
//!
//! Every connection is opened with the URL's TLS settings ([`super::tls`]); the first one is
//! opened at connect, so a certificate or host name that does not verify stops start-up with
//! a message saying which, instead of surfacing later as a failing request.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use deadpool_postgres::{
    Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime, Transaction,
};
use tokio_postgres::IsolationLevel;

use super::config::{self, PgOptions};
use super::errors::{self, RETRYABLE};
use super::migrate;
use crate::error::StoreError;
use crate::sqlite::migrate::Migrations;

/// The future a unit of work returns; it borrows its connection and its input.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How often a transaction is run when it keeps meeting serialization failures or deadlocks.
const ATTEMPTS: u32 = 5;
/// Added to `statement_timeout` for the client-side deadline of one call: the server's own
/// cancellation should normally come first and say what happened.
const GRACE: Duration = Duration::from_secs(1);

pub struct PgDatabase {
    pool: Pool,
    options: PgOptions,
}

impl PgDatabase {
    /// Opens a pool on `url` and applies every component's migrations (under an advisory
    /// lock, so instances starting together take turns).
    pub async fn connect(url: &str, migrations: &[&Migrations]) -> Result<PgDatabase, StoreError> {
        let parsed = config::parse(url)?;
        let (tls, hosts) = (parsed.tls.clone(), parsed.hosts());
        let options = parsed.options;
        let manager = Manager::from_config(
            parsed.driver,
            tls.connector()?,
            ManagerConfig {
                // `is_closed` on checkout: a connection broken by a server restart is dropped and
                // replaced, so the store recovers by itself when the server is back.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(options.pool_timeout))
            .create_timeout(Some(options.connect_timeout + GRACE))
            .recycle_timeout(Some(GRACE))
            .build()
            .map_err(|e| StoreError::Internal(format!("cannot build the connection pool: {e}")))?;
        let db = PgDatabase { pool, options };
        let first = db.pool.get().await.map_err(|e| match &e {
            deadpool_postgres::PoolError::Backend(b) => match tls.explain(b, &hosts) {
                Some(why) => StoreError::Unavailable(why),
                None => errors::pool(e),
            },
            _ => errors::pool(e),
        })?;
        drop(first);
        let owned: Vec<Migrations> = migrations.iter().map(|m| **m).collect();
        db.write(owned, |tx, m| Box::pin(migrate::apply(tx, m)))
            .await?;
        Ok(db)
    }

    pub fn options(&self) -> &PgOptions {
        &self.options
    }

    /// How busy the connection pool is, for the metrics endpoint.
    pub fn pool_status(&self) -> Vec<crate::PoolStatus> {
        let status = self.pool.status();
        vec![crate::PoolStatus {
            name: "postgres",
            size: status.max_size as u64,
            in_use: status.size.saturating_sub(status.available) as u64,
            waiting: status.waiting as u64,
        }]
    }

    async fn connection(&self) -> Result<Object, StoreError> {
        self.pool.get().await.map_err(errors::pool)
    }

    fn deadline(&self) -> Duration {
        self.options.statement_timeout + GRACE
    }

    /// Runs `f` on a pooled connection outside any explicit transaction: every statement it
    /// runs commits on its own. For reads, and for writes that are one statement.
    pub async fn autocommit<D, T, E, F>(&self, data: D, f: F) -> Result<T, E>
    where
        D: Send + Sync,
        T: Send,
        E: From<StoreError> + Send,
        F: for<'a> Fn(&'a Object, &'a D) -> BoxFuture<'a, Result<T, E>> + Send + Sync,
    {
        let client = self.connection().await?;
        let result = tokio::time::timeout(self.deadline(), f(&client, &data)).await;
        match result {
            Ok(r) => r,
            Err(_) => Err(E::from(self.abandon(client))),
        }
    }

    /// Runs `f` in a read-only transaction that sees one snapshot.
    pub async fn snapshot<D, T, F>(&self, data: D, f: F) -> Result<T, StoreError>
    where
        D: Send + Sync,
        T: Send,
        F: for<'a> Fn(&'a Transaction<'a>, &'a D) -> BoxFuture<'a, Result<T, StoreError>>
            + Send
            + Sync,
    {
        let mut client = self.connection().await?;
        let work = async {
            let tx = client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await
                .map_err(errors::db)?;
            let out = f(&tx, &data).await?;
            tx.commit().await.map_err(errors::db)?;
            Ok(out)
        };
        match tokio::time::timeout(self.deadline(), work).await {
            Ok(r) => r,
            Err(_) => Err(self.abandon(client)),
        }
    }

    /// Runs `f` in a transaction and commits it; an `Err` rolls it back. A serialization
    /// failure or deadlock anywhere in it runs the whole transaction again (the guards inside
    /// `f` are then evaluated afresh), a few times, before giving up with 503.
    pub async fn write<D, T, E, F>(&self, data: D, f: F) -> Result<T, E>
    where
        D: Send + Sync,
        T: Send,
        E: From<StoreError> + Send,
        F: for<'a> Fn(&'a Transaction<'a>, &'a D) -> BoxFuture<'a, Result<T, E>> + Send + Sync,
    {
        let mut client = self.connection().await?;
        let mut attempt = 1;
        loop {
            let isolation = self.options.isolation;
            let work = RETRYABLE.scope(Cell::new(false), async {
                let result: Result<T, E> = async {
                    let tx = client
                        .build_transaction()
                        .isolation_level(isolation)
                        .start()
                        .await
                        .map_err(|e| E::from(errors::db(e)))?;
                    match f(&tx, &data).await {
                        Ok(out) => {
                            tx.commit().await.map_err(|e| E::from(errors::db(e)))?;
                            Ok(out)
                        }
                        Err(e) => {
                            let _ = tx.rollback().await;
                            Err(e)
                        }
                    }
                }
                .await;
                let again = result.is_err() && RETRYABLE.with(Cell::get);
                (result, again)
            });
            match tokio::time::timeout(self.deadline(), work).await {
                Err(_) => return Err(E::from(self.abandon(client))),
                Ok((result, false)) => return result,
                Ok((result, true)) if attempt >= ATTEMPTS => return result,
                Ok(_) => {
                    attempt += 1;
                    tokio::time::sleep(jitter(attempt)).await;
                }
            }
        }
    }

    /// Throws away a connection whose call ran past the deadline: whatever state it is in, it
    /// must not serve another request.
    fn abandon(&self, client: Object) -> StoreError {
        drop(Object::take(client));
        StoreError::Unavailable("the database did not answer in time".into())
    }

    /// Succeeds when the database answers and every component's schema is current.
    pub async fn ping(&self, migrations: &[&Migrations]) -> Result<(), StoreError> {
        let owned: Vec<Migrations> = migrations.iter().map(|m| **m).collect();
        self.autocommit(owned, |c, m| Box::pin(migrate::check(c, m)))
            .await
    }
}

/// One connection outside any pool, opened as [`PgDatabase::connect`] opens its own (the
/// URL's TLS settings, the store's session settings), for tools and tests that look at the
/// database directly. Its I/O runs on a task of its own until the client is dropped.
pub async fn connect_client(url: &str) -> Result<tokio_postgres::Client, StoreError> {
    let parsed = config::parse(url)?;
    let connector = parsed.tls.connector()?;
    let (client, connection) =
        parsed.driver.connect(connector).await.map_err(|e| {
            match parsed.tls.explain(&e, &parsed.hosts()) {
                Some(why) => StoreError::Unavailable(why),
                None => errors::db(e),
            }
        })?;
    tokio::spawn(connection);
    Ok(client)
}

/// A short random pause before running a transaction again, growing with the attempt, so two
/// transactions that collided do not collide again in lockstep.
fn jitter(attempt: u32) -> Duration {
    let spread = 10 * u64::from(attempt);
    let random = (uuid::Uuid::new_v4().as_u128() % u128::from(spread)) as u64;
    Duration::from_millis(spread + random)
}
