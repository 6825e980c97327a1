//! Resume and snapshot over the event log (docs/live.md; docs/protocol.md §14): the [`History`] the feed installs on
//! the Bayeux server. A replay delivers each logged change's `data` exactly as the live event did (the body as it was
//! logged); a snapshot serializes the current rows once.

use std::pin::Pin;
use std::sync::Arc;

use serde_json::value::RawValue;
use serde_json::{Map, Value as Json};

use crate::bayeux::{self, BoxFuture, Catchup, Caught, Context, History, Replayed};
use crate::feed;
use crate::filter::{Verdict, View};
use crate::partition;
use crate::resource::{Descriptor, LiveResource, Value};
use crate::store::{Filter, FilterOp, ListQuery, Store, StoreError};

/// The rows of a resource as JSON and the seq they correspond to, being read.
pub(crate) type SnapshotFuture<'a> =
    Pin<Box<dyn Future<Output = Result<(i64, Box<RawValue>), StoreError>> + Send + 'a>>;

/// Reads the current rows of one partition of a resource (given by its keys, none for a flat
/// resource), or of one record of it (given by its id's segment), and the seq they correspond to.
pub(crate) type SnapshotFn = for<'a> fn(&'a Store, Vec<Value>, Option<String>, Option<&'a View>) -> SnapshotFuture<'a>;

/// [`SnapshotFn`] for `R`: every row of the partition, in id order, as the REST list shows them,
/// serialized once (each row as a write would have serialized it); for a record, `[row]` or `[]`.
pub(crate) fn snapshot<'a, R: LiveResource>(
    store: &'a Store,
    keys: Vec<Value>,
    record: Option<String>,
    view: Option<&'a View>,
) -> SnapshotFuture<'a> {
    Box::pin(async move {
        let records = store.records::<R>();
        let records = if keys.is_empty() { records } else { records.partition(keys)? };
        let mut query = ListQuery::default();
        if let Some(record) = record {
            let descriptor = R::DESCRIPTOR;
            let id = partition::parse_key(descriptor.id_column().ty, &record)
                .map_err(|why| StoreError::Unsupported(format!("record id `{record}`: {why}")))?;
            query.filters.push(Filter { column: descriptor.id, op: FilterOp::Eq, negate: false, values: vec![id] });
        }
        if let Some(view) = view {
            query.filters.extend(view.filters.iter().cloned());
        }
        let (seq, rows) = records.snapshot(&query).await?;
        let values: Vec<&R> = rows.iter().map(|stored| &stored.value).collect();
        let rows = serde_json::value::to_raw_value(&values).map_err(|error| StoreError::Body(error.to_string()))?;
        Ok((seq, rows))
    })
}

