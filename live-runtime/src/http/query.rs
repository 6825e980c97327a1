//! The REST query language: list filters, order, paging and `select`, ids in the URL, and the
//! paging headers of a list answer.
//!
//! Everything here is parsed against the resource's [`Descriptor`], so an unknown field or a
//! value that does not fit its column is a `400` naming it before any SQL runs. Values become
//! typed [`Value`]s that the store binds as parameters: no text from the query ever reaches SQL.

use std::fmt::Write as _;

use super::error::ApiError;
use crate::resource::{Column, Descriptor};
use crate::store::{Direction, Filter, FilterOp, ListQuery, Order};
use crate::value::{SqlType, Value, parse_text};

/// The most items an `in.(...)` filter may list; large lists belong in a request body, and the
/// bound keeps a query under every driver's limit on bound parameters.
const MAX_IN_ITEMS: usize = 1000;

/// A parsed `GET P` query.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ListRequest {
    /// What the store runs.
    pub(crate) query: ListQuery,
    /// The page size in force (the `limit` given, else the maximum).
    pub(crate) limit: u64,
    /// Columns to answer with (`select=a,b`), in the order asked; `None` for whole values.
    pub(crate) select: Option<Vec<usize>>,
}

fn invalid(message: String) -> ApiError {
    ApiError::bad_request("invalid_query", message)
}

/// Parses the query string of `GET P`. `max_limit` is the page size when `limit` is absent and
/// the largest one accepted.
pub(crate) fn parse_list(descriptor: &Descriptor, raw: Option<&str>, max_limit: u64) -> Result<ListRequest, ApiError> {
    let mut query = ListQuery::default();
    let mut limit = None;
    let mut offset = None;
    let mut order_seen = false;
    let mut select = None;
    for (key, value) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        match &*key {
            // jQuery's cache buster (`$.ajax({cache: false})`).
            "_" => {}
            "limit" => {
                once(&limit, "limit")?;
                let parsed = parse_count("limit", &value)?;
                if parsed > max_limit {
                    return Err(invalid(format!("limit must be at most {max_limit}")));
                }
                limit = Some(parsed);
            }
            "offset" => {
                once(&offset, "offset")?;
                offset = Some(parse_count("offset", &value)?);
            }
            "order" => {
                if order_seen {
                    return Err(invalid("`order` is given more than once".to_owned()));
                }
                order_seen = true;
                query.order = parse_order(descriptor, &value)?;
            }
            "select" => {
                once(&select, "select")?;
                select = Some(parse_select(descriptor, &value)?);
            }
            field => query.filters.push(parse_filter(descriptor, field, &value)?),
        }
    }
    let limit = limit.unwrap_or(max_limit);
    query.limit = Some(limit);
    query.offset = offset.unwrap_or(0);
    Ok(ListRequest { query, limit, select })
}

fn once<T>(seen: &Option<T>, name: &str) -> Result<(), ApiError> {
    match seen {
        Some(_) => Err(invalid(format!("`{name}` is given more than once"))),
        None => Ok(()),
    }
}

fn parse_count(name: &str, value: &str) -> Result<u64, ApiError> {
    // `u64::from_str` accepts a leading `+`; a count is digits only.
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(format!("{name} must be a non-negative integer, got {value:?}")));
    }
    value.parse().map_err(|_| invalid(format!("{name} is too large")))
}

fn column<'d>(descriptor: &'d Descriptor, field: &str) -> Result<(usize, &'d Column), ApiError> {
    descriptor.column_by_field(field).ok_or_else(|| invalid(format!("unknown field `{field}`")))
}

fn parse_order(descriptor: &Descriptor, value: &str) -> Result<Vec<Order>, ApiError> {
    value
        .split(',')
        .map(|key| {
            let (field, direction) = match key.rsplit_once('.') {
                Some((field, "asc")) => (field, Direction::Asc),
                Some((field, "desc")) => (field, Direction::Desc),
                Some((_, other)) => {
                    return Err(invalid(format!("unknown order direction `{other}`: use asc or desc")));
                }
                None => (key, Direction::Asc),
            };
            let (column, _) = column(descriptor, field)?;
            Ok(Order { column, direction })
        })
        .collect()
}

