use live_runtime::LiveResource;
use serde::{Deserialize, Serialize};

#[derive(LiveResource, Serialize, Deserialize)]
#[live(path = "/api/todos", path = "/api/tasks")]
struct Todo {
    #[live(id)]
    id: i64,
    title: String,
}

fn main() {}
