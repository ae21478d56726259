//! Default deny at field level: every member of an inspected body must be a field the Engine
//! is known to read, or carry only its zero value.
//!
//! The rules in [`container`](super::container) and [`volume`](super::volume) judge the fields
//! known to reach the host. A field they do not know would pass them unread, and a newer Engine
//! (or a field overlooked) could give it a meaning on the host. So each body is first walked
//! against a static description of its type (`fields`): the union of the fields every Engine
//! version's decoder knows. A member whose key matches no field (after Go's case folding) is
//! refused unless it is `null`, `false`, a zero number, `""`, `[]` or `{}`, which no decoder
//! can turn into anything but the default. A known field whose JSON type its Go decoder would
//! reject is refused as ambiguous. Values of known fields are not judged here.

mod fields;
#[cfg(test)]
#[rustfmt::skip]
mod tests;

use super::json::{fold, Object, Value};
use super::Refusal;

/// The inspected bodies, by the Go type the Engine decodes them into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `POST /containers/create`: the config wrapper.
    ContainerCreate,
    /// `POST /containers/{id}/start` with a body: API < 1.24 decodes the same wrapper.
    ContainerStart,
    /// `POST /containers/{id}/update`.
    ContainerUpdate,
    /// `POST /containers/{id}/exec`.
    ExecCreate,
    /// `POST /volumes/create`.
    VolumeCreate,
}

/// A struct type: the fields of each part, parts being the struct's own fields and those of
/// the structs it embeds (Go promotes them to the same JSON object).
type Struct = &'static [&'static [Field]];

/// One struct field: its JSON name, matched as Go matches it, and its type.
#[derive(Debug, PartialEq)]
struct Field {
    name: &'static str,
    ty: Ty,
}

/// The JSON shapes Go's decoder accepts for a field; `null` is accepted for every one.
#[derive(Debug, PartialEq)]
enum Ty {
    Str,
    Bool,
    /// Any Go integer type, `time.Duration` and `os.FileMode` included.
    Num,
    /// `strslice.StrSlice`: one string or an array of strings.
    StrSlice,
    Array(&'static Ty),
    /// A Go map: any keys, each value of this type.
    Map(&'static Ty),
    Struct(Struct),
    /// Old Engines' `LxcConf`: a list of `{Key, Value}` or a map of strings.
    LxcConf,
}

impl Shape {
    fn root(self) -> Struct {
        match self {
            Shape::ContainerCreate | Shape::ContainerStart => fields::CREATE,
            Shape::ContainerUpdate => fields::UPDATE,
            Shape::ExecCreate => fields::EXEC,
            Shape::VolumeCreate => fields::VOLUME_CREATE,
        }
    }
}

/// Refuses `value` if it has a member that is not a known field of `shape` (at any depth) and
/// is not a zero value, or a known field of a JSON type Go would not decode into it.
pub fn check_known(shape: Shape, value: &Value) -> Result<(), Refusal> {
    check_shape(shape, value, false)
}

/// As [`check_known`], or, with `read_past`, passing over members that are no
/// known field so that every known one is still checked.
pub fn check_shape(shape: Shape, value: &Value, read_past: bool) -> Result<(), Refusal> {
    check(&Ty::Struct(shape.root()), value, "", read_past)
}

fn check(ty: &Ty, value: &Value, path: &str, past: bool) -> Result<(), Refusal> {
    match (ty, value) {
        (_, Value::Null)
        | (Ty::Str, Value::String(_))
        | (Ty::Bool, Value::Bool(_))
        | (Ty::Num, Value::Number(_))
        | (Ty::StrSlice, Value::String(_)) => Ok(()),
        (Ty::StrSlice, Value::Array(items)) => each(&Ty::Str, items, path, past),
        (Ty::Array(item), Value::Array(items)) => each(item, items, path, past),
        (Ty::Map(item), Value::Object(map)) => {
            for (key, member) in &map.members {
                check(item, member, &join(path, key), past)?;
            }
            Ok(())
        }
        (Ty::Struct(parts), Value::Object(object)) => check_struct(parts, object, path, past),
        (Ty::LxcConf, Value::Array(items)) => {
            each(&Ty::Struct(fields::KEY_VALUE), items, path, past)
        }
        (Ty::LxcConf, Value::Object(_)) => check(&Ty::Map(&Ty::Str), value, path, past),
        (ty, value) => Err(Refusal::ambiguous(format!(
            "{} must be {}, not {}",
            name(path),
            ty.describe(),
            value.kind()
        ))),
    }
}

fn each(ty: &Ty, items: &[Value], path: &str, past: bool) -> Result<(), Refusal> {
    for (i, item) in items.iter().enumerate() {
        check(ty, item, &format!("{path}[{i}]"), past)?;
    }
    Ok(())
}

fn check_struct(parts: Struct, object: &Object, path: &str, past: bool) -> Result<(), Refusal> {
    for (key, member) in &object.members {
        let path = join(path, key);
        match lookup(parts, key) {
            Some(field) => check(&field.ty, member, &path, past)?,
            None if past || member.is_zero() => {}
            None => return Err(Refusal::unknown_field(path, ZERO)),
        }
    }
    Ok(())
}

/// The field `key` names, as Go's decoder finds it: an exact match, else one equal under
/// folding. The table has no two different fields that fold alike (a test checks), so the
/// first match under folding is the one Go would pick.
fn lookup(parts: Struct, key: &str) -> Option<&'static Field> {
    let all = || parts.iter().flat_map(|part| part.iter());
    all().find(|f| f.name == key).or_else(|| {
        let key = fold(key);
        all().find(|f| fold(f.name) == key)
    })
}

/// How [`Value::is_zero`] is told to the client.
const ZERO: &str = "its zero value (null, false, 0, \"\", [] or {})";

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn name(path: &str) -> &str {
    if path.is_empty() {
        "the body"
    } else {
        path
    }
}

impl Ty {
    fn describe(&self) -> &'static str {
        match self {
            Ty::Str => "a string",
            Ty::Bool => "a boolean",
            Ty::Num => "a number",
            Ty::StrSlice => "a string or an array of strings",
            Ty::Array(_) => "an array",
            Ty::Map(_) | Ty::Struct(_) => "an object",
            Ty::LxcConf => "an array or an object",
        }
    }
}
