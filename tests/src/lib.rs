//! Shared helpers for the cross-crate tests: an isolated [`Store`] on each backend, and
//! hand-written resources that cover every column type.
//!
//! Every test gets its own database: a fresh SQLite file in a temporary directory, or a fresh
//! schema in the PostgreSQL database named by `LIVE_TEST_POSTGRES`
//! (default `postgres://postgres@127.0.0.1:5432/test`). PostgreSQL being unreachable is a test
//! failure, never a skip: a green run must mean both backends were exercised.
//!
//! ```no_run
//! # async fn demo() {
//! use live_tests::{Backend, Note, store};
//!
//! let db = store(Backend::Postgres).await;
//! db.prepare::<Note>().await.expect("prepare notes");
//! # }
//! ```

mod fixtures;

pub use fixtures::{Doc, Kitchen, Note, Tag};

use std::fmt;
use std::ops::Deref;
use std::path::PathBuf;
use std::str::FromStr;

use live_runtime::{Store, StoreError, StoreOptions};
use sqlx::Connection;

/// The default PostgreSQL test database; `LIVE_TEST_POSTGRES` overrides it.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A database the store supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in a fresh temporary directory.
    Sqlite,
    /// A fresh schema in the local PostgreSQL.
    Postgres,
}

impl Backend {
    /// Every backend, for tests that loop over them.
    pub const ALL: [Backend; 2] = [Backend::Sqlite, Backend::Postgres];
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        })
    }
}

/// The PostgreSQL URL of the tests: `LIVE_TEST_POSTGRES`, or [`DEFAULT_POSTGRES_URL`].
pub fn postgres_url() -> String {
    std::env::var("LIVE_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned())
}

/// An isolated, empty database: connect to it as often as a test needs (for example twice, to
/// check a table created by one descriptor against another). Removed when dropped.
#[derive(Debug)]
pub struct TestDb {
    backend: Backend,
    url: String,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    Directory(PathBuf),
    Schema { admin_url: String, schema: String },
}

impl TestDb {
    /// Creates a fresh database on `backend`; panics (failing the test) when it cannot.
    pub async fn new(backend: Backend) -> TestDb {
        let unique = uuid::Uuid::new_v4().simple().to_string();
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(format!("live-test-{unique}"));
                std::fs::create_dir_all(&dir).expect("create a temporary directory for the SQLite file");
                let file = dir.join("test.db");
                let url = format!("sqlite://{}", file.display());
                TestDb { backend, url, cleanup: Cleanup::Directory(dir) }
            }
            Backend::Postgres => {
                let admin_url = postgres_url();
                let schema = format!("live_test_{unique}");
                let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap_or_else(|error| {
                    panic!("PostgreSQL at {admin_url} is unreachable ({error}); set LIVE_TEST_POSTGRES")
                });
                sqlx::query(&format!("CREATE SCHEMA \"{schema}\""))
                    .execute(&mut admin)
                    .await
                    .expect("create the test schema");
                let _ = admin.close().await;
                let separator = if admin_url.contains('?') { '&' } else { '?' };
                // `options` sets the connection's search_path, so every pooled connection of the
                // store sees only this test's schema; `application_name` lets the clean-up find
                // those connections.
                let url =
                    format!("{admin_url}{separator}application_name={schema}&options=-c%20search_path%3D{schema}");
                TestDb { backend, url, cleanup: Cleanup::Schema { admin_url, schema } }
            }
        }
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL a store connects to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Connects a store with default options; panics (failing the test) when it cannot.
    pub async fn connect(&self) -> Store {
        self.connect_with(StoreOptions::default())
            .await
            .unwrap_or_else(|error| panic!("connect to the {} test database {}: {error}", self.backend, self.url))
    }

    /// Connects a store with `options`.
    pub async fn connect_with(&self, options: StoreOptions) -> Result<Store, StoreError> {
        Store::connect_with(&self.url, options).await
    }

    /// Runs one SQL statement outside the store (to set up a schema the store must cope with).
    pub async fn execute(&self, sql: &str) {
        match self.backend {
            Backend::Sqlite => {
                let options = sqlx::sqlite::SqliteConnectOptions::from_str(&self.url)
                    .expect("a SQLite URL")
                    .create_if_missing(true);
                let mut conn = sqlx::SqliteConnection::connect_with(&options).await.expect("open the SQLite file");
                sqlx::query(sql).execute(&mut conn).await.unwrap_or_else(|error| panic!("{sql}: {error}"));
                let _ = conn.close().await;
            }
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.url).await.expect("connect to PostgreSQL");
                sqlx::query(sql).execute(&mut conn).await.unwrap_or_else(|error| panic!("{sql}: {error}"));
                let _ = conn.close().await;
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Directory(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Schema { admin_url, schema } => {
                // Drop runs inside the test's runtime, which cannot be awaited from here; a
                // short-lived thread with its own runtime drops the schema and is joined, so the
                // schema is gone when the test ends. The test's own connections are ended
                // first: while this thread blocks the test's runtime, a transaction that was
                // abandoned mid-way cannot roll back, and its locks would hold the DROP forever.
                let admin_url = admin_url.clone();
                let schema = schema.clone();
                let dropper = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
                    runtime.block_on(async {
                        let mut admin = sqlx::PgConnection::connect(&admin_url).await.ok()?;
                        let _ = sqlx::query("SET lock_timeout = '10s'").execute(&mut admin).await;
                        let _ = sqlx::query(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                             WHERE application_name = $1 AND pid <> pg_backend_pid()",
                        )
                        .bind(&schema)
                        .execute(&mut admin)
                        .await;
                        let drop = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
                        let _ = sqlx::query(&drop).execute(&mut admin).await;
                        admin.close().await.ok()
                    })
                });
                let _ = dropper.join();
            }
        }
    }
}

/// A connected [`Store`] on its own isolated database; derefs to the store.
#[derive(Debug)]
pub struct TestStore {
    /// The store.
    pub store: Store,
    /// The database it is connected to (dropped after the store).
    pub db: TestDb,
}

impl Deref for TestStore {
    type Target = Store;

    fn deref(&self) -> &Store {
        &self.store
    }
}

/// A store with default options on a fresh database of `backend`. Resources are not prepared:
/// call `store.prepare::<R>()` (or [`fixture_store`] for every fixture).
pub async fn store(backend: Backend) -> TestStore {
    let db = TestDb::new(backend).await;
    let store = db.connect().await;
    TestStore { store, db }
}

/// A store on a fresh database of `backend` with every fixture resource ([`Kitchen`], [`Note`],
/// [`Doc`], [`Tag`]) prepared.
pub async fn fixture_store(backend: Backend) -> TestStore {
    let test = store(backend).await;
    test.prepare::<Kitchen>().await.expect("prepare kitchen");
    test.prepare::<Note>().await.expect("prepare notes");
    test.prepare::<Doc>().await.expect("prepare docs");
    test.prepare::<Tag>().await.expect("prepare tags");
    test
}
