use live_runtime::LiveResource;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Audit {
    by: String,
}

#[derive(LiveResource, Serialize, Deserialize)]
#[live(path = "/api/todos")]
struct Todo {
    #[live(id)]
    id: i64,
    #[serde(flatten)]
    #[live(skip)]
    audit: Audit,
}

fn main() {}
