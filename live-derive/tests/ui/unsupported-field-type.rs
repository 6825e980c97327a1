use live_runtime::LiveResource;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Tag {
    name: String,
}

#[derive(LiveResource, Serialize, Deserialize)]
#[live(path = "/api/todos")]
struct Todo {
    #[live(id)]
    id: i64,
    tags: Vec<Tag>,
}

fn main() {}
