//! Fresh, throw-away databases for the conformance suite, one per test.
//!
//! PostgreSQL: a new database `talkapp_test_<uuid>` on the server named by
//! `TALKAPP_TEST_POSTGRES_URL` (default [`DEFAULT_POSTGRES_URL`]), dropped at the end.
//! SQLite: a new file `talkapp-store-test-<uuid>/db.sqlite` under the system temp
//! directory, removed at the end.
//!
//! Clean-up is an explicit async call made by [`run`] after the test body has finished,
//! whether it passed or panicked; the panic is then re-raised.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use talkapp_store::postgres::PostgresStore;
use talkapp_store::sqlite::SqliteStore;
use talkapp_store::{MediaStore, Store};
use tokio_postgres::NoTls;
use uuid::Uuid;

/// The admin connection used when `TALKAPP_TEST_POSTGRES_URL` is not set.
const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Which implementation a test runs against.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Backend {
    Postgres,
    Sqlite,
}

/// Opens (and migrates) a store on a test's database; every call opens a new, independent
/// store on the same data, which is how the suite checks that migrations are idempotent.
#[derive(Debug, Clone)]
pub(crate) enum StoreOpener {
    Postgres { url: String },
    Sqlite { path: PathBuf },
}

impl StoreOpener {
    /// The media store's view of a new store on this test's database.
    pub(crate) async fn open_media(&self) -> Arc<dyn MediaStore> {
        match self {
            Self::Postgres { url } => Arc::new(
                PostgresStore::connect(url, 4, Duration::from_secs(5))
                    .await
                    .expect("connect the PostgreSQL store to the test database"),
            ),
            Self::Sqlite { path } => Arc::new(
                SqliteStore::open(path)
                    .await
                    .expect("open the SQLite store on the test file"),
            ),
        }
    }

    /// A new store on this test's database.
    pub(crate) async fn open(&self) -> Arc<dyn Store> {
        match self {
            Self::Postgres { url } => Arc::new(
                PostgresStore::connect(url, 4, Duration::from_secs(5))
                    .await
                    .expect("connect the PostgreSQL store to the test database"),
            ),
            Self::Sqlite { path } => Arc::new(
                SqliteStore::open(path)
                    .await
                    .expect("open the SQLite store on the test file"),
            ),
        }
    }
}

/// A test's database: where it is and how to get rid of it.
struct TestDatabase {
    opener: StoreOpener,
    cleanup: Cleanup,
}

enum Cleanup {
    Postgres { admin_url: String, name: String },
    Sqlite { dir: PathBuf },
}

impl TestDatabase {
    async fn create(backend: Backend) -> Self {
        match backend {
            Backend::Postgres => Self::create_postgres().await,
            Backend::Sqlite => Self::create_sqlite(),
        }
    }

    async fn create_postgres() -> Self {
        let admin_url = std::env::var("TALKAPP_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
        let name = format!("talkapp_test_{}", Uuid::new_v4().simple());
        let admin = admin_client(&admin_url).await;
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("create the test database");
        let url = with_database(&admin_url, &name);
        Self {
            opener: StoreOpener::Postgres { url },
            cleanup: Cleanup::Postgres { admin_url, name },
        }
    }

    fn create_sqlite() -> Self {
        let dir = std::env::temp_dir().join(format!("talkapp-store-test-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("create the test directory");
        let path = dir.join("db.sqlite");
        Self {
            opener: StoreOpener::Sqlite { path },
            cleanup: Cleanup::Sqlite { dir },
        }
    }

    /// Best effort: a failure is reported on stderr, never fails the test.
    async fn cleanup(self) {
        match self.cleanup {
            Cleanup::Postgres { admin_url, name } => {
                let admin = admin_client(&admin_url).await;
                if let Err(error) = admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await
                {
                    eprintln!("could not drop test database {name}: {error}");
                }
            }
            Cleanup::Sqlite { dir } => {
                if let Err(error) = std::fs::remove_dir_all(&dir) {
                    eprintln!("could not remove {}: {error}", dir.display());
                }
            }
        }
    }
}

/// Runs one conformance test on a fresh database of `backend`, then removes the database.
///
/// The store is opened inside the test task so that a failure to open or migrate is a test
/// failure that still gets cleaned up after.
pub(crate) async fn run<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(Arc<dyn Store>, StoreOpener) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let database = TestDatabase::create(backend).await;
    let opener = database.opener.clone();
    let outcome = tokio::spawn(async move {
        let store = opener.open().await;
        test(store, opener).await;
    })
    .await;
    database.cleanup().await;
    if let Err(error) = outcome {
        match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(error) => panic!("test task did not finish: {error}"),
        }
    }
}

async fn admin_client(admin_url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(admin_url, NoTls)
        .await
        .unwrap_or_else(|error| {
            panic!("connect to PostgreSQL at TALKAPP_TEST_POSTGRES_URL ({admin_url}): {error}")
        });
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            eprintln!("admin connection to PostgreSQL ended: {error}");
        }
    });
    client
}

/// `admin_url` pointed at database `name`; works for URLs and key-value connection strings
/// (a later `dbname` overrides an earlier one in both).
fn with_database(admin_url: &str, name: &str) -> String {
    if admin_url.starts_with("postgres://") || admin_url.starts_with("postgresql://") {
        let separator = if admin_url.contains('?') { '&' } else { '?' };
        format!("{admin_url}{separator}dbname={name}")
    } else {
        format!("{admin_url} dbname={name}")
    }
}
