//! The builder users touch: a store, resources, and the router that serves them over REST and Bayeux.
//!
//! [`Live`] owns the feed (feed.rs) that publishes every committed change on its resource's channel, and
//! the Bayeux server it publishes through, mounted at `/live` unless configured otherwise (design.md §5,
//! §6). The feed stops when the last clone of the [`Live`] is dropped, or at [`Live::shutdown`].

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;

use crate::bayeux;
use crate::feed::{self, Feed, LogHistory, Pruning, SnapshotFn};
use crate::resource::LiveResource;
use crate::store::{Retention, Store, StoreError};

type Mount = fn(Store) -> Router;

/// A running set of live resources over one store: serve [`Live::router`], write through
/// [`Live::records`]; every committed write is published on its resource's channel.
#[derive(Clone, Debug)]
pub struct Live {
    store: Store,
    router: Router,
    bayeux: bayeux::Server,
    feed: Arc<Feed>,
}

/// Builds a [`Live`]: `Live::builder().resource::<Todo>().connect(url)`.
#[derive(Debug, Default)]
pub struct LiveBuilder {
    resources: Vec<Mount>,
    preparers: Vec<Preparer>,
    snapshots: Vec<(&'static str, SnapshotFn)>,
    bayeux: Option<bayeux::Options>,
    pruning: Option<Pruning>,
}

type Preparer = for<'a> fn(&'a Store) -> Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + 'a>>;

fn prepare<R: LiveResource>(store: &Store) -> Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + '_>> {
    Box::pin(store.prepare::<R>())
}

impl Live {
    /// Starts a builder.
    pub fn builder() -> LiveBuilder {
        LiveBuilder::default()
    }

    /// The REST routes of every resource and the Bayeux endpoint (at `/live` by default); merge or nest
    /// it into your app.
    pub fn router(&self) -> Router {
        self.router.clone()
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
    /// Serves `R` (its table is created or checked when the store connects) and publishes its changes on
    /// the channel named by its path.
    pub fn resource<R: LiveResource>(mut self) -> Self {
        self.resources.push(crate::http::routes::<R>);
        self.preparers.push(prepare::<R>);
        self.snapshots.push((R::DESCRIPTOR.path, feed::snapshot::<R>));
        self
    }

    /// The Bayeux settings (default [`bayeux::Options::default`]: mounted at `/live`, 25 s hold, clients
    /// may publish nowhere). Resource channels stay server-only unless `options` allows them.
    pub fn bayeux(mut self, options: bayeux::Options) -> Self {
        self.bayeux = Some(options);
        self
    }

    /// Mounts the Bayeux endpoint at `path` instead of `/live`.
    pub fn mount(mut self, path: &str) -> Self {
        self.bayeux = Some(self.bayeux.take().unwrap_or_default().mount(path));
        self
    }

    /// Prunes the event log to `retention` every `every` (default: never). Clients resuming from a seq
    /// that was pruned are told to reload (design.md §6).
    pub fn retention(mut self, retention: Retention, every: Duration) -> Self {
        self.pruning = Some(Pruning { retention, every: every.max(Duration::from_millis(10)) });
        self
    }

    /// Uses an already connected store and starts publishing its changes. Call inside a tokio runtime.
    pub async fn store(self, store: Store) -> Result<Live, StoreError> {
        for prepare in &self.preparers {
            prepare(&store).await?;
        }
        let history = LogHistory { store: store.clone(), snapshots: Arc::new(self.snapshots.into_iter().collect()) };
        let options = self.bayeux.unwrap_or_default().history(history);
        let bayeux = bayeux::Server::new(options);
        let feed = Feed::start(store.clone(), bayeux.clone(), self.pruning).await?;
        let router = self.resources.iter().fold(Router::new(), |router, mount| router.merge(mount(store.clone())));
        let router = router.merge(bayeux.router());
        Ok(Live { store, router, bayeux, feed: Arc::new(feed) })
    }

    /// Connects to `url` (`sqlite://todo.db` or `postgres://...`) and prepares every resource.
    pub async fn connect(self, url: &str) -> Result<Live, StoreError> {
        let store = Store::connect(url).await?;
        self.store(store).await
    }
}