/// Resume and snapshot over the event log (docs/live.md), for the resource channels it was given:
/// the path of each resource, or of each partition of a nested one.
pub(crate) struct LogHistory {
    pub(crate) store: Store,
    pub(crate) resources: Arc<[(&'static Descriptor, SnapshotFn)]>,
}

impl LogHistory {
    /// The resources' descriptors.
    fn descriptors(&self) -> impl Iterator<Item = &'static Descriptor> + Clone + '_ {
        self.resources.iter().map(|(descriptor, _)| *descriptor)
    }

    /// What `channel` is: a partition of a resource (or the whole of a flat one), or one record of
    /// it; with the resource's descriptor and snapshot, the partition's keys and the record's id.
    fn resource(&self, channel: &str) -> Option<(&'static Descriptor, SnapshotFn, Vec<Value>, Option<String>)> {
        let (descriptor, keys, record) = partition::resolve(self.descriptors(), channel, true)?;
        let snapshot = self.resources.iter().find(|(d, _)| std::ptr::eq(*d, descriptor)).map(|(_, s)| *s)?;
        Some((descriptor, snapshot, keys, record))
    }

    /// The events after `since` of `channel`, or for a record (`record`: the resource and the id's
    /// segment) the events of its collection channel that concern it. The limit counts the events read,
    /// so a record in a busy collection may be answered with a reset sooner. Through a filter (`view`),
    /// each event is judged as it was live: as is, entering, leaving, or left out.
    async fn replay(
        &self,
        channel: &str,
        record: Option<(&Descriptor, &str)>,
        view: Option<&View>,
        since: i64,
        max_events: usize,
    ) -> Result<Caught, StoreError> {
        // A seq beyond the end of the log is not one this log gave out (a client of another database,
        // or one restored from a backup): its client must reload.
        if since > self.store.last_seq_any().await? {
            return Ok(Caught::Reset);
        }
        let limit = u32::try_from(max_events.saturating_add(1)).unwrap_or(u32::MAX);
        let events = match record {
            None => self.store.events_after(channel, since, limit).await?,
            Some((descriptor, id)) => {
                let collection = channel.rsplit_once('/').map_or(channel, |(collection, _)| collection);
                let mut events = self.store.events_after(collection, since, limit).await?;
                let read = events.len();
                events.retain(|change| partition::record_segment(descriptor, &change.body).as_deref() == Some(id));
                if read > max_events {
                    return Ok(Caught::Reset);
                }
                events
            }
        };
        // Read after the events: pruning raises the mark in the transaction that deletes, so a prune
        // that raced the read above is seen here.
        if since < self.store.pruned_through().await? || events.len() > max_events {
            return Ok(Caught::Reset);
        }
        let through = events.last().map_or(since, |change| change.seq);
        let parse = |raw: &RawValue| serde_json::from_str::<Map<String, Json>>(raw.get()).ok();
        let events = events
            .iter()
            .filter_map(|change| {
                let data = match view {
                    None => change.data(),
                    Some(view) => match view.judge(
                        change.row_before().and_then(parse).as_ref(),
                        change.row_after().and_then(parse).as_ref(),
                    ) {
                        Verdict::AsIs => change.data(),
                        Verdict::Enter => change.data_entering(),
                        Verdict::Leave => change.data_leaving(),
                        Verdict::Skip => return None,
                    },
                };
                Some(
                    serde_json::to_string(&data)
                        .map(|data| Replayed { seq: change.seq, data })
                        .map_err(|error| StoreError::Body(error.to_string())),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Caught::Replay { events, through })
    }
}

impl History for LogHistory {
    fn catch_up<'a>(
        &'a self,
        channel: &'a str,
        catchup: Catchup,
        max_events: usize,
        _context: &'a Context,
    ) -> BoxFuture<'a, Result<Caught, bayeux::Error>> {
        Box::pin(async move {
            // A filtered subscription's key: the channel, `?`, then the filter.
            let (channel, view) = match channel.split_once('?') {
                None => (channel, None),
                Some((plain, filter)) => match feed::compile_filter(self.descriptors(), plain, filter) {
                    Ok(view) => (plain, Some(view)),
                    Err(why) => {
                        let message = bayeux::error::plain_text(&format!("where: {why}"));
                        return Err(bayeux::Error::custom(400, [plain], message));
                    }
                },
            };
            let Some((descriptor, snapshot, keys, record)) = self.resource(channel) else {
                return Err(bayeux::Error::custom(405, [channel], "No history on this channel"));
            };
            let caught = match catchup {
                Catchup::Since(since) => {
                    let of = record.as_deref().map(|id| (descriptor, id));
                    self.replay(channel, of, view.as_ref(), since, max_events).await
                }
                Catchup::Snapshot => snapshot(&self.store, keys, record, view.as_ref())
                    .await
                    .map(|(seq, rows)| Caught::Snapshot { seq, rows }),
            };
            caught.map_err(|error| {
                tracing::warn!(%error, channel, "a subscribe could not catch up");
                bayeux::Error::custom(503, [channel], "History unavailable")
            })
        })
    }
}
