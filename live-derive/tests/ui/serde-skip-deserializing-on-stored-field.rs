use live_runtime::LiveResource;
use serde::{Deserialize, Serialize};

#[derive(LiveResource, Serialize, Deserialize)]
#[live(path = "/api/todos")]
struct Todo {
    #[live(id)]
    id: i64,
    #[serde(default, skip_deserializing)]
    created_by: String,
}

fn main() {}
