use live_runtime::LiveResource;
use serde::{Deserialize, Serialize};

#[derive(LiveResource, Serialize, Deserialize)]
#[live(path = "/api/todo list", tabel = "todos")]
struct Todo {
    #[live(id)]
    id: String,
    #[live(skip, rename = "x")]
    title: String,
    #[live(version, version)]
    version: i64,
    #[live(rename = "due date")]
    due: String,
}

fn main() {}
