//! Spending a single-use row (an authorization code, a refresh token) is one conditional
//! UPDATE: `UPDATE t SET spent_at = ? WHERE key = ? AND spent_at IS NULL`; one row changed
//! means this caller spent it, none means someone already had.
//!
//! Written as fixed SQL rather than with `diesel::update` because diesel never keeps its own
//! UPDATE statements prepared (a changeset may leave `None` fields out, so their text can
//! vary): on PostgreSQL every login and every refresh would parse and plan it again, on
//! SQLite compile it again. The text here depends only on the static names, so both backends
//! keep it prepared, keyed by the SQL.

use chrono::NaiveDateTime;
use diesel::backend::Backend;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{HasSqlType, Text, Timestamp};
use diesel::{QueryResult, RunQueryDsl};

/// `UPDATE {table} SET {column} = {at} WHERE {key_column} = {key} AND {column} IS NULL`.
/// Run it with `.execute(conn)`: the number of rows changed is 1 or 0.
#[derive(Debug, Clone, Copy)]
pub struct SpendOnce<'a> {
    pub table: &'static str,
    pub column: &'static str,
    pub key_column: &'static str,
    pub key: &'a str,
    pub at: NaiveDateTime,
}

impl QueryId for SpendOnce<'_> {
    type QueryId = ();
    // Not one type per statement: diesel caches it by its SQL text instead.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<DB> QueryFragment<DB> for SpendOnce<'_>
where
    DB: Backend + HasSqlType<Timestamp> + HasSqlType<Text>,
    NaiveDateTime: ToSql<Timestamp, DB>,
    str: ToSql<Text, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("UPDATE ");
        out.push_identifier(self.table)?;
        out.push_sql(" SET ");
        out.push_identifier(self.column)?;
        out.push_sql(" = ");
        out.push_bind_param::<Timestamp, _>(&self.at)?;
        out.push_sql(" WHERE ");
        out.push_identifier(self.key_column)?;
        out.push_sql(" = ");
        out.push_bind_param::<Text, _>(self.key)?;
        out.push_sql(" AND ");
        out.push_identifier(self.column)?;
        out.push_sql(" IS NULL");
        Ok(())
    }
}

impl<Conn> RunQueryDsl<Conn> for SpendOnce<'_> {}
