use live_runtime::LiveEnum;
use serde::{Deserialize, Serialize};

#[derive(LiveEnum, Serialize, Deserialize)]
struct Level {
    value: i32,
}

fn main() {}
