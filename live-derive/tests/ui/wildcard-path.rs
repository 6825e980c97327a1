use live_runtime::LiveResource;
use serde::{Deserialize, Serialize};

#[derive(LiveResource, Serialize, Deserialize)]
#[live(path = "/api/*")]
struct Todo {
    #[live(id)]
    id: i64,
}

fn main() {}
