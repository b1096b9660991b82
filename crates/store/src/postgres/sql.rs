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

/// Puts records found by `id = ANY(...)` back in the order of `ids` (repeats included), as
/// SQLite's one-lookup-per-id returns them.
pub(super) fn in_order<T: Clone>(
    ids: &[String],
    found: Vec<T>,
    key: impl Fn(&T) -> &String,
) -> Vec<T> {
    let by_id: std::collections::HashMap<&String, &T> = found.iter().map(|t| (key(t), t)).collect();
    ids.iter()
        .filter_map(|id| by_id.get(id).map(|t| (*t).clone()))
        .collect()
}
