//! Filtered subscriptions (docs/live.md, "Filtered subscriptions"): a `/meta/subscribe` with
//! `ext: {"where": "completed=eq.false"}` receives the changes of the rows that match, in the REST
//! list's filter syntax (docs/rest.md, "Lists").
//!
//! A filter is compiled once per distinct text, checked against the resource's descriptor, and kept in
//! a canonical form (its conditions sorted), so that subscribers with the same filter share one group:
//! one evaluation and one serialized event per change. Each change is judged on the row before and
//! after it ([`View::judge`]): entering the view is a `POST` marked `enter`, leaving it a `DELETE` of
//! the row before marked `leave`. The comparisons follow the SQL the REST list runs (NULL matches no
//! comparison, `like` is case-sensitive, `ilike` is not), so a snapshot taken with SQL and the events
//! judged here agree; text is compared by code point, as SQLite does (a PostgreSQL database with
//! another collation may order text differently for `gt`/`lt`).

use std::cmp::Ordering;

use serde_json::{Map, Value as Json};

use crate::http::query;
use crate::resource::Descriptor;
use crate::store::{Filter, FilterOp};
use crate::value::{self, SqlType, Value};

/// The query keys of a list that a filter may not hold: a subscription has no order or page.
const NOT_FILTERS: [&str; 4] = ["order", "limit", "offset", "select"];

/// A compiled filter of one resource.
#[derive(Debug, Clone)]
pub(crate) struct View {
    descriptor: &'static Descriptor,
    /// Every condition must hold.
    pub(crate) filters: Vec<Filter>,
}

/// How a change concerns a filtered subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Verdict {
    /// The row matches before and after: the change as it is.
    AsIs,
    /// The row matches after only: a `POST` marked `enter`.
    Enter,
    /// The row matched before only: a `DELETE` of the row before, marked `leave`.
    Leave,
    /// The row matches neither: nothing.
    Skip,
}

/// The canonical text of a filter: its conditions sorted, so that the same filter written in another
/// order makes the same group.
pub(crate) fn canonical(raw: &str) -> String {
    let mut parts: Vec<&str> = raw.split('&').filter(|part| !part.is_empty()).collect();
    parts.sort_unstable();
    parts.join("&")
}

impl View {
    /// Compiles `raw` (canonical or not) for `descriptor`; the error names the problem.
    pub(crate) fn compile(descriptor: &'static Descriptor, raw: &str) -> Result<View, String> {
        if raw.trim().is_empty() {
            return Err("the filter is empty: expected conditions such as `completed=eq.false`".to_owned());
        }
        for (key, _) in form_urlencoded::parse(raw.as_bytes()) {
            if NOT_FILTERS.contains(&&*key) || key == "_" {
                return Err(format!("`{key}` is not allowed in a filter: only conditions on fields are"));
            }
        }
        let request = query::parse_list(descriptor, Some(raw), u64::MAX).map_err(|error| error.to_string())?;
        Ok(View { descriptor, filters: request.query.filters })
    }

    /// How a change from `before` to `after` (each `None` when there is no such row) concerns this view.
    pub(crate) fn judge(&self, before: Option<&Map<String, Json>>, after: Option<&Map<String, Json>>) -> Verdict {
        match (before.is_some_and(|row| self.matches(row)), after.is_some_and(|row| self.matches(row))) {
            (true, true) => Verdict::AsIs,
            (false, true) => Verdict::Enter,
            (true, false) => Verdict::Leave,
            (false, false) => Verdict::Skip,
        }
    }

    /// Whether `row` (a row's JSON object) satisfies every condition.
    pub(crate) fn matches(&self, row: &Map<String, Json>) -> bool {
        self.filters.iter().all(|filter| {
            let column = &self.descriptor.columns[filter.column];
            let value = row.get(column.field).map_or(Value::Null, |json| from_json(json, column.ty));
            let holds = test(filter, &value);
            // SQL: NOT of an unknown is unknown, and an unknown does not match.
            holds.map(|holds| holds != filter.negate).unwrap_or(false)
        })
    }
}

