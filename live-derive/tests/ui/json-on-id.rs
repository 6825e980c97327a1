use live_runtime::LiveResource;
use serde::{Deserialize, Serialize};

#[derive(LiveResource, Serialize, Deserialize)]
#[live(path = "/api/todos")]
struct Todo {
    #[live(id, json)]
    id: i64,
    title: String,
}

fn main() {}
