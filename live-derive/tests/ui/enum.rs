use live_runtime::LiveResource;
use serde::{Deserialize, Serialize};

#[derive(LiveResource, Serialize, Deserialize)]
#[live(path = "/api/todos")]
enum Todo {
    Open { id: i64 },
    Done { id: i64 },
}

fn main() {
    // The impl emitted beside the error keeps uses of the trait from adding errors.
    let _ = Todo::DESCRIPTOR.path;
}
