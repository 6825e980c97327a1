//! The builder users touch: a store, resources, and the router that serves them.

use std::pin::Pin;

use axum::Router;

use crate::resource::LiveResource;
use crate::store::{Store, StoreError};

type Mount = fn(Store) -> Router;

/// A running set of live resources over one store: serve [`Live::router`], write through
/// [`Live::records`].
#[derive(Clone, Debug)]
pub struct Live {
    store: Store,
    router: Router,
}

/// Builds a [`Live`]: `Live::builder().resource::<Todo>().connect(url)`.
#[derive(Debug, Default)]
pub struct LiveBuilder {
    resources: Vec<Mount>,
    preparers: Vec<Preparer>,
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

    /// The REST routes of every resource; merge or nest it into your app.
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// The store shared by every resource.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The typed API of `R`, for server-side reads and writes.
    pub fn records<R: LiveResource>(&self) -> crate::store::Records<R> {
        self.store.records::<R>()
    }
}

impl LiveBuilder {
    /// Serves `R` (its table is created or checked when the store connects).
    pub fn resource<R: LiveResource>(mut self) -> Self {
        self.resources.push(crate::http::routes::<R>);
        self.preparers.push(prepare::<R>);
        self
    }

    /// Uses an already connected store.
    pub async fn store(self, store: Store) -> Result<Live, StoreError> {
        for prepare in &self.preparers {
            prepare(&store).await?;
        }
        let router = self.resources.iter().fold(Router::new(), |router, mount| router.merge(mount(store.clone())));
        Ok(Live { store, router })
    }

    /// Connects to `url` (`sqlite://todo.db` or `postgres://...`) and prepares every resource.
    pub async fn connect(self, url: &str) -> Result<Live, StoreError> {
        let store = Store::connect(url).await?;
        self.store(store).await
    }
}
