use live_runtime::LiveResource;
use serde::{Deserialize, Serialize};

#[derive(LiveResource, Serialize, Deserialize)]
#[live(path = "/api/rooms/{id}/messages")]
struct Message {
    #[live(id)]
    id: i64,
    room_id: i64,
    text: String,
}

fn main() {}
