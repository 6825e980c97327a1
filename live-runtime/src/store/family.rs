//! Parents and children among the resources prepared on one store (docs/rest.md, "Parents").
//!
//! A nested resource whose path starts with another prepared resource's record path is that
//! resource's child: `/api/rooms/{room_id}/messages` is a child of `/api/rooms` (whose record path
//! is `/api/rooms/{id}`), and `room_id` names the room. The child's first keys name the parent: the
//! parent's own keys, then its id. When several resources fit, the one with the longest path is the
//! parent.
//!
//! Writes consult the family in their transaction: a create checks that its parent exists (and on
//! PostgreSQL locks it against a concurrent delete until commit); a delete refuses to leave children
//! behind, or removes them and logs each removal when the child resource cascades. The family is
//! rebuilt whole, copy on write, each time a resource is prepared, so a write reads one consistent
//! version of it without holding a lock across its awaits.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::Arc;

use serde_json::value::RawValue;

use super::StoreError;
use super::driver::Dialect;
use super::sql::{self, FamilySql, Statements};
use crate::partition::{self, Segment};
use crate::resource::{self, Descriptor, LiveResource};
use crate::value::Value;

/// A prepared resource, as its relatives' writes need it without its type.
pub(crate) struct Node {
    type_id: TypeId,
    pub(crate) descriptor: &'static Descriptor,
    /// Whether deleting its parent deletes its rows too ([`LiveResource::CASCADE`]).
    pub(crate) cascade: bool,
    pub(crate) statements: &'static Statements,
    /// A row (descriptor columns) as its JSON body, as a write would have serialized it.
    pub(crate) body: fn(Vec<Value>) -> Result<Box<RawValue>, StoreError>,
}

impl Node {
    pub(crate) fn type_id(&self) -> TypeId {
        self.type_id
    }

    pub(crate) fn of<R: LiveResource>(dialect: Dialect) -> Node {
        Node {
            type_id: TypeId::of::<R>(),
            descriptor: R::DESCRIPTOR,
            cascade: R::CASCADE,
            statements: sql::statements::<R>(dialect),
            body: body::<R>,
        }
    }
}

fn body<R: LiveResource>(row: Vec<Value>) -> Result<Box<RawValue>, StoreError> {
    let value: R = resource::from_row(row)?;
    serde_json::value::to_raw_value(&value).map_err(|error| StoreError::Body(error.to_string()))
}

/// A resource's parent, from the child's side.
pub(crate) struct ParentLink {
    pub(crate) node: Arc<Node>,
    /// How many of the child's keys name the parent: the parent's keys, then its id.
    pub(crate) shared: usize,
    pub(crate) sql: Arc<FamilySql>,
}

/// One child resource, from the parent's side.
pub(crate) struct ChildLink {
    pub(crate) node: Arc<Node>,
    /// How many of the child's keys name the parent.
    pub(crate) shared: usize,
    pub(crate) sql: Arc<FamilySql>,
}

/// What the writes of one resource must check or do about its relatives.
#[derive(Default)]
pub(crate) struct Links {
    pub(crate) parent: Option<ParentLink>,
    pub(crate) children: Vec<ChildLink>,
}

/// Every prepared resource and the links between them.
#[derive(Default)]
pub(crate) struct Family {
    nodes: Vec<Arc<Node>>,
    links: HashMap<TypeId, Arc<Links>>,
}

impl std::fmt::Debug for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.nodes.iter().map(|node| node.descriptor.path)).finish()
    }
}

impl Family {
    /// The family with `node` in it (in place of an earlier node of the same type), links rebuilt.
    pub(crate) fn with(&self, node: Node, dialect: Dialect) -> Family {
        let mut nodes: Vec<Arc<Node>> = self.nodes.iter().filter(|old| old.type_id != node.type_id).cloned().collect();
        nodes.push(Arc::new(node));
        let mut links: HashMap<TypeId, Links> = HashMap::new();
        for child in &nodes {
            let parent = nodes
                .iter()
                .filter_map(|parent| shared_keys(parent.descriptor, child.descriptor).map(|shared| (parent, shared)))
                .max_by_key(|(_, shared)| *shared);
            let Some((parent, shared)) = parent else { continue };
            let sql =
                Arc::new(FamilySql::build(dialect, parent.descriptor, child.descriptor, child.statements, shared));
            links.entry(child.type_id).or_default().parent =
                Some(ParentLink { node: Arc::clone(parent), shared, sql: Arc::clone(&sql) });
            links.entry(parent.type_id).or_default().children.push(ChildLink { node: Arc::clone(child), shared, sql });
        }
        Family { nodes, links: links.into_iter().map(|(type_id, links)| (type_id, Arc::new(links))).collect() }
    }

    /// The links of the resource `type_id`, if it has a parent or children.
    pub(crate) fn links(&self, type_id: TypeId) -> Option<&Arc<Links>> {
        self.links.get(&type_id)
    }
}

/// When `parent`'s record path (its path, then `/{id}`) is a prefix of `child`'s path: how many of
/// the child's keys it names (the parent's keys, then its id).
fn shared_keys(parent: &Descriptor, child: &Descriptor) -> Option<usize> {
    if std::ptr::eq(parent, child) {
        return None;
    }
    let record = partition::segments(parent.path).chain([Segment::Key(parent.keys.len())]);
    let mut own = partition::segments(child.path);
    for segment in record {
        match (segment, own.next()?) {
            (Segment::Literal(a), Segment::Literal(b)) if a == b => {}
            (Segment::Key(_), Segment::Key(_)) => {}
            _ => return None,
        }
    }
    // The child's path goes on past the parent's record path (to its own collection name).
    own.next()?;
    Some(parent.keys.len() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::Column;
    use crate::value::SqlType;

    const COLUMNS: &[Column] = &[
        Column::new("id", "id", SqlType::I64, false),
        Column::new("a", "a", SqlType::I64, false),
        Column::new("b", "b", SqlType::I64, false),
    ];

    const fn descriptor(path: &'static str, keys: &'static [usize]) -> Descriptor {
        Descriptor { type_name: "T", path, table: "t", columns: COLUMNS, id: 0, version: None, keys }
    }

    #[test]
    fn a_record_path_prefix_makes_a_parent() {
        const ROOMS: Descriptor = descriptor("/api/rooms", &[]);
        const MESSAGES: Descriptor = descriptor("/api/rooms/{a}/messages", &[1]);
        const READ_BY: Descriptor = descriptor("/api/rooms/{a}/messages/{b}/read-by", &[1, 2]);
        const TODOS: Descriptor = descriptor("/api/todos", &[]);
        assert_eq!(shared_keys(&ROOMS, &MESSAGES), Some(1));
        assert_eq!(shared_keys(&MESSAGES, &READ_BY), Some(2));
        assert_eq!(shared_keys(&ROOMS, &READ_BY), Some(1));
        assert_eq!(shared_keys(&MESSAGES, &ROOMS), None);
        assert_eq!(shared_keys(&TODOS, &MESSAGES), None);
        assert_eq!(shared_keys(&ROOMS, &ROOMS), None);
        // A path that only shares the collection name is no child.
        const OTHER: Descriptor = descriptor("/api/rooms-archive/{a}/messages", &[1]);
        assert_eq!(shared_keys(&ROOMS, &OTHER), None);
    }
}
