//! The one migration runner, for the store's own tables and for any other set kept in
//! the same databases (search-service's index): versioned migrations applied in order,
//! each once, and recorded in a table of the caller's naming.
//!
//! - [`apply_postgres`]: in one transaction that first takes a transaction-scoped
//!   advisory lock (replicas starting together wait for each other instead of racing,
//!   even on `CREATE TABLE IF NOT EXISTS`, which is not atomic in PostgreSQL).
//! - [`apply_sqlite`]: in one transaction after creating the table; a `fix_up` runs
//!   first inside it (the store renumbers an old version there).
//!
//! Both return the driver's own error, so each caller maps it as it maps every other
//! error of its database.

/// A migration: its version (applied in the order of the list, each once), its name
/// (recorded beside the version) and its SQL.
pub type Migration = (i64, &'static str, &'static str);

/// Applies the `migrations` not recorded in `table` yet, in one transaction under the
/// advisory lock `lock_key` (distinct per set of migrations). `table` is the caller's
/// constant (an SQL identifier; never input).
pub async fn apply_postgres(
    client: &mut tokio_postgres::Client,
    lock_key: i64,
    table: &str,
    migrations: &[Migration],
) -> Result<(), tokio_postgres::Error> {
    debug_assert!(is_identifier(table), "{table} is no plain SQL identifier");
    let transaction = client.transaction().await?;
    // The lock comes first: replicas starting together would otherwise race even on
    // `CREATE TABLE IF NOT EXISTS` (it is not atomic in PostgreSQL).
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&lock_key])
        .await?;
    transaction
        .batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS {table} (
                 version    bigint PRIMARY KEY,
                 name       text NOT NULL,
                 applied_at timestamptz NOT NULL DEFAULT now()
             )"
        ))
        .await?;
    let applied: Vec<i64> = transaction
        .query(&format!("SELECT version FROM {table}"), &[])
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let record = format!("INSERT INTO {table} (version, name) VALUES ($1, $2)");
    for (version, name, sql) in migrations {
        if applied.contains(version) {
            continue;
        }
        tracing::info!(version, name, table, "applying migration");
        transaction.batch_execute(sql).await?;
        transaction.execute(&record, &[version, name]).await?;
    }
    transaction.commit().await
}

/// Applies the `migrations` not recorded in `table` yet, in one transaction, after
/// `fix_up` has run in it; `applied_at` gives the time recorded with each (the caller's
/// unit). `table` is the caller's constant (an SQL identifier; never input).
pub fn apply_sqlite(
    connection: &mut rusqlite::Connection,
    table: &str,
    migrations: &[Migration],
    fix_up: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<()>,
    applied_at: impl Fn() -> i64,
) -> rusqlite::Result<()> {
    debug_assert!(is_identifier(table), "{table} is no plain SQL identifier");
    connection.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS {table} (
             version    INTEGER PRIMARY KEY,
             name       TEXT NOT NULL,
             applied_at INTEGER NOT NULL
         )"
    ))?;
    let transaction = connection.transaction()?;
    fix_up(&transaction)?;
    let exists = format!("SELECT EXISTS (SELECT 1 FROM {table} WHERE version = ?1)");
    let record = format!("INSERT INTO {table} (version, name, applied_at) VALUES (?1, ?2, ?3)");
    for (version, name, sql) in migrations {
        let applied: bool = transaction.query_row(&exists, [version], |row| row.get(0))?;
        if applied {
            continue;
        }
        tracing::info!(version, name, table, "applying migration");
        transaction.execute_batch(sql)?;
        transaction.execute(&record, rusqlite::params![version, name, applied_at()])?;
    }
    transaction.commit()
}

/// Letters, digits and underscores, not starting with a digit.
fn is_identifier(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIRST: &[Migration] = &[(1, "one", "CREATE TABLE one (id INTEGER PRIMARY KEY)")];
    const BOTH: &[Migration] = &[
        (1, "one", "CREATE TABLE one (id INTEGER PRIMARY KEY)"),
        (2, "two", "CREATE TABLE two (id INTEGER PRIMARY KEY)"),
    ];

    fn versions(connection: &rusqlite::Connection, table: &str) -> Vec<(i64, String, i64)> {
        let mut statement = connection
            .prepare(&format!(
                "SELECT version, name, applied_at FROM {table} ORDER BY version"
            ))
            .expect("prepare");
        statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows")
    }

    #[test]
    fn sqlite_applies_each_migration_once_in_its_own_table() {
        let mut connection = rusqlite::Connection::open_in_memory().expect("a database");
        apply_sqlite(&mut connection, "a_migrations", FIRST, |_| Ok(()), || 7).expect("migrated");
        // Again with one more: only the new one runs (the first would fail: its table
        // exists), and it is recorded with its own time.
        apply_sqlite(&mut connection, "a_migrations", BOTH, |_| Ok(()), || 8).expect("migrated");
        assert_eq!(
            versions(&connection, "a_migrations"),
            vec![(1, "one".to_owned(), 7), (2, "two".to_owned(), 8)]
        );
        // Another table is another set: nothing recorded there yet.
        let error = apply_sqlite(&mut connection, "b_migrations", FIRST, |_| Ok(()), || 9);
        assert!(
            error.is_err(),
            "table one exists, so set b's first migration fails"
        );
    }

    #[test]
    fn sqlite_rolls_back_everything_when_a_migration_or_the_fix_up_fails() {
        let mut connection = rusqlite::Connection::open_in_memory().expect("a database");
        let broken: &[Migration] = &[
            (1, "one", "CREATE TABLE one (id INTEGER PRIMARY KEY)"),
            (2, "broken", "CREATE TABLE"),
        ];
        assert!(apply_sqlite(&mut connection, "m", broken, |_| Ok(()), || 1).is_err());
        assert!(versions(&connection, "m").is_empty());
        let failing_fix_up = |transaction: &rusqlite::Transaction<'_>| {
            transaction.execute_batch("INSERT INTO m VALUES (1, 'one', 1); SELECT nonsense")
        };
        assert!(apply_sqlite(&mut connection, "m", FIRST, failing_fix_up, || 1).is_err());
        assert!(versions(&connection, "m").is_empty());
        // The fix-up runs inside the transaction, before the versions are read.
        apply_sqlite(
            &mut connection,
            "m",
            BOTH,
            |transaction| {
                transaction.execute_batch(
                    "CREATE TABLE one (id INTEGER PRIMARY KEY);
                     INSERT INTO m VALUES (1, 'one', 0);",
                )
            },
            || 2,
        )
        .expect("migrated");
        assert_eq!(
            versions(&connection, "m"),
            vec![(1, "one".to_owned(), 0), (2, "two".to_owned(), 2)]
        );
    }

    #[test]
    fn identifiers() {
        assert!(is_identifier("schema_migrations"));
        assert!(is_identifier("search_schema_migrations"));
        assert!(!is_identifier("1x"));
        assert!(!is_identifier("x; DROP TABLE users"));
        assert!(!is_identifier(""));
    }
}
