//! Statement helpers: every statement is prepared once per connection (the pool keeps a cache)
//! and every value is a bound parameter.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

pub type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

pub async fn rows<C: GenericClient>(
    c: &C,
    sql: &str,
    params: Params<'_>,
) -> Result<Vec<Row>, tokio_postgres::Error> {
    let statement = c.prepare_cached(sql).await?;
    c.query(&statement, params).await
}

pub async fn opt<C: GenericClient>(
    c: &C,
    sql: &str,
    params: Params<'_>,
) -> Result<Option<Row>, tokio_postgres::Error> {
    let statement = c.prepare_cached(sql).await?;
    c.query_opt(&statement, params).await
}

pub async fn one<C: GenericClient>(
    c: &C,
    sql: &str,
    params: Params<'_>,
) -> Result<Row, tokio_postgres::Error> {
    let statement = c.prepare_cached(sql).await?;
    c.query_one(&statement, params).await
}

pub async fn exec<C: GenericClient>(
    c: &C,
    sql: &str,
    params: Params<'_>,
) -> Result<u64, tokio_postgres::Error> {
    let statement = c.prepare_cached(sql).await?;
    c.execute(&statement, params).await
}

/// Instants are kept as nanoseconds since the epoch, as in SQLite.
pub fn instant(ns: i64) -> bars_fhir::Instant {
    bars_fhir::Instant::from_unix_nanos_trimmed(ns)
}

pub fn version(v: i64) -> u64 {
    v.max(0) as u64
}
