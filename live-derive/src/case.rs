//! serde's `rename_all` rules: the JSON names of a struct's fields and the names of an enum's
//! variants.
//!
//! The names must be serde's to the letter, or the descriptor would name keys the JSON does not
//! have: `tests/serde_names.rs` derives a struct and an enum under every rule and compares both
//! derives' names with what `serde_json` writes.

/// One `#[serde(rename_all = "...")]` rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RenameRule {
    /// `lowercase`.
    Lower,
    /// `UPPERCASE`.
    Upper,
    /// `PascalCase`.
    Pascal,
    /// `camelCase`.
    Camel,
    /// `snake_case`.
    Snake,
    /// `SCREAMING_SNAKE_CASE`.
    ScreamingSnake,
    /// `kebab-case`.
    Kebab,
    /// `SCREAMING-KEBAB-CASE`.
    ScreamingKebab,
}

/// Every rule under the name serde knows it by.
const RULES: [(&str, RenameRule); 8] = [
    ("lowercase", RenameRule::Lower),
    ("UPPERCASE", RenameRule::Upper),
    ("PascalCase", RenameRule::Pascal),
    ("camelCase", RenameRule::Camel),
    ("snake_case", RenameRule::Snake),
    ("SCREAMING_SNAKE_CASE", RenameRule::ScreamingSnake),
    ("kebab-case", RenameRule::Kebab),
    ("SCREAMING-KEBAB-CASE", RenameRule::ScreamingKebab),
];

impl RenameRule {
    /// The rule serde names `name`.
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        RULES.iter().find(|(known, _)| *known == name).map(|(_, rule)| *rule)
    }

    /// Every rule's name, quoted, for messages.
    pub(crate) fn names() -> String {
        RULES.iter().map(|(name, _)| format!("\"{name}\"")).collect::<Vec<_>>().join(", ")
    }

    /// A field's JSON name: Rust fields are snake_case, so words are split at underscores.
    pub(crate) fn apply_to_field(self, field: &str) -> String {
        match self {
            RenameRule::Lower | RenameRule::Snake => field.to_owned(),
            RenameRule::Upper | RenameRule::ScreamingSnake => field.to_ascii_uppercase(),
            RenameRule::Pascal => capitalize_words(field),
            RenameRule::Camel => lower_first(&capitalize_words(field)),
            RenameRule::Kebab => field.replace('_', "-"),
            RenameRule::ScreamingKebab => field.to_ascii_uppercase().replace('_', "-"),
        }
    }

    /// A variant's name: Rust variants are PascalCase, so words start at capitals.
    pub(crate) fn apply_to_variant(self, variant: &str) -> String {
        match self {
            RenameRule::Pascal => variant.to_owned(),
            RenameRule::Lower => variant.to_ascii_lowercase(),
            RenameRule::Upper => variant.to_ascii_uppercase(),
            RenameRule::Camel => lower_first(variant),
            RenameRule::Snake => split_at_capitals(variant),
            RenameRule::ScreamingSnake => split_at_capitals(variant).to_ascii_uppercase(),
            RenameRule::Kebab => split_at_capitals(variant).replace('_', "-"),
            RenameRule::ScreamingKebab => split_at_capitals(variant).to_ascii_uppercase().replace('_', "-"),
        }
    }
}

/// `due_at` → `DueAt`: each underscore dropped, the letter after it (and the first) in capitals.
fn capitalize_words(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut capital = true;
    for c in field.chars() {
        if c == '_' {
            capital = true;
        } else if capital {
            out.push(c.to_ascii_uppercase());
            capital = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// `DueAt` → `dueAt`.
fn lower_first(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// `DueAt` → `due_at`: an underscore before every capital but the first, all in lower case.
fn split_at_capitals(variant: &str) -> String {
    let mut out = String::with_capacity(variant.len() + 4);
    for (index, c) in variant.chars().enumerate() {
        if index > 0 && c.is_uppercase() {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_variants_follow_each_rule() {
        let cases = [
            ("lowercase", "due_at", "veryhigh"),
            ("UPPERCASE", "DUE_AT", "VERYHIGH"),
            ("PascalCase", "DueAt", "VeryHigh"),
            ("camelCase", "dueAt", "veryHigh"),
            ("snake_case", "due_at", "very_high"),
            ("SCREAMING_SNAKE_CASE", "DUE_AT", "VERY_HIGH"),
            ("kebab-case", "due-at", "very-high"),
            ("SCREAMING-KEBAB-CASE", "DUE-AT", "VERY-HIGH"),
        ];
        for (name, field, variant) in cases {
            let rule = RenameRule::from_name(name).expect("a known rule");
            assert_eq!(
                (rule.apply_to_field("due_at"), rule.apply_to_variant("VeryHigh")),
                (field.into(), variant.into())
            );
        }
    }

    #[test]
    fn unknown_rules_are_none() {
        assert_eq!(RenameRule::from_name("Title Case"), None);
        assert!(RenameRule::names().contains("\"SCREAMING-KEBAB-CASE\""));
    }
}
