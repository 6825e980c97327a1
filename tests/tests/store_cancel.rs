//! Writes whose callers stop waiting half-way (a client that goes away drops its request's
//! future) must leave the store usable: no connection may go back to the pool inside a
//! transaction, holding SQLite's write lock.

use std::time::Duration;

use live_runtime::Write;
use live_runtime::store::ListQuery;
use live_tests::{Backend, Note, fixture_store};

/// A small deterministic generator, so a failure can be replayed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

fn note(title: String) -> Note {
    Note { id: 0, title, done: false, rank: 0, owner: None, created_by: String::new() }
}

async fn cancelled_writes_leave_the_store_usable(backend: Backend) {
    let store = fixture_store(backend).await;
    let records = store.records::<Note>();
    let mut random = Lcg(7);
    for round in 0..20 {
        // 16 concurrent creates, each abandoned after a random few hundred microseconds: some
        // before they begin, some inside the begin, some mid-transaction, some after commit.
        let mut writes = Vec::new();
        for index in 0..16 {
            let records = records.clone();
            let patience = Duration::from_micros(random.next(1500));
            writes.push(tokio::spawn(async move {
                let options = Write::default();
                let write = records.create(note(format!("round {round} #{index}")), &options);
                let _ = tokio::time::timeout(patience, write).await;
            }));
        }
        for write in writes {
            write.await.expect("the abandoning task itself does not fail");
        }
        // Every abandoned write is finished or rolled back by now or soon; a new write must
        // succeed well within the pool's own timeouts.
        let survivor = tokio::time::timeout(
            Duration::from_secs(10),
            records.create(note(format!("after round {round}")), &Write::default()),
        )
        .await
        .expect("a write after abandoned writes does not hang");
        survivor.unwrap_or_else(|error| panic!("round {round}: a write after abandoned writes failed: {error}"));
    }
    let rows = records.list(&ListQuery::default()).await.expect("list");
    let survivors = rows.iter().filter(|row| row.value.title.starts_with("after round")).count();
    assert_eq!(survivors, 20);
    // Whatever was committed is logged exactly once.
    let logged = store.events_after("/api/notes", 0, 10_000).await.expect("events");
    assert_eq!(logged.len(), rows.len(), "one event per committed create, none for rolled-back ones");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_cancelled_writes_leave_the_store_usable() {
    cancelled_writes_leave_the_store_usable(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_cancelled_writes_leave_the_store_usable() {
    cancelled_writes_leave_the_store_usable(Backend::Postgres).await;
}
