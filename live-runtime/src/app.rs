//! The builder users touch: a store, resources, and the router that serves them over REST and Bayeux.
//!
//! [`Live`] wires the pieces: the store reports its commits to the feed (feed/), which publishes every
//! committed change on its resource's channel through the Bayeux server, mounted at `/live` unless
//! configured otherwise (docs/live.md). The feed runs as long as that server can deliver: while the
//! [`Live`] or any router taken from it is alive, so serving [`Live::router`] alone is enough. It stops at
//! [`Live::shutdown`].
//!
//! Several processes on one database serve as one service when each is given the same bus
//! ([`LiveBuilder::bus`], docs/deployment.md): each then publishes every write, whichever process made it.

use std::any::TypeId;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;

use crate::bayeux;
use crate::bus::{self, Bus, BusError, IntoBus};
use crate::feed::history::{self, LogHistory, SnapshotFn};
use crate::feed::{self, Feed, Pruning};
use crate::http::RestOptions;
use crate::resource::{Descriptor, LiveResource};
use crate::store::{Backend, Retention, Store, StoreError};

/// A running set of live resources over one store: serve [`Live::router`], write through
/// [`Live::records`]; every committed write is published on its resource's channel.
///
/// ```no_run
/// use live_runtime::{Live, LiveResource};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(LiveResource, Serialize, Deserialize, Clone, Debug)]
/// #[live(path = "/api/todos")]
/// struct Todo {
///     #[live(id)]
///     id: i64,
///     title: String,
/// }
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let live = Live::builder().resource::<Todo>().connect("sqlite://todo.db").await?;
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// axum::serve(listener, live.router()).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Live {
    store: Store,
    router: Router,
    bayeux: bayeux::Server,
    feed: Arc<Feed>,
}

/// Builds a [`Live`]: `Live::builder().resource::<Todo>().connect(url)`. Calls may come in any order;
/// each setting is applied when the store connects.
#[derive(Debug, Default)]
pub struct LiveBuilder {
    resources: Vec<Registration>,
    bayeux: Option<bayeux::Options>,
    mount: Option<String>,
    pruning: Option<Pruning>,
    bus: Option<Result<Bus, BusError>>,
    poll: Option<Duration>,
}

/// Why a [`Live`] could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LiveError {
    /// The database could not be opened, or a resource's table does not fit.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The bus URL is wrong, does not fit the store, or the bus cannot be reached.
    #[error(transparent)]
    Bus(#[from] BusError),
}

type Preparer = for<'a> fn(&'a Store) -> Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + 'a>>;

/// One resource as registered: what it takes to prepare its table, serve it and answer its snapshots.
#[derive(Debug)]
struct Registration {
    type_id: TypeId,
    descriptor: &'static Descriptor,
    prepare: Preparer,
    routes: fn(Store, RestOptions) -> Router,
    snapshot: SnapshotFn,
    options: RestOptions,
}

impl Registration {
    fn of<R: LiveResource>(options: RestOptions) -> Registration {
        Registration {
            type_id: TypeId::of::<R>(),
            descriptor: R::DESCRIPTOR,
            prepare: prepare::<R>,
            routes: crate::http::routes_with::<R>,
            snapshot: history::snapshot::<R>,
            options,
        }
    }
}

fn prepare<R: LiveResource>(store: &Store) -> Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + '_>> {
    Box::pin(store.prepare::<R>())
}

impl Live {
    /// Starts a builder.
    pub fn builder() -> LiveBuilder {
        LiveBuilder::default()
    }

