use live_runtime::LiveResource;
use serde::{Deserialize, Serialize};

#[derive(LiveResource, Serialize, Deserialize)]
#[live(path = "/meta/todos")]
struct Todo {
    #[live(id)]
    id: i64,
}

fn main() {}
