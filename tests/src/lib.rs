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
mod partitioned;

pub use fixtures::{Appointment, Doc, Kitchen, Note, Place, Priority, Shift, Tag};
pub use partitioned::{Message, Pin, Reaction, Room, Task};

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

pub mod outage {
    //! Helpers for scale-out and failure tests: free local ports, a TCP proxy that can cut a service
    //! off and bring it back on the same address, and private Redis and NATS servers that a test
    //! starts, kills and restarts. Everything binds 127.0.0.1; every wait is bounded.

    use std::net::SocketAddr;
    use std::process::{Child, Command, Stdio};
    use std::sync::{Arc, Mutex, PoisonError};
    use std::time::{Duration, Instant};

    use tokio::net::{TcpListener, TcpStream};
    use tokio::task::JoinHandle;

    /// How long a server may take to accept connections after it was started.
    const READY: Duration = Duration::from_secs(10);

    /// A port on 127.0.0.1 that nothing listened on a moment ago.
    pub fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|addr| addr.port())
            .expect("a free local port")
    }

    /// Waits until something accepts connections on `addr`, failing the test after 10 s.
    pub async fn wait_listening(addr: SocketAddr, what: &str) {
        let deadline = Instant::now() + READY;
        while TcpStream::connect(addr).await.is_err() {
            assert!(Instant::now() < deadline, "{what} does not accept connections on {addr} after {READY:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `url` (`scheme://user@host:port/path?query`) with its host and port replaced by `addr`.
    pub fn url_via(url: &str, addr: SocketAddr) -> String {
        let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        let user = authority.rfind('@').map_or("", |at| &authority[..=at]);
        format!("{scheme}://{user}{addr}{tail}")
    }

    /// A TCP proxy on 127.0.0.1 in front of `upstream`. [`cut`](Self::cut) closes every connection
    /// through it and stops listening, so the service looks down (what a crash or a lost network
    /// looks like to a client: connections end, new ones are refused); [`restore`](Self::restore)
    /// listens again on the same address. Stopped when dropped.
    #[derive(Debug)]
    pub struct TcpProxy {
        addr: SocketAddr,
        upstream: SocketAddr,
        tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    }

    impl TcpProxy {
        /// Starts a proxy on a free port.
        pub async fn start(upstream: SocketAddr) -> TcpProxy {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
            let addr = listener.local_addr().expect("the proxy's address");
            let proxy = TcpProxy { addr, upstream, tasks: Arc::default() };
            proxy.serve(listener);
            proxy
        }

        /// Where clients connect.
        pub fn addr(&self) -> SocketAddr {
            self.addr
        }

        fn serve(&self, listener: TcpListener) {
            let upstream = self.upstream;
            let tasks = self.tasks.clone();
            let accept = tokio::spawn(async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    let relay = tokio::spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(upstream).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                    tasks.lock().unwrap_or_else(PoisonError::into_inner).push(relay);
                }
            });
            self.tasks.lock().unwrap_or_else(PoisonError::into_inner).push(accept);
        }

        /// Closes every connection and stops listening.
        pub fn cut(&self) {
            for task in self.tasks.lock().unwrap_or_else(PoisonError::into_inner).drain(..) {
                task.abort();
            }
        }

        /// Listens again on the same address (after [`cut`](Self::cut)).
        pub async fn restore(&self) {
            let deadline = Instant::now() + READY;
            let listener = loop {
                // The aborted listener closes as its task ends, a moment after `cut`.
                match TcpListener::bind(self.addr).await {
                    Ok(listener) => break listener,
                    Err(error) => {
                        assert!(Instant::now() < deadline, "rebind the proxy on {}: {error}", self.addr);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            };
            self.serve(listener);
        }
    }

    impl Drop for TcpProxy {
        fn drop(&mut self) {
            self.cut();
        }
    }

    /// A message broker a test runs for itself.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum BrokerKind {
        /// `redis-server`, without persistence.
        Redis,
        /// `nats-server`, core NATS only.
        Nats,
    }

    /// A private broker process on 127.0.0.1:`port`; killed when dropped.
    #[derive(Debug)]
    pub struct Broker {
        kind: BrokerKind,
        port: u16,
        child: Option<Child>,
    }

    impl Broker {
        /// Starts a broker on a free port and waits until it accepts connections.
        pub async fn start(kind: BrokerKind) -> Broker {
            let mut broker = Broker { kind, port: free_port(), child: None };
            broker.restart().await;
            broker
        }

        /// The URL a bus connects to.
        pub fn url(&self) -> String {
            match self.kind {
                BrokerKind::Redis => format!("redis://127.0.0.1:{}", self.port),
                BrokerKind::Nats => format!("nats://127.0.0.1:{}", self.port),
            }
        }

        /// Kills the process at once (SIGKILL, as in a crash) and reaps it.
        pub fn kill(&mut self) {
            if let Some(mut child) = self.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }

        /// Starts the process (again) on the same port and waits until it accepts connections.
        pub async fn restart(&mut self) {
            self.kill();
            let port = self.port.to_string();
            let mut command = match self.kind {
                BrokerKind::Redis => {
                    let mut command = Command::new("redis-server");
                    command.args(["--bind", "127.0.0.1", "--port", &port, "--save", "", "--appendonly", "no"]);
                    command.current_dir(std::env::temp_dir());
                    command
                }
                BrokerKind::Nats => {
                    let mut command = Command::new("nats-server");
                    command.args(["-a", "127.0.0.1", "-p", &port]);
                    command
                }
            };
            let child = command
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|error| panic!("start {:?} (is it on PATH?): {error}", self.kind));
            self.child = Some(child);
            wait_listening(SocketAddr::from(([127, 0, 0, 1], self.port)), &format!("{:?}", self.kind)).await;
        }
    }

    impl Drop for Broker {
        fn drop(&mut self) {
            self.kill();
        }
    }
}
