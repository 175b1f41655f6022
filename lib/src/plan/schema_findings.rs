//! Schema violations of `parallel.json` as findings a person can act on: what
//! is wrong (an enum lists every allowed value, never "or N other
//! candidates") and how to mend it, chosen by the field and the keyword.

use jsonschema::error::ValidationErrorKind;
use jsonschema::ValidationError;
use serde_json::Value;

/// The message of one schema violation: `schema: <what>; <fix>`.
pub fn message(e: &ValidationError) -> String {
    let what = match e.kind() {
        ValidationErrorKind::Enum { options } => {
            let all: Vec<String> = match options.as_ref() {
                Value::Array(a) => a.iter().map(Value::to_string).collect(),
                other => vec![other.to_string()],
            };
            format!(
                "{} is not one of {}",
                crate::findings::clip(&e.instance().to_string(), 80),
                all.join(", ")
            )
        }
        _ => crate::findings::clip(&e.to_string(), 200),
    };
    let pointer = e.instance_path().as_str();
    format!("schema: {what}; {}", fix(e.kind(), pointer))
}

/// How to mend a violation of `kind` at `pointer`.
fn fix(kind: &ValidationErrorKind, pointer: &str) -> String {
    // The field the value belongs to: the last name in the pointer that is not
    // an array index (`/achievements/3/dependencies/0` -> "dependencies").
    let field = pointer
        .rsplit('/')
        .find(|t| !t.is_empty() && !t.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or("");
    let in_achievement = pointer.starts_with("/achievements/");
    match kind {
        ValidationErrorKind::Required { property } => match property.as_str().unwrap_or("") {
            "plan_name" => "add \"plan_name\": \"<a name>\" at the top level".into(),
            "achievements" => "add \"achievements\": [...] at the top level".into(),
            "achievement_id" => "give the achievement an \"achievement_id\" such as \"1.1\"".into(),
            "dependencies" => {
                "add \"dependencies\": [] (the IDs it waits for; empty when none)".into()
            }
            p => format!("add the field {p:?}"),
        },
        ValidationErrorKind::Enum { .. } => "write one of these values".into(),
        ValidationErrorKind::Pattern { .. } | ValidationErrorKind::PropertyNames { .. } => {
            match field {
                "achievement_id" | "dependencies" => {
                    "an ID is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
                        .into()
                }
                "cwd" | "inputs" | "outputs" => {
                    "write a path relative to the plan folder (no leading '/')".into()
                }
                "env" | "env_keys" => {
                    "a variable name is letters, digits and '_', not starting with a digit".into()
                }
                "estimated_hours" => "write a number or a range such as \"4-6\"".into(),
                _ => "change the value to match the pattern".into(),
            }
        }
        ValidationErrorKind::OneOfNotValid { .. } | ValidationErrorKind::AnyOf { .. } => {
            match field {
                "estimated_hours" => {
                    "write a number >= 0 or a range such as \"4-6\"".into()
                }
                "command" => "write a non-empty string (run by sh -c) or an array of strings whose first is the program".into(),
                _ => "change the value to one of the allowed forms".into(),
            }
        }
        ValidationErrorKind::Type { .. } => match (field, in_achievement) {
            ("achievements", false) => "make \"achievements\" an array of objects".into(),
            ("achievements", true) => "make each achievement an object {\"achievement_id\": ..., \"dependencies\": [...]}".into(),
            ("dependencies", _) => "write the dependencies as an array of ID strings".into(),
            _ => "change the value to the type named".into(),
        },
        ValidationErrorKind::MinLength { .. } => "write a non-empty string".into(),
        ValidationErrorKind::MinItems { .. } => "add at least one item".into(),
        ValidationErrorKind::UniqueItems => "remove the repeated item".into(),
        ValidationErrorKind::Minimum { .. }
        | ValidationErrorKind::ExclusiveMinimum { .. }
        | ValidationErrorKind::Maximum { .. }
        | ValidationErrorKind::ExclusiveMaximum { .. } => {
            "change the number to lie within the limit".into()
        }
        _ => "make the value match receipts/schemas/parallel-plan.schema.json (docs/plans.md)"
            .into(),
    }
}