fn parse_select(descriptor: &Descriptor, value: &str) -> Result<Vec<usize>, ApiError> {
    let mut columns = Vec::new();
    for field in value.split(',') {
        let (index, _) = column(descriptor, field)?;
        // A field asked twice is answered once: a JSON object has each key once.
        if !columns.contains(&index) {
            columns.push(index);
        }
    }
    Ok(columns)
}

fn parse_filter(descriptor: &Descriptor, field: &str, value: &str) -> Result<Filter, ApiError> {
    let (index, column) = descriptor
        .column_by_field(field)
        .ok_or_else(|| invalid(format!("unknown query parameter or field `{field}`")))?;
    let (negate, rest) = match value.strip_prefix("not.") {
        Some(rest) => (true, rest),
        None => (false, value),
    };
    let Some((name, operand)) = rest.split_once('.') else {
        return Err(invalid(format!("filter on `{field}` must read `op.value`, for example `{field}=eq.1`")));
    };
    let op = match name {
        "eq" => FilterOp::Eq,
        "neq" => FilterOp::Neq,
        "gt" => FilterOp::Gt,
        "gte" => FilterOp::Gte,
        "lt" => FilterOp::Lt,
        "lte" => FilterOp::Lte,
        "like" => FilterOp::Like,
        "ilike" => FilterOp::Ilike,
        "in" => FilterOp::In,
        "is" => FilterOp::Is,
        other => return Err(invalid(format!("unknown operator `{other}` in the filter on `{field}`"))),
    };
    let values = match op {
        FilterOp::Is => vec![parse_is(field, column, operand)?],
        FilterOp::In => {
            let items = split_list(operand).map_err(|why| invalid(format!("filter on `{field}`: {why}")))?;
            items.iter().map(|item| parse_operand(field, column, item)).collect::<Result<_, _>>()?
        }
        FilterOp::Gt | FilterOp::Gte | FilterOp::Lt | FilterOp::Lte if !column.ty.ordered() => {
            return Err(invalid(format!(
                "`{name}` does not apply to `{field}`, of type {}: it takes `eq`, `neq`, `in` and `is` only",
                column.ty
            )));
        }
        FilterOp::Like | FilterOp::Ilike if column.ty != SqlType::Text => {
            return Err(invalid(format!("`like` and `ilike` need a text field; `{field}` is {}", column.ty)));
        }
        _ => vec![parse_operand(field, column, operand)?],
    };
    Ok(Filter { column: index, op, negate, values })
}

fn parse_is(field: &str, column: &Column, operand: &str) -> Result<Value, ApiError> {
    match operand {
        "null" => Ok(Value::Null),
        "true" | "false" if column.ty == SqlType::Bool => Ok(Value::Bool(operand == "true")),
        "true" | "false" => Err(invalid(format!("`is.{operand}` needs a bool field; `{field}` is {}", column.ty))),
        other => Err(invalid(format!("`is` takes null, true or false, got {other:?} for `{field}`"))),
    }
}

fn parse_operand(field: &str, column: &Column, text: &str) -> Result<Value, ApiError> {
    parse_text(column.ty, text).map_err(|why| invalid(format!("filter on `{field}`: {why}")))
}