    /// The REST routes of every resource and the Bayeux endpoint (at `/live` by default), for any
    /// application state `S`: merge or nest it into your app before its own `with_state`. Serving it keeps
    /// the feed running, even once the [`Live`] itself is dropped.
    ///
    /// ```
    /// use axum::extract::State;
    /// use axum::routing::get;
    /// use axum::Router;
    /// use live_runtime::{Live, LiveResource};
    /// use serde::{Deserialize, Serialize};
    ///
    /// #[derive(LiveResource, Serialize, Deserialize, Clone, Debug)]
    /// #[live(path = "/api/todos")]
    /// struct Todo {
    ///     #[live(id)]
    ///     id: i64,
    ///     title: String,
    /// }
    ///
    /// /// The application's own state.
    /// #[derive(Clone)]
    /// struct AppState {
    ///     greeting: &'static str,
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let live = Live::builder().resource::<Todo>().connect("sqlite::memory:").await?;
    /// let app: Router = Router::new()
    ///     .route("/hello", get(|State(state): State<AppState>| async move { state.greeting }))
    ///     .merge(live.router())
    ///     .layer(axum::middleware::from_fn(|request: axum::extract::Request, next: axum::middleware::Next| async move {
    ///         // The application's middleware sees the REST and Bayeux requests too.
    ///         next.run(request).await
    ///     }))
    ///     .with_state(AppState { greeting: "hello" });
    /// # drop(app);
    /// # Ok(())
    /// # }
    /// ```
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        self.router.clone().with_state(())
    }

    /// The store shared by every resource.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The Bayeux server changes are published through; publish your own events on other channels with it.
    pub fn bayeux(&self) -> &bayeux::Server {
        &self.bayeux
    }

    /// The typed API of `R`, for server-side reads and writes (published like REST writes).
    pub fn records<R: LiveResource>(&self) -> crate::store::Records<R> {
        self.store.records::<R>()
    }

    /// Stops publishing changes and pruning the log, and ends every Bayeux session (their clients are told
    /// to handshake again). Writes still succeed and are logged; a client resuming later gets them.
    pub fn shutdown(&self) {
        self.feed.stop();
        self.bayeux.close_all();
    }
}

impl LiveBuilder {
    /// Serves `R` with default REST options (its table is created or checked when the store connects) and
    /// publishes its changes on the channel named by its path. Registering a resource twice is the same as
    /// once, and keeps the options of [`resource_with`](Self::resource_with) if it came first.
    pub fn resource<R: LiveResource>(mut self) -> Self {
        if !self.resources.iter().any(|registered| registered.type_id == TypeId::of::<R>()) {
            self.resources.push(Registration::of::<R>(RestOptions::default()));
        }
        self
    }

