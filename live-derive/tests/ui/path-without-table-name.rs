use live_runtime::LiveResource;
use serde::{Deserialize, Serialize};

#[derive(LiveResource, Serialize, Deserialize)]
#[live(path = "/api/2024")]
struct Todo {
    #[live(id)]
    id: i64,
}

fn main() {}
