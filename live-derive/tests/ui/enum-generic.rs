use live_runtime::LiveEnum;
use serde::{Deserialize, Serialize};

#[derive(LiveEnum, Serialize, Deserialize)]
enum Level<const N: usize> {
    Low,
    High,
}

fn main() {}
