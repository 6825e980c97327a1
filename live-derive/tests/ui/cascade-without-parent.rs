use live_runtime::LiveResource;
use serde::{Deserialize, Serialize};

#[derive(LiveResource, Serialize, Deserialize)]
#[live(path = "/api/rooms", cascade)]
struct Room {
    #[live(id)]
    id: i64,
    name: String,
}

fn main() {}
