use live_runtime::LiveEnum;
use serde::{Deserialize, Serialize};

#[derive(LiveEnum, Serialize, Deserialize)]
#[serde(tag = "kind")]
enum Level {
    Low,
    High,
}

fn main() {}
