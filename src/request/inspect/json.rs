//! A JSON reader that sees a body the way the Engine's Go `encoding/json` decoder does.
//!
//! `serde_json::Value` keeps one value per key and forgets which spelling was used, but the
//! Engine matches struct fields case-insensitively (with Go's folding: ASCII case plus `ſ`→`s`
//! and the Kelvin sign → `k`) and lets the last of two matching keys win — or merges them, for
//! nested structs. So this reader keeps every member in order, and [`Object::field`] refuses
//! a body in which two keys fold to a field the inspector reads. Everything the Engine would
//! accept in a different way than we read it is refused: invalid UTF-8, lone surrogates,
//! trailing data, nesting deeper than [`MAX_DEPTH`].

use super::Refusal;

/// Deepest nesting accepted; Engine bodies are a few levels deep.
pub const MAX_DEPTH: usize = 64;

/// One JSON value. Numbers stay as their source text: the inspector never does arithmetic.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(String),
    String(String),
    Array(Vec<Value>),
    Object(Object),
}

/// An object's members in source order, duplicates included, keys unescaped.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Object {
    pub members: Vec<(String, Value)>,
}

impl Value {
    /// Whether the value leaves any Go field at its default: no decoder can read a setting
    /// from it.
    pub fn is_zero(&self) -> bool {
        match self {
            Value::Null | Value::Bool(false) => true,
            Value::String(s) => s.is_empty(),
            Value::Array(items) => items.is_empty(),
            Value::Object(object) => object.members.is_empty(),
            // JSON numbers are digits, a sign, a point and an exponent: zero iff no digit of
            // the mantissa is non-zero.
            Value::Number(n) => n
                .split(['e', 'E'])
                .next()
                .is_some_and(|mantissa| mantissa.bytes().all(|b| matches!(b, b'0' | b'-' | b'.'))),
            Value::Bool(true) => false,
        }
    }

    /// The JSON type's name, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }
}

impl Value {
    fn wrong(&self, path: &str, want: &str) -> Refusal {
        Refusal::ambiguous(format!("{path} must be {want}, not {}", self.kind()))
    }

    pub fn as_bool(&self, path: &str) -> Result<bool, Refusal> {
        match self {
            Value::Bool(b) => Ok(*b),
            v => Err(v.wrong(path, "a boolean")),
        }
    }

    pub fn as_str(&self, path: &str) -> Result<&str, Refusal> {
        match self {
            Value::String(s) => Ok(s),
            v => Err(v.wrong(path, "a string")),
        }
    }

    pub fn as_array(&self, path: &str) -> Result<&[Value], Refusal> {
        match self {
            Value::Array(items) => Ok(items),
            v => Err(v.wrong(path, "an array")),
        }
    }

    pub fn as_object(&self, path: &str) -> Result<&Object, Refusal> {
        match self {
            Value::Object(o) => Ok(o),
            v => Err(v.wrong(path, "an object")),
        }
    }

    /// An array of strings.
    pub fn as_strings(&self, path: &str) -> Result<Vec<&str>, Refusal> {
        self.as_array(path)?
            .iter()
            .map(|item| item.as_str(path))
            .collect()
    }

    /// Go's `strslice.StrSlice`: a single string or an array of strings.
    pub fn as_str_slice(&self, path: &str) -> Result<Vec<&str>, Refusal> {
        match self {
            Value::String(s) => Ok(vec![s]),
            v => v.as_strings(path),
        }
    }
}

impl Object {
    /// The value of struct field `name` as Go would decode it: keys match after folding, and a
    /// `null` counts as absent. Two keys folding to `name` are refused, because Go would keep
    /// the last one (or merge them) and the inspector will not guess which.
    pub fn field(&self, name: &str, path: &str) -> Result<Option<&Value>, Refusal> {
        let wanted = fold(name);
        let mut found = None;
        for (key, value) in &self.members {
            if fold(key) == wanted {
                if found.is_some() {
                    return Err(Refusal::ambiguous(format!(
                        "{path} is given more than once (keys match case-insensitively)"
                    )));
                }
                found = Some(value);
            }
        }
        Ok(found.filter(|v| **v != Value::Null))
    }

    /// The value under map key `key` (Go maps match keys exactly). A repeated key is refused:
    /// Go keeps the last, and the values may differ.
    pub fn entry(&self, key: &str, path: &str) -> Result<Option<&Value>, Refusal> {
        let mut found = None;
        for (k, value) in &self.members {
            if k == key {
                if found.is_some() {
                    return Err(Refusal::ambiguous(format!(
                        "{path} is given more than once"
                    )));
                }
                found = Some(value);
            }
        }
        Ok(found)
    }
}