/// Splits `(a,b,"c,d")` into its items; a double-quoted item may hold commas, parentheses and
/// `\"` or `\\`.
fn split_list(operand: &str) -> Result<Vec<String>, String> {
    let inner = operand
        .strip_prefix('(')
        .and_then(|rest| rest.strip_suffix(')'))
        .ok_or_else(|| "`in` takes a list in parentheses, for example `in.(1,2,3)`".to_owned())?;
    if inner.is_empty() {
        return Err("`in` needs at least one value".to_owned());
    }
    let mut items = Vec::new();
    let mut chars = inner.chars().peekable();
    loop {
        let mut item = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('\\') => item.push(chars.next().ok_or("unterminated escape in a quoted item")?),
                    Some('"') => break,
                    Some(c) => item.push(c),
                    None => return Err("unterminated quoted item".to_owned()),
                }
            }
            match chars.next() {
                None => {
                    items.push(item);
                    break;
                }
                Some(',') => {}
                Some(_) => return Err("a quoted item must be followed by `,` or `)`".to_owned()),
            }
        } else {
            let mut ended = true;
            for c in chars.by_ref() {
                if c == ',' {
                    ended = false;
                    break;
                }
                item.push(c);
            }
            if ended {
                items.push(item);
                break;
            }
        }
        items.push(item);
        if items.len() > MAX_IN_ITEMS {
            return Err(format!("`in` takes at most {MAX_IN_ITEMS} values"));
        }
    }
    if items.len() > MAX_IN_ITEMS {
        return Err(format!("`in` takes at most {MAX_IN_ITEMS} values"));
    }
    Ok(items)
}

/// Parses the `{id}` of a URL per the id column's type: a malformed id is a `400` (it cannot
/// name any row, and saying so beats a misleading `404`).
pub(crate) fn parse_id(descriptor: &Descriptor, raw: &str) -> Result<Value, ApiError> {
    let column = descriptor.id_column();
    parse_text(column.ty, raw)
        .map_err(|why| ApiError::bad_request("invalid_id", format!("`{raw}` is not a valid `{}`: {why}", column.field)))
}

/// The `Content-Range` of a list answer: `first-last/total`, with `*` for an unknown total.
pub(crate) fn content_range(offset: u64, returned: usize, total: Option<u64>) -> String {
    let mut out = String::with_capacity(24);
    if returned == 0 {
        out.push('*');
    } else {
        let _ = write!(out, "{}-{}", offset, offset + returned as u64 - 1);
    }
    out.push('/');
    match total {
        Some(total) => {
            let _ = write!(out, "{total}");
        }
        None => out.push('*'),
    }
    out
}

