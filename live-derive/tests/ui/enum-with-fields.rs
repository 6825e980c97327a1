use live_runtime::LiveEnum;
use serde::{Deserialize, Serialize};

#[derive(LiveEnum, Serialize, Deserialize)]
enum Shape {
    Point,
    Circle { radius: f64 },
    Square(f64),
}

fn main() {}
