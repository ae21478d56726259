//! Request bodies read as the Engine reads them, then checked against the fields dockgate
//! knows for every inspected body. Must never panic, and a body that passes must still pass
//! with its object keys in ASCII lower case (Go matches fields without case, so the Engine
//! reads both the same).
#![no_main]

use dockgate::request::inspect::json::{parse, Object, Value};
use dockgate::request::inspect::schema::{check_known, Shape};
use libfuzzer_sys::fuzz_target;

const SHAPES: [Shape; 5] = [
    Shape::ContainerCreate,
    Shape::ContainerStart,
    Shape::ContainerUpdate,
    Shape::ExecCreate,
    Shape::VolumeCreate,
];

fn lower_keys(value: &Value) -> Value {
    match value {
        Value::Object(object) => Value::Object(Object {
            members: object
                .members
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), lower_keys(v)))
                .collect(),
        }),
        Value::Array(items) => Value::Array(items.iter().map(lower_keys).collect()),
        other => other.clone(),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(value) = parse(data) else { return };
    let lowered = lower_keys(&value);
    for shape in SHAPES {
        if check_known(shape, &value).is_ok() {
            assert!(
                check_known(shape, &lowered).is_ok(),
                "{shape:?}: accepted, but not with lower-case keys"
            );
        }
    }
});
