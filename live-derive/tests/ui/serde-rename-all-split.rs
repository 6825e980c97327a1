use live_runtime::LiveResource;
use serde::{Deserialize, Serialize};

#[derive(LiveResource, Serialize, Deserialize)]
#[live(path = "/api/todos")]
#[serde(rename_all(serialize = "camelCase", deserialize = "snake_case"))]
struct Todo {
    #[live(id)]
    id: i64,
    due_date: String,
}

fn main() {}
