use live_runtime::LiveResource;
use serde::{Deserialize, Serialize};

#[derive(LiveResource, Serialize, Deserialize)]
#[live(path = "/api/v1.0/todos")]
struct Todo {
    #[live(id)]
    id: i64,
}

fn main() {}
