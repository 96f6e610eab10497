//! SQLite-only: migrations of databases made by earlier versions.

use talkapp_store::sqlite::SqliteStore;

/// Before the two migration sets shared their numbers, SQLite recorded its
/// events_and_push migration as version 4 (PostgreSQL's 5). Such a database opens: the
/// migration is renumbered, not run again (it adds a column, which would fail twice).
#[tokio::test]
async fn a_database_numbered_the_old_way_is_renumbered_not_migrated_again() {
    let dir = std::env::temp_dir().join(format!("talkapp-store-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("talkapp.db");
    drop(SqliteStore::open(&path).await.expect("a new database"));
    {
        let connection = rusqlite::Connection::open(&path).expect("open the file");
        connection
            .execute_batch(
                "DELETE FROM schema_migrations WHERE version IN (4, 5);
                 INSERT INTO schema_migrations (version, name, applied_at)
                 VALUES (4, 'events_and_push', 0);",
            )
            .expect("lay the versions out as before");
    }

    SqliteStore::open(&path)
        .await
        .expect("the old layout opens and migrates");

    let connection = rusqlite::Connection::open(&path).expect("open the file");
    let mut statement = connection
        .prepare("SELECT version, name FROM schema_migrations ORDER BY version")
        .expect("prepare");
    let versions: Vec<(i64, String)> = statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(
        versions.get(3..5).expect("five versions at least"),
        [
            (4, "chat_replicas".to_owned()),
            (5, "events_and_push".to_owned())
        ]
    );
    std::fs::remove_dir_all(&dir).ok();
}
