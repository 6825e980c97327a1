//! The benchmarked resource: the todo of `examples/todo` (same fields, same attributes, same
//! validation), served at `/api/todos` from table `todos`.

use live_runtime::{LiveResource, ValidationErrors};
use serde::{Deserialize, Serialize};

/// One todo item, as the example declares it.
#[derive(LiveResource, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[live(path = "/api/todos", validate = validate_todo)]
pub struct Todo {
    /// Assigned by the store on create.
    #[live(id)]
    pub id: i64,
    /// What to do; required and not blank.
    pub title: String,
    /// Done or not; `false` when a create leaves it out.
    #[serde(default)]
    pub completed: bool,
    /// Position in the list; `0` when a create leaves it out.
    #[serde(default)]
    pub order: i64,
}

/// A todo needs something to do (the example's rule; the hand-written handlers check it too).
pub fn validate_todo(todo: &Todo) -> Result<(), ValidationErrors> {
    let mut errors = ValidationErrors::new();
    if todo.title.trim().is_empty() {
        errors.add("title", "must not be empty");
    }
    errors.into_result()
}
