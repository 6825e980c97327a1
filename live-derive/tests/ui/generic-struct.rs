use live_runtime::LiveResource;
use serde::{Deserialize, Serialize};

#[derive(LiveResource, Serialize, Deserialize)]
#[live(path = "/api/todos")]
struct Todo<T> {
    #[live(id)]
    id: i64,
    title: T,
}

fn main() {}
