//! A list request as the store runs it: filters, order and paging over descriptor columns.

use crate::resource::Value;

/// What [`Records::list`](super::Records::list) returns: every filter must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListQuery {
    /// Conditions, all of which must hold.
    pub filters: Vec<Filter>,
    /// Sort keys, most significant first; the id breaks ties so pages are stable.
    pub order: Vec<Order>,
    /// Most rows to return.
    pub limit: Option<u64>,
    /// Rows to skip.
    pub offset: u64,
}

/// One condition on a column: `field=op.value` in a REST query.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// Index of the column in the descriptor.
    pub column: usize,
    /// The comparison.
    pub op: FilterOp,
    /// `not.` in front of the operator.
    pub negate: bool,
    /// The operand(s): one value, a list for `in`, and for `is` one of `Null` or `Bool`.
    pub values: Vec<Value>,
}

/// A comparison of [`Filter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterOp {
    /// `=`.
    Eq,
    /// `<>`.
    Neq,
    /// `>`.
    Gt,
    /// `>=`.
    Gte,
    /// `<`.
    Lt,
    /// `<=`.
    Lte,
    /// SQL `LIKE`, with `*` accepted for `%`.
    Like,
    /// Case-insensitive `LIKE`.
    Ilike,
    /// Membership in a list.
    In,
    /// `IS NULL`, `IS TRUE`, `IS FALSE`.
    Is,
}

/// One sort key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Order {
    /// Index of the column in the descriptor.
    pub column: usize,
    /// Which way.
    pub direction: Direction,
}

/// A sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Smallest first.
    #[default]
    Asc,
    /// Largest first.
    Desc,
}
