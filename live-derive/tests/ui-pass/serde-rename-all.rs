// `#[serde(rename_all)]` on the struct: JSON names follow serde's rule, columns keep the field names, and a
// field's own `#[serde(rename)]` still wins.
use live_runtime::LiveResource;
use serde::{Deserialize, Serialize};

#[derive(LiveResource, Serialize, Deserialize)]
#[live(path = "/api/todo-items")]
#[serde(rename_all = "camelCase")]
pub struct TodoItem {
    #[live(id)]
    pub item_id: i64,
    pub due_date: String,
    #[serde(rename = "done")]
    pub is_done: bool,
}

fn main() {
    let names: Vec<(&str, &str)> =
        TodoItem::DESCRIPTOR.columns.iter().map(|column| (column.name, column.field)).collect();
    assert_eq!(names, [("item_id", "itemId"), ("due_date", "dueDate"), ("is_done", "done")]);
}
