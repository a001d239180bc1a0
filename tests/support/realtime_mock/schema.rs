//! A small shape language for client events and a walker that reports the first problem the
//! way the service words it (`Unknown parameter: 'session.input_audio_format'.` and friends,
//! realtime-notes §2, §4, §8). The GA shapes themselves are in `ga.rs`.

use serde_json::Value;

/// An `error` event's `error` object, minus the echoed `event_id`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub kind: &'static str,
    pub code: String,
    pub message: String,
    pub param: Option<String>,
}

impl ApiError {
    /// An `invalid_request_error`, the type every validation failure has.
    pub fn new(code: &str, message: impl Into<String>, param: Option<&str>) -> ApiError {
        ApiError {
            kind: "invalid_request_error",
            code: code.to_owned(),
            message: message.into(),
            param: param.map(str::to_owned),
        }
    }
}

/// What a JSON value must look like.
#[derive(Clone, Copy)]
pub enum Shape {
    Any,
    Str,
    Bool,
    /// One of these strings.
    Enum(&'static [&'static str]),
    /// An integer in `min..=max`.
    Int(i64, i64),
    /// A number in `min..=max`.
    Num(f64, f64),
    /// One of these integers.
    IntIn(&'static [i64]),
    /// An integer in `min..=max`, or the string `"inf"`.
    IntOrInf(i64, i64),
    Nullable(&'static Shape),
    Array(&'static Shape),
    /// An object with exactly these known fields.
    Object(&'static [Field]),
    /// An object whose required `type` picks the fields (besides `type`) it may have.
    Tagged(&'static [(&'static str, &'static [Field])]),
}

#[derive(Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub shape: Shape,
    pub required: bool,
}

pub const fn opt(name: &'static str, shape: Shape) -> Field {
    Field {
        name,
        shape,
        required: false,
    }
}

pub const fn req(name: &'static str, shape: Shape) -> Field {
    Field {
        name,
        shape,
        required: true,
    }
}

/// Checks `value` (found at `path`) against `shape`.
pub fn check(value: &Value, shape: &Shape, path: &str) -> Result<(), ApiError> {
    match *shape {
        Shape::Any => Ok(()),
        Shape::Str => expect(value.is_string(), value, "a string", path),
        Shape::Bool => expect(value.is_boolean(), value, "a boolean", path),
        Shape::Enum(allowed) => {
            expect(value.is_string(), value, "a string", path)?;
            let got = value.as_str().unwrap_or_default();
            if allowed.contains(&got) {
                Ok(())
            } else {
                Err(invalid_value(&format!("'{got}'"), allowed, path))
            }
        }
        Shape::Int(min, max) => {
            expect(value.is_i64() || value.is_u64(), value, "an integer", path)?;
            bounded(value, min as f64, max as f64, "integer", path)
        }
        Shape::Num(min, max) => {
            expect(value.is_number(), value, "a decimal", path)?;
            bounded(value, min, max, "decimal", path)
        }
        Shape::IntIn(allowed) => {
            expect(value.is_i64(), value, "an integer", path)?;
            let got = value.as_i64().unwrap_or_default();
            if allowed.contains(&got) {
                Ok(())
            } else {
                let names: Vec<String> = allowed.iter().map(i64::to_string).collect();
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                Err(ApiError::new(
                    "invalid_value",
                    format!(
                        "Invalid value: {got}. Supported values are: {}.",
                        list(&names, false)
                    ),
                    Some(path),
                ))
            }
        }
        Shape::IntOrInf(min, max) => match value.as_str() {
            Some("inf") => Ok(()),
            Some(other) => Err(invalid_value(&format!("'{other}'"), &["inf"], path)),
            None => check(value, &Shape::Int(min, max), path),
        },
        Shape::Nullable(_) if value.is_null() => Ok(()),
        Shape::Nullable(inner) => check(value, inner, path),
        Shape::Array(item) => {
            expect(value.is_array(), value, "an array", path)?;
            let items = value.as_array().map(Vec::as_slice).unwrap_or_default();
            for (i, v) in items.iter().enumerate() {
                check(v, item, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        Shape::Object(fields) => check_fields(value, fields, &[], path),
        Shape::Tagged(variants) => {
            expect(value.is_object(), value, "an object", path)?;
            let tag_path = join(path, "type");
            let Some(tag) = value.get("type") else {
                // Without a tag, a field no variant knows is reported before the missing tag
                // (a beta `session` gets `unknown_parameter`, not `session.type`).
                let known = |name: &str| {
                    variants
                        .iter()
                        .any(|(_, f)| f.iter().any(|f| f.name == name))
                };
                let map = value.as_object().expect("checked above");
                if let Some(name) = map.keys().find(|name| !known(name)) {
                    return Err(unknown(&join(path, name)));
                }
                return Err(missing(&tag_path));
            };
            let Some(name) = tag.as_str() else {
                return expect(false, tag, "a string", &tag_path);
            };
            let Some((_, fields)) = variants.iter().find(|(n, _)| *n == name) else {
                let names: Vec<&str> = variants.iter().map(|(n, _)| *n).collect();
                return Err(invalid_value(&format!("'{name}'"), &names, &tag_path));
            };
            check_fields(value, fields, &["type"], path)
        }
    }
}

/// Checks an object's fields: unknown names first, then missing required ones, then each value.
pub fn check_fields(
    value: &Value,
    fields: &[Field],
    extra: &[&str],
    path: &str,
) -> Result<(), ApiError> {
    expect(value.is_object(), value, "an object", path)?;
    let map = value.as_object().expect("checked above");
    for name in map.keys() {
        if !extra.contains(&name.as_str()) && !fields.iter().any(|f| f.name == name) {
            return Err(unknown(&join(path, name)));
        }
    }
    for field in fields {
        match map.get(field.name) {
            None if field.required => return Err(missing(&join(path, field.name))),
            None => {}
            Some(v) => check(v, &field.shape, &join(path, field.name))?,
        }
    }
    Ok(())
}

pub fn unknown(param: &str) -> ApiError {
    ApiError::new(
        "unknown_parameter",
        format!("Unknown parameter: '{param}'."),
        Some(param),
    )
}

pub fn missing(param: &str) -> ApiError {
    ApiError::new(
        "missing_required_parameter",
        format!("Missing required parameter: '{param}'."),
        Some(param),
    )
}

/// `Invalid value: 'x'. Supported values are: 'a', 'b', and 'c'.`
pub fn invalid_value(got: &str, allowed: &[&str], path: &str) -> ApiError {
    ApiError::new(
        "invalid_value",
        format!(
            "Invalid value: {got}. Supported values are: {}.",
            list(allowed, true)
        ),
        Some(path),
    )
}

fn list(items: &[&str], quoted: bool) -> String {
    let items: Vec<String> = items
        .iter()
        .map(|s| {
            if quoted {
                format!("'{s}'")
            } else {
                (*s).to_owned()
            }
        })
        .collect();
    match items.len() {
        0 => String::new(),
        1 => items[0].clone(),
        2 => format!("{} and {}", items[0], items[1]),
        n => format!("{}, and {}", items[..n - 1].join(", "), items[n - 1]),
    }
}

fn expect(ok: bool, value: &Value, wanted: &str, path: &str) -> Result<(), ApiError> {
    if ok {
        return Ok(());
    }
    Err(ApiError::new(
        "invalid_type",
        format!(
            "Invalid type for '{path}': expected {wanted}, but got {} instead.",
            kind_of(value)
        ),
        Some(path),
    ))
}

fn bounded(value: &Value, min: f64, max: f64, what: &str, path: &str) -> Result<(), ApiError> {
    let got = value.as_f64().unwrap_or_default();
    let (code, words, relation, limit) = if got < min {
        ("below_min_value", "below minimum value", ">=", min)
    } else if got > max {
        ("above_max_value", "above maximum value", "<=", max)
    } else {
        return Ok(());
    };
    Err(ApiError::new(
        &format!("{what}_{code}"),
        format!("Invalid '{path}': {what} {words}. Expected a value {relation} {limit}, but got {value} instead."),
        Some(path),
    ))
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a decimal",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}