    /// Serves `R` with `options` (a body limit, a page size, read-only routes...), whether or not
    /// [`resource`](Self::resource) named it before or after.
    ///
    /// ```no_run
    /// # use live_runtime::{Live, LiveResource};
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(LiveResource, Serialize, Deserialize, Clone, Debug)]
    /// # #[live(path = "/api/todos")]
    /// # struct Todo { #[live(id)] id: i64, title: String }
    /// use live_runtime::http::RestOptions;
    ///
    /// # async fn demo() -> Result<(), live_runtime::LiveError> {
    /// let live = Live::builder().resource_with::<Todo>(RestOptions::default().read_only()).connect("sqlite://todo.db").await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn resource_with<R: LiveResource>(mut self, options: RestOptions) -> Self {
        match self.resources.iter_mut().find(|registered| registered.type_id == TypeId::of::<R>()) {
            Some(registered) => registered.options = options,
            None => self.resources.push(Registration::of::<R>(options)),
        }
        self
    }

    /// The Bayeux settings (default [`bayeux::Options::default`]: mounted at `/live`, 25 s hold, clients
    /// may publish nowhere). Resource channels stay server-only unless `options` allows them. A
    /// [`mount`](Self::mount) given before or after wins over the options' own mount path.
    pub fn bayeux(mut self, options: bayeux::Options) -> Self {
        self.bayeux = Some(options);
        self
    }

    /// Mounts the Bayeux endpoint at `path` instead of `/live`.
    pub fn mount(mut self, path: &str) -> Self {
        self.mount = Some(path.to_owned());
        self
    }

    /// Prunes the event log to `retention` every `every` (default: never). Clients resuming from a seq that was pruned
    /// are told to reload (docs/live.md, "Resume"; docs/deployment.md, "Retention and `since`").
    pub fn retention(mut self, retention: Retention, every: Duration) -> Self {
        self.pruning = Some(Pruning { retention, every: every.max(Duration::from_millis(10)) });
        self
    }

    /// Shares this service's writes with other processes on the same database through `bus`
    /// (docs/deployment.md): a [`Bus`], or a URL: `inprocess` (the default: no other process), `postgres`
    /// (`LISTEN`/`NOTIFY` on the store's own PostgreSQL database), `redis://host:port`,
    /// `nats://host:port`. Every process must use the same bus and topic. A bad URL fails
    /// [`connect`](Self::connect) and [`store`](Self::store), as does a bus that cannot be reached
    /// then; later outages only delay delivery (see [`crate::bus`]).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), live_runtime::LiveError> {
    /// use live_runtime::Live;
    ///
    /// let live = Live::builder().bus("redis://127.0.0.1:6379").connect("postgres://db/app").await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn bus(mut self, bus: impl IntoBus) -> Self {
        self.bus = Some(bus.into_bus());
        self
    }

    /// How often the feed reads the event log when neither this process's writes nor the bus woke
    /// it (default 1 s, at least 10 ms): the longest a lost bus wake-up, or a bus that is down,
    /// delays an event, and how soon a process without a bus sees the writes of others.
    pub fn poll_interval(mut self, every: Duration) -> Self {
        self.poll = Some(every.max(Duration::from_millis(10)));
        self
    }

    /// Uses an already connected store and starts publishing its changes. Call inside a tokio runtime.
    pub async fn store(self, store: Store) -> Result<Live, LiveError> {
        let bus = self.bus.unwrap_or_else(|| Ok(Bus::in_process()))?;
        if bus.is_postgres() && store.backend() != Backend::Postgres {
            return Err(BusError::NeedsPostgres.into());
        }
        for registered in &self.resources {
            (registered.prepare)(&store).await?;
        }
        let link = bus::start(&bus, &store).await?;
        let resources: Arc<[(&'static Descriptor, SnapshotFn)]> =
            self.resources.iter().map(|registered| (registered.descriptor, registered.snapshot)).collect();
        let descriptors: Arc<[&'static Descriptor]> =
            self.resources.iter().map(|registered| registered.descriptor).collect();
        let history = LogHistory { store: store.clone(), resources };
        let mut options = self.bayeux.unwrap_or_default().history(history).filters({
            let descriptors = Arc::clone(&descriptors);
            move |channel, filter| {
                feed::compile_filter(descriptors.iter().copied(), channel, filter)
                    .map(|_| crate::filter::canonical(filter))
                    .map_err(|why| {
                        bayeux::Error::custom(400, [channel], bayeux::error::plain_text(&format!("where: {why}")))
                    })
            }
        });
        if let Some(mount) = self.mount {
            options = options.mount(mount);
        }
        let bayeux = bayeux::Server::new(options);
        let poll = self.poll.unwrap_or(feed::DEFAULT_POLL);
        let feed = Feed::start(store.clone(), &bayeux, self.pruning, link, poll, descriptors).await?;
        let router = self.resources.into_iter().fold(Router::new(), |router, registered| {
            router.merge((registered.routes)(store.clone(), registered.options))
        });
        let router = router.merge(bayeux.router());
        Ok(Live { store, router, bayeux, feed: Arc::new(feed) })
    }

    /// Connects to `url` (`sqlite://todo.db` or `postgres://...`) and prepares every resource.
    pub async fn connect(mut self, url: &str) -> Result<Live, LiveError> {
        // A bus that cannot work is reported before the database is opened (or a SQLite file
        // created).
        if let Some(Err(error)) = self.bus.take_if(|bus| bus.is_err()) {
            return Err(error.into());
        }
        let scheme = url.split_once(':').map(|(scheme, _)| scheme.to_ascii_lowercase());
        let postgres = matches!(scheme.as_deref(), Some("postgres" | "postgresql"));
        if !postgres && self.bus.as_ref().is_some_and(|bus| bus.as_ref().is_ok_and(Bus::is_postgres)) {
            return Err(BusError::NeedsPostgres.into());
        }
        let store = Store::connect(url).await?;
        self.store(store).await
    }
}