/// The `Link` header of a list answer: `rel="next"` after a full page, `rel="prev"` after an
/// offset. Other query parameters are kept as given, so the links page the same filtered view.
pub(crate) fn page_links(path: &str, raw: Option<&str>, request: &ListRequest, returned: usize) -> Option<String> {
    let offset = request.query.offset;
    let next = (request.limit > 0 && returned as u64 >= request.limit).then(|| offset.saturating_add(request.limit));
    let prev = (offset > 0).then(|| offset.saturating_sub(request.limit));
    if next.is_none() && prev.is_none() {
        return None;
    }
    let mut out = String::new();
    for (target, rel) in [(next, "next"), (prev, "prev")] {
        let Some(target) = target else { continue };
        if !out.is_empty() {
            out.push_str(", ");
        }
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (key, value) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            if key != "offset" && key != "limit" {
                query.append_pair(&key, &value);
            }
        }
        query.append_pair("limit", &request.limit.to_string());
        query.append_pair("offset", &target.to_string());
        let _ = write!(out, "<{path}?{}>; rel=\"{rel}\"", query.finish());
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DESCRIPTOR: &Descriptor = &Descriptor {
        type_name: "Todo",
        path: "/api/todos",
        table: "todos",
        columns: &[
            Column::new("id", "id", SqlType::I64, false),
            Column::new("title", "title", SqlType::Text, false),
            Column::new("done", "completed", SqlType::Bool, false),
            Column::new("due", "due", SqlType::Timestamp, true),
            Column::new("rank", "rank", SqlType::I16, true),
        ],
        id: 0,
        version: None,
        keys: &[],
    };

    fn parse(raw: &str) -> Result<ListRequest, String> {
        parse_list(DESCRIPTOR, Some(raw), 1000).map_err(|error| error.to_string())
    }

    #[test]
    fn empty_query_pages_at_the_maximum() {
        let request = parse("").expect("parses");
        assert_eq!(request.query.limit, Some(1000));
        assert_eq!(request.query.offset, 0);
        assert!(request.query.filters.is_empty());
        assert_eq!(request.select, None);
    }

    #[test]
    fn filters_take_typed_values() {
        let request = parse("title=eq.buy%20milk&completed=not.is.true&rank=gte.3&_=12345").expect("parses");
        assert_eq!(
            request.query.filters,
            vec![
                Filter { column: 1, op: FilterOp::Eq, negate: false, values: vec![Value::Text("buy milk".into())] },
                Filter { column: 2, op: FilterOp::Is, negate: true, values: vec![Value::Bool(true)] },
                Filter { column: 4, op: FilterOp::Gte, negate: false, values: vec![Value::Int(3)] },
            ]
        );
    }

    #[test]
    fn in_lists_accept_quoted_items() {
        let request = parse(r#"title=in.(a,"b,c","d\"e",)"#).expect("parses");
        let values = &request.query.filters[0].values;
        assert_eq!(
            values,
            &vec![
                Value::Text("a".into()),
                Value::Text("b,c".into()),
                Value::Text("d\"e".into()),
                Value::Text("".into())
            ]
        );
        assert!(parse("title=in.()").is_err());
        assert!(parse("title=in.(\"a").is_err());
        assert!(parse("title=in.a,b").is_err());
        assert!(parse("rank=in.(1,x)").is_err());
    }

    #[test]
    fn order_select_limit_offset() {
        let request = parse("order=completed.desc,title&select=title,id&limit=10&offset=20").expect("parses");
        assert_eq!(
            request.query.order,
            vec![Order { column: 2, direction: Direction::Desc }, Order { column: 1, direction: Direction::Asc }]
        );
        assert_eq!(request.select, Some(vec![1, 0]));
        assert_eq!((request.query.limit, request.query.offset), (Some(10), 20));
    }

    #[test]
    fn bad_queries_name_the_problem() {
        for (raw, needle) in [
            ("limit=-1", "limit"),
            ("limit=+1", "limit"),
            ("limit=1001", "at most 1000"),
            ("offset=x", "offset"),
            ("nope=eq.1", "nope"),
            ("title=foo.1", "foo"),
            ("title=bar", "op.value"),
            ("rank=eq.abc", "rank"),
            ("rank=eq.40000", "rank"),
            ("due=gt.yesterday", "due"),
            ("completed=is.maybe", "completed"),
            ("rank=is.true", "rank"),
            ("rank=like.1*", "like"),
            ("order=title.up", "up"),
            ("order=nope", "nope"),
            ("select=title,nope", "nope"),
            ("limit=1&limit=2", "more than once"),
            ("title=eq.a%00b", "NUL"),
            ("title=in.(a,%00)", "NUL"),
        ] {
            let message = parse(raw).expect_err(raw);
            assert!(message.contains(needle), "{raw}: {message}");
        }
    }

    #[test]
    fn ids_parse_per_column_type() {
        assert_eq!(parse_id(DESCRIPTOR, "42").expect("id"), Value::Int(42));
        let error = parse_id(DESCRIPTOR, "abc").expect_err("non-numeric");
        assert_eq!(error.status(), http::StatusCode::BAD_REQUEST);
        assert!(parse_id(DESCRIPTOR, "1; DROP TABLE todos").is_err());
        assert!(parse_id(DESCRIPTOR, "99999999999999999999").is_err());
    }

    #[test]
    fn content_range_counts_from_the_offset() {
        assert_eq!(content_range(0, 0, Some(0)), "*/0");
        assert_eq!(content_range(0, 10, None), "0-9/*");
        assert_eq!(content_range(20, 5, Some(25)), "20-24/25");
    }

    #[test]
    fn links_keep_other_parameters() {
        let raw = "completed=is.false&limit=2&offset=2";
        let request = parse(raw).expect("parses");
        let links = page_links("/api/todos", Some(raw), &request, 2).expect("links");
        assert_eq!(
            links,
            "</api/todos?completed=is.false&limit=2&offset=4>; rel=\"next\", \
             </api/todos?completed=is.false&limit=2&offset=0>; rel=\"prev\""
        );
        assert_eq!(page_links("/api/todos", Some(raw), &parse("limit=2").expect("parses"), 1), None);
    }
}
