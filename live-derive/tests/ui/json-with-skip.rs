use live_runtime::LiveResource;
use serde::{Deserialize, Serialize};

#[derive(LiveResource, Serialize, Deserialize)]
#[live(path = "/api/todos")]
struct Todo {
    #[live(id)]
    id: i64,
    #[live(skip, json)]
    #[serde(skip)]
    tags: Vec<String>,
}

fn main() {}
