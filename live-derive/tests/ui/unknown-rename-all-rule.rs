use live_runtime::LiveResource;
use serde::{Deserialize, Serialize};

#[derive(LiveResource, Serialize, Deserialize)]
#[live(path = "/api/todos")]
#[serde(rename_all = "Title Case")]
struct Todo {
    #[live(id)]
    id: i64,
    due_date: String,
}

fn main() {}
