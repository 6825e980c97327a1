use live_runtime::LiveResource;
use serde::{Deserialize, Serialize};

#[derive(LiveResource, Serialize, Deserialize)]
#[live(path = "/api/rooms/{room_id}/days/{day}/messages")]
struct Message {
    #[live(id)]
    id: i64,
    room_id: Option<i64>,
    day: chrono::NaiveDate,
    text: String,
}

fn main() {}
