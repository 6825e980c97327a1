use live_runtime::LiveEnum;
use serde::{Deserialize, Serialize};

#[derive(LiveEnum, Serialize, Deserialize)]
enum Never {}

fn main() {}