/// A field's JSON as the value the database holds.
fn from_json(json: &Json, ty: SqlType) -> Value {
    match json {
        Json::Null => Value::Null,
        Json::Bool(bool) => Value::Bool(*bool),
        Json::Number(number) => match (number.as_i64(), number.as_f64()) {
            (Some(int), _) if !matches!(ty, SqlType::F32 | SqlType::F64) => Value::Int(int),
            (_, Some(float)) => Value::Float(float),
            _ => Value::Null,
        },
        Json::String(text) => value::parse_text(ty, text).unwrap_or_else(|_| Value::Text(text.clone())),
        other => Value::Json(other.clone()),
    }
}

/// One condition on one value; `None` when SQL would say unknown (a NULL compared).
fn test(filter: &Filter, value: &Value) -> Option<bool> {
    let single = filter.values.first();
    match filter.op {
        FilterOp::Is => Some(match single {
            Some(Value::Null) | None => matches!(value, Value::Null),
            Some(Value::Bool(want)) => matches!(value, Value::Bool(have) if have == want),
            Some(_) => false,
        }),
        _ if matches!(value, Value::Null) => None,
        FilterOp::Eq => compare(value, single?).map(Ordering::is_eq),
        FilterOp::Neq => compare(value, single?).map(Ordering::is_ne),
        FilterOp::Gt => compare(value, single?).map(Ordering::is_gt),
        FilterOp::Gte => compare(value, single?).map(Ordering::is_ge),
        FilterOp::Lt => compare(value, single?).map(Ordering::is_lt),
        FilterOp::Lte => compare(value, single?).map(Ordering::is_le),
        FilterOp::Like | FilterOp::Ilike => {
            let (Value::Text(text), Some(Value::Text(pattern))) = (value, single) else { return Some(false) };
            let pattern = pattern.replace('*', "%");
            Some(if filter.op == FilterOp::Ilike {
                like(&text.to_lowercase(), &pattern.to_lowercase())
            } else {
                like(text, &pattern)
            })
        }
        FilterOp::In => {
            let mut unknown = false;
            for candidate in &filter.values {
                match compare(value, candidate) {
                    Some(Ordering::Equal) => return Some(true),
                    Some(_) => {}
                    None => unknown = true,
                }
            }
            if unknown { None } else { Some(false) }
        }
    }
}

