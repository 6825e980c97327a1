// A two-level nested path: each `{name}` segment names the field that holds a partition key, and
// `keys` lists their indexes among the stored columns in path order.
use live_runtime::LiveResource;
use serde::{Deserialize, Serialize};

#[derive(LiveResource, Serialize, Deserialize)]
#[live(path = "/api/orgs/{org_id}/projects/{project_id}/tasks")]
pub struct Task {
    #[live(id)]
    pub id: i64,
    pub project_id: uuid::Uuid,
    pub title: String,
    pub org_id: String,
}

fn main() {
    let descriptor = Task::DESCRIPTOR;
    assert_eq!(descriptor.path, "/api/orgs/{org_id}/projects/{project_id}/tasks");
    assert_eq!(descriptor.table, "tasks");
    assert_eq!(descriptor.keys, [3, 1]);
    let keys: Vec<&str> = descriptor.keys.iter().map(|&index| descriptor.columns[index].name).collect();
    assert_eq!(keys, ["org_id", "project_id"]);
}
