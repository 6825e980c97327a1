use live_runtime::LiveResource;
use serde::{Deserialize, Serialize};

#[derive(LiveResource, Serialize, Deserialize)]
#[live(path = "/api/todos")]
#[serde(rename_all = "camelCase")]
struct Todo {
    #[live(id)]
    id: i64,
    due_date: String,
}

fn main() {}
