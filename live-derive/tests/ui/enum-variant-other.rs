use live_runtime::LiveEnum;
use serde::{Deserialize, Serialize};

#[derive(LiveEnum, Serialize, Deserialize)]
enum Level {
    Low,
    High,
    #[serde(other)]
    Unknown,
}

fn main() {}
