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

/// The rows of `ids` that exist, in the order asked for (repeats included), as SQLite's
/// one-lookup-per-id returns them: one statement, `sql`, whose one parameter is the id array
/// (`... WHERE id = ANY($1)`), each row read by `row` and known by `key`.
pub(super) async fn each_found<C: GenericClient, T: Clone>(
    c: &C,
    sql: &str,
    ids: &[String],
    row: impl Fn(&Row) -> T,
    key: impl Fn(&T) -> &String,
) -> Result<Vec<T>, tokio_postgres::Error> {
    let found: Vec<T> = rows(c, sql, &[&ids]).await?.iter().map(row).collect();
    let by_id: std::collections::HashMap<&String, &T> = found.iter().map(|t| (key(t), t)).collect();
    Ok(ids
        .iter()
        .filter_map(|id| by_id.get(id).map(|t| (*t).clone()))
        .collect())
}
