use live_runtime::LiveResource;
use serde::{Deserialize, Serialize};

#[derive(LiveResource, Serialize, Deserialize)]
#[live(path = "/api/todos")]
struct Todo {
    #[live(id)]
    id: i64,
    #[serde(rename(serialize = "dueDate", deserialize = "due"))]
    due_date: String,
}

fn main() {}