/// Go's `foldName` for the purpose of matching ASCII field names: ASCII letters upper-cased,
/// U+017F and U+212A mapped to the ASCII letters they fold with. Other non-ASCII characters are
/// kept; they can never fold to an ASCII field name.
pub fn fold(key: &str) -> String {
    key.chars()
        .map(|c| match c {
            '\u{017F}' => 'S',
            '\u{212A}' => 'K',
            c => c.to_ascii_uppercase(),
        })
        .collect()
}

impl Value {
    /// The value as JSON text: members in order, duplicates kept, numbers as they were
    /// written. Go decodes the text back to what it would have decoded from the source.
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) => out.push_str(n),
            Value::String(s) => write_string(s, out),
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Value::Object(object) => {
                out.push('{');
                for (i, (key, value)) in object.members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_string(key, out);
                    out.push(':');
                    value.write(out);
                }
                out.push('}');
            }
        }
    }
}

fn write_string(s: &str, out: &mut String) {
    out.push_str(&serde_json::to_string(s).expect("a str always serializes"));
}

/// Parses exactly one JSON value surrounded only by JSON whitespace.
pub fn parse(bytes: &[u8]) -> Result<Value, Refusal> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| Refusal::ambiguous(format!("body is not valid UTF-8 ({e})")))?;
    let mut reader = Reader {
        text: text.as_bytes(),
        pos: 0,
    };
    reader.skip_whitespace();
    let value = reader.value(0)?;
    reader.skip_whitespace();
    if reader.pos != reader.text.len() {
        return Err(reader.error("data after the JSON value"));
    }
    Ok(value)
}

