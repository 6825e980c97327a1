use live_runtime::LiveResource;
use serde::{Deserialize, Serialize};

fn check(_: &Todo) -> bool {
    true
}

#[derive(LiveResource, Serialize, Deserialize)]
#[live(path = "/api/todos", validate = check)]
struct Todo {
    #[live(id)]
    id: i64,
}

fn main() {}