/// Orders two values of one column; `None` when either is NULL or they cannot be compared.
fn compare(left: &Value, right: &Value) -> Option<Ordering> {
    match (left, right) {
        (Value::Int(a), Value::Int(b)) => Some(a.cmp(b)),
        (Value::Float(a), Value::Float(b)) => a.partial_cmp(b),
        (Value::Float(a), Value::Int(b)) => a.partial_cmp(&(*b as f64)),
        (Value::Int(a), Value::Float(b)) => (*a as f64).partial_cmp(b),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        (Value::Text(a), Value::Text(b)) => Some(a.cmp(b)),
        (Value::Uuid(a), Value::Uuid(b)) => Some(a.cmp(b)),
        (Value::Timestamp(a), Value::Timestamp(b)) => Some(a.cmp(b)),
        (Value::Date(a), Value::Date(b)) => Some(a.cmp(b)),
        (Value::NaiveTimestamp(a), Value::NaiveTimestamp(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

/// SQL `LIKE` without an escape character: `%` matches any run of characters, `_` any one.
fn like(text: &str, pattern: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    let pattern: Vec<char> = pattern.chars().collect();
    // The classic two-pointer match with backtracking to the last `%`.
    let (mut t, mut p) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '_' || pattern[p] == text[t]) {
            t += 1;
            p += 1;
        } else if p < pattern.len() && pattern[p] == '%' {
            star = Some((p, t));
            p += 1;
        } else if let Some((star_p, star_t)) = star {
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '%')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::Column;
    use serde_json::json;

    const TODOS: Descriptor = Descriptor {
        type_name: "Todo",
        path: "/api/todos",
        table: "todos",
        columns: &[
            Column::new("id", "id", SqlType::I64, false),
            Column::new("title", "title", SqlType::Text, false),
            Column::new("completed", "completed", SqlType::Bool, false),
            Column::new("rank", "rank", SqlType::I32, true),
        ],
        id: 0,
        version: None,
        keys: &[],
    };

    fn row(value: Json) -> Map<String, Json> {
        match value {
            Json::Object(map) => map,
            _ => Map::new(),
        }
    }

    fn view(raw: &str) -> View {
        View::compile(&TODOS, raw).unwrap_or_else(|error| panic!("{raw}: {error}"))
    }

    #[test]
    fn conditions_follow_sql() {
        let milk = row(json!({"id": 1, "title": "Oat milk", "completed": false, "rank": null}));
        assert!(view("completed=eq.false").matches(&milk));
        assert!(view("title=like.*milk*&completed=is.false").matches(&milk));
        assert!(!view("title=like.*Milk*").matches(&milk), "like is case-sensitive");
        assert!(view("title=ilike.*MILK*").matches(&milk));
        assert!(view("title=like.Oat_milk").matches(&milk));
        assert!(!view("rank=gt.0").matches(&milk), "NULL matches no comparison");
        assert!(!view("rank=not.gt.0").matches(&milk), "nor its negation");
        assert!(view("rank=is.null").matches(&milk));
        assert!(view("id=in.(3,1)").matches(&milk));
        assert!(!view("id=not.in.(3,1)").matches(&milk));
        assert!(view("title=gte.Oat").matches(&milk));
    }

    #[test]
    fn a_change_is_judged_on_both_rows() {
        let open = row(json!({"id": 1, "title": "a", "completed": false}));
        let done = row(json!({"id": 1, "title": "a", "completed": true}));
        let open_only = view("completed=eq.false");
        assert_eq!(open_only.judge(None, Some(&open)), Verdict::Enter);
        assert_eq!(open_only.judge(Some(&open), Some(&done)), Verdict::Leave);
        assert_eq!(open_only.judge(Some(&done), Some(&open)), Verdict::Enter);
        assert_eq!(open_only.judge(Some(&open), Some(&open)), Verdict::AsIs);
        assert_eq!(open_only.judge(Some(&done), Some(&done)), Verdict::Skip);
        assert_eq!(open_only.judge(Some(&open), None), Verdict::Leave);
        assert_eq!(open_only.judge(Some(&done), None), Verdict::Skip);
    }

    #[test]
    fn refused_filters_name_the_problem() {
        for (raw, expected) in [
            ("completed=eq.false&order=title.asc", "`order` is not allowed"),
            ("limit=3", "`limit` is not allowed"),
            ("offset=1", "`offset`"),
            ("select=title", "`select`"),
            ("colour=eq.red", "colour"),
            ("completed=maybe.true", "completed"),
            ("", "empty"),
        ] {
            let error = View::compile(&TODOS, raw).err().unwrap_or_default();
            assert!(error.contains(expected), "{raw}: {error}");
        }
    }

    #[test]
    fn canonical_text_ignores_the_order_of_conditions() {
        assert_eq!(canonical("b=eq.2&a=eq.1"), canonical("a=eq.1&b=eq.2&"));
    }

    #[test]
    fn like_matches_runs_and_single_characters() {
        assert!(like("abc", "a%"));
        assert!(like("abc", "%c"));
        assert!(like("abc", "a_c"));
        assert!(like("", "%"));
        assert!(like("a%b", "a%b"));
        assert!(!like("abc", "a_"));
        assert!(!like("abc", "b%"));
        assert!(like("mississippi", "%iss%pi"));
    }
}