/// A cursor over text already known to be UTF-8.
struct Reader<'a> {
    text: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn error(&self, what: &str) -> Refusal {
        Refusal::ambiguous(format!("malformed JSON at byte {}: {what}", self.pos))
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    /// Go accepts exactly these four as whitespace.
    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.pos += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, Refusal> {
        if depth >= MAX_DEPTH {
            return Err(self.error("nested too deeply"));
        }
        match self.peek() {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'n') => self.literal("null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.error("unexpected character")),
            None => Err(self.error("unexpected end of input")),
        }
    }

    fn literal(&mut self, word: &str, value: Value) -> Result<Value, Refusal> {
        if self.text[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(self.error("invalid literal"))
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, Refusal> {
        self.pos += 1;
        let mut members = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Object(Object { members }));
        }
        loop {
            self.skip_whitespace();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a string key"));
            }
            let key = self.string()?;
            self.skip_whitespace();
            if self.peek() != Some(b':') {
                return Err(self.error("expected ':'"));
            }
            self.pos += 1;
            self.skip_whitespace();
            let value = self.value(depth + 1)?;
            members.push((key, value));
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Object(Object { members }));
                }
                _ => return Err(self.error("expected ',' or '}'")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, Refusal> {
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.skip_whitespace();
            items.push(self.value(depth + 1)?);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.error("expected ',' or ']'")),
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<Value, Refusal> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.error("invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.error("invalid number"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.error("invalid number"));
            }
        }
        let text = String::from_utf8_lossy(&self.text[start..self.pos]).into_owned();
        Ok(Value::Number(text))
    }

    fn hex4(&mut self) -> Result<u32, Refusal> {
        let digits = self
            .text
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.error("short \\u escape"))?;
        let mut code = 0;
        for &d in digits {
            let v = (d as char)
                .to_digit(16)
                .ok_or_else(|| self.error("invalid \\u escape"))?;
            code = code * 16 + v;
        }
        self.pos += 4;
        Ok(code)
    }

    /// A string with its escapes resolved. Control characters are refused as Go refuses them;
    /// lone surrogates (which Go silently turns into U+FFFD) are refused too.
    fn string(&mut self) -> Result<String, Refusal> {
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            let Some(byte) = self.peek() else {
                return Err(self.error("unterminated string"));
            };
            self.pos += 1;
            match byte {
                b'"' => break,
                b'\\' => {
                    let Some(esc) = self.peek() else {
                        return Err(self.error("unterminated escape"));
                    };
                    self.pos += 1;
                    let c = match esc {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return Err(self.error("invalid escape")),
                    };
                    let mut buf = [0; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                0x00..=0x1f => return Err(self.error("control character in string")),
                _ => out.push(byte),
            }
        }
        // The input is UTF-8 and escapes produce whole characters, so this cannot fail; it is
        // still checked rather than assumed.
        String::from_utf8(out).map_err(|_| self.error("invalid UTF-8 in string"))
    }

    fn unicode_escape(&mut self) -> Result<char, Refusal> {
        let first = self.hex4()?;
        let code = match first {
            0xD800..=0xDBFF => {
                if !self.text[self.pos..].starts_with(b"\\u") {
                    return Err(self.error("lone surrogate in \\u escape"));
                }
                self.pos += 2;
                let second = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return Err(self.error("lone surrogate in \\u escape"));
                }
                0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(self.error("lone surrogate in \\u escape")),
            code => code,
        };
        char::from_u32(code).ok_or_else(|| self.error("invalid \\u escape"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(text: &str) -> Object {
        match parse(text.as_bytes()) {
            Ok(Value::Object(o)) => o,
            other => panic!("not an object: {other:?}"),
        }
    }

    #[test]
    fn folding_matches_go() {
        let cases = [
            (r#"{"Privileged":true}"#, true),
            (r#"{"privileged":true}"#, true),
            (r#"{"PRIVILEGED":true}"#, true),
            (r#"{"Privileged ":true}"#, false),
            (r#"{"privilege":true}"#, false),
            ("{\"\u{017F}ysctls\":true}", true),
            ("{\"\u{212A}ernel\":true}", true),
            (r#"{"Privil\u0065ged":true}"#, true),
            (r#"{"\u017Fysctls":true}"#, true),
            (r#"{"\u212Aernel":true}"#, true),
            // U+0130 and U+0131 are not in the orbit of 'i' under simple folding.
            ("{\"Pr\u{0130}vileged\":true}", false),
            ("{\"Pr\u{0131}vileged\":true}", false),
        ];
        for (text, seen) in cases {
            let o = obj(text);
            let names = ["Privileged", "Sysctls", "Kernel"];
            let hit = names
                .iter()
                .any(|n| o.field(n, n).unwrap() == Some(&Value::Bool(true)));
            assert_eq!(hit, seen, "{text}");
        }
    }

    #[test]
    fn duplicates_of_read_fields_are_refused() {
        let o = obj(r#"{"Privileged":false,"privileged":true,"Labels":{"a":"1","A":"2"}}"#);
        assert!(matches!(
            o.field("Privileged", "P"),
            Err(Refusal::Ambiguous(_))
        ));
        let Ok(Some(Value::Object(labels))) = o.field("Labels", "Labels") else {
            panic!("labels")
        };
        assert_eq!(
            labels.entry("a", "a").unwrap(),
            Some(&Value::String("1".into()))
        );
        let o = obj(r#"{"o":"x","o":"bind"}"#);
        assert!(o.entry("o", "o").is_err());
        let o = obj("{\"Sysctls\":{},\"\u{017F}ysctls\":{}}");
        assert!(o.field("Sysctls", "S").is_err());
    }

    #[test]
    fn null_is_absent() {
        let o = obj(r#"{"Privileged":null}"#);
        assert_eq!(o.field("Privileged", "P").unwrap(), None);
    }

    #[test]
    fn escapes() {
        let Value::String(s) = parse(br#""a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00""#).unwrap() else {
            panic!()
        };
        assert_eq!(s, "a\"\\/\u{8}\u{c}\n\r\t\u{e9}\u{1F600}");
    }

    #[test]
    fn malformed_input_is_refused() {
        let bad: &[&[u8]] = &[
            b"",
            b"   ",
            b"{} {}",
            b"{}x",
            b"{\"a\":1,}",
            b"[1,]",
            b"{'a':1}",
            b"{\"a\" 1}",
            b"\"\\x\"",
            b"\"\\u12\"",
            b"\"\\ud83d\"",
            b"\"\\ude00\"",
            b"\"\\ud83d\\u0041\"",
            b"\"a\tb\"",
            b"\"\xff\"",
            b"{\"a\":\"\xc3\"}",
            b"01",
            b"1.",
            b"-",
            b"1e",
            b".5",
            b"+1",
            b"tru",
            b"nul",
            b"\xef\xbb\xbf{}",
            b"\x0c{}",
            b"{\"a\":1\x00}",
            b"\"unterminated",
        ];
        for text in bad {
            assert!(
                matches!(parse(text), Err(Refusal::Ambiguous(_))),
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn valid_input_is_read() {
        let good: &[&[u8]] = &[
            b" {} ",
            b"\r\n\t[]",
            b"-0.5e+10",
            b"0",
            b"1E-2",
            b"[true,false,null,\"\",{}]",
            b"{\"a\":{\"b\":[1,2,{\"c\":null}]}}",
        ];
        for text in good {
            assert!(parse(text).is_ok(), "{:?}", String::from_utf8_lossy(text));
        }
    }

    #[test]
    fn depth_is_bounded() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(parse(deep(MAX_DEPTH).as_bytes()).is_ok());
        assert!(parse(deep(MAX_DEPTH + 1).as_bytes()).is_err());
        assert!(parse(deep(100_000).as_bytes()).is_err());
    }

    #[test]
    fn order_and_duplicates_are_kept() {
        let o = obj(r#"{"b":1,"a":2,"b":3}"#);
        let keys: Vec<_> = o.members.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["b", "a", "b"]);
    }
}
