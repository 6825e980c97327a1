use live_runtime::LiveEnum;
use serde::{Deserialize, Serialize};

#[derive(LiveEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Level {
    Low,
    #[serde(alias = "hi")]
    High,
}

fn main() {}
