use live_runtime::LiveResource;
use serde::{Deserialize, Serialize};

#[derive(LiveResource, Serialize, Deserialize)]
#[live(path = "/api/todos")]
struct Todo {
    id: i64,
    title: String,
}

fn main() {
    // The impl emitted beside the error keeps uses of the trait from adding errors.
    let _ = Todo::DESCRIPTOR.path;
}
