//! Shared by the Jool peer-suite harnesses (`jool_siit.rs`, `jool_nat64.rs`): a small JSON
//! reader for `cases.json`, the location of the suite, and the comparator of MANIFEST.md
//! (listed ignore offsets; an expected IPv4 Identification of 0 means "any", the expected
//! header checksum then being recomputed from the actual header).
//!
//! The suite is GPL data read at run time from `../shared/conformance/jool`; nothing of it is
//! copied into this repository.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::path::PathBuf;

// ---------------------------------------------------------------------------------------------
// A small JSON reader: enough for cases.json, no dependency.

#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(BTreeMap<String, Json>),
}

impl Json {
    pub fn get(&self, k: &str) -> &Json {
        match self {
            Json::Obj(m) => m.get(k).unwrap_or(&Json::Null),
            _ => &Json::Null,
        }
    }
    pub fn str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn arr(&self) -> &[Json] {
        match self {
            Json::Arr(a) => a,
            _ => &[],
        }
    }
    pub fn num(&self) -> Option<f64> {
        match self {
            Json::Num(n) => Some(*n),
            Json::Bool(b) => Some(f64::from(u8::from(*b))),
            _ => None,
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn eat(&mut self, c: u8) {
        self.ws();
        assert_eq!(
            self.s.get(self.i),
            Some(&c),
            "JSON: expected {} at {}",
            c as char,
            self.i
        );
        self.i += 1;
    }
    fn value(&mut self) -> Json {
        self.ws();
        match self.s[self.i] {
            b'{' => {
                self.i += 1;
                let mut m = BTreeMap::new();
                self.ws();
                if self.s[self.i] == b'}' {
                    self.i += 1;
                    return Json::Obj(m);
                }
                loop {
                    self.ws();
                    let Json::Str(k) = self.value() else {
                        panic!("JSON: key")
                    };
                    self.eat(b':');
                    let v = self.value();
                    m.insert(k, v);
                    self.ws();
                    let c = self.s[self.i];
                    self.i += 1;
                    if c == b'}' {
                        return Json::Obj(m);
                    }
                    assert_eq!(c, b',', "JSON: object separator");
                }
            }
            b'[' => {
                self.i += 1;
                let mut a = Vec::new();
                self.ws();
                if self.s[self.i] == b']' {
                    self.i += 1;
                    return Json::Arr(a);
                }
                loop {
                    a.push(self.value());
                    self.ws();
                    let c = self.s[self.i];
                    self.i += 1;
                    if c == b']' {
                        return Json::Arr(a);
                    }
                    assert_eq!(c, b',', "JSON: array separator");
                }
            }
            b'"' => {
                self.i += 1;
                let mut out = String::new();
                loop {
                    let c = self.s[self.i];
                    self.i += 1;
                    match c {
                        b'"' => return Json::Str(out),
                        b'\\' => {
                            let e = self.s[self.i];
                            self.i += 1;
                            match e {
                                b'n' => out.push('\n'),
                                b't' => out.push('\t'),
                                b'r' => out.push('\r'),
                                b'b' => out.push('\u{8}'),
                                b'f' => out.push('\u{c}'),
                                b'u' => {
                                    let h =
                                        std::str::from_utf8(&self.s[self.i..self.i + 4]).unwrap();
                                    self.i += 4;
                                    let cp = u32::from_str_radix(h, 16).unwrap();
                                    out.push(char::from_u32(cp).unwrap_or('\u{fffd}'));
                                }
                                other => out.push(other as char),
                            }
                        }
                        _ => {
                            // Multi-byte UTF-8: copy the whole sequence.
                            let n = match c {
                                0..=0x7f => 1,
                                0xc0..=0xdf => 2,
                                0xe0..=0xef => 3,
                                _ => 4,
                            };
                            let bytes = &self.s[self.i - 1..self.i - 1 + n];
                            out.push_str(std::str::from_utf8(bytes).unwrap());
                            self.i += n - 1;
                        }
                    }
                }
            }
            b't' => {
                self.i += 4;
                Json::Bool(true)
            }
            b'f' => {
                self.i += 5;
                Json::Bool(false)
            }
            b'n' => {
                self.i += 4;
                Json::Null
            }
            _ => {
                let st = self.i;
                while self.i < self.s.len() && b"+-.eE0123456789".contains(&self.s[self.i]) {
                    self.i += 1;
                }
                let t = std::str::from_utf8(&self.s[st..self.i]).unwrap();
                Json::Num(t.parse().unwrap_or_else(|_| panic!("JSON: number {t:?}")))
            }
        }
    }
}

pub fn parse_json(s: &[u8]) -> Json {
    Parser { s, i: 0 }.value()
}

// ---------------------------------------------------------------------------------------------

/// The folder of the Jool peer suite.
pub fn jool_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/jool")
}

/// `cases.json`, parsed; panics with the path when the suite is missing, so that no harness
/// passes without it.
pub fn load_cases() -> Json {
    let dir = jool_dir();
    let json = std::fs::read(dir.join("cases.json")).unwrap_or_else(|e| {
        panic!(
            "the Jool peer suite is missing at {}: {e}. It lives in ../shared/conformance/jool; \
             this test must not pass without it.",
            dir.display()
        )
    });
    parse_json(&json)
}

/// The byte offsets a case's comparator skips.
pub fn ignore_offsets(case: &Json) -> Vec<usize> {
    case.get("ignore_byte_offsets")
        .arr()
        .iter()
        .map(|v| v.num().unwrap() as usize)
        .collect()
}

/// Reads a packet file of the suite.
pub fn read_packet(path: &Json) -> Vec<u8> {
    let p = path.str().expect("a packet path");
    std::fs::read(jool_dir().join(p)).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn ipv4_checksum(h: &[u8]) -> [u8; 2] {
    nat_core::checksum::checksum(h).to_be_bytes()
}

/// First differing offset of `got` against `want` under the comparator rules, if any.
pub fn compare(want: &[u8], got: &[u8], ignore: &[usize]) -> Option<String> {
    let mut want = want.to_vec();
    if want.len() >= 20 && want[0] >> 4 == 4 && want[4] == 0 && want[5] == 0 && got.len() >= 20 {
        want[4..6].copy_from_slice(&got[4..6]);
        let ihl = usize::from(want[0] & 0xf) * 4;
        if want.len() >= ihl {
            want[10..12].copy_from_slice(&[0, 0]);
            let c = ipv4_checksum(&want[..ihl]);
            want[10..12].copy_from_slice(&c);
        }
    }
    for i in 0..want.len().max(got.len()) {
        if ignore.contains(&i) {
            continue;
        }
        match (want.get(i), got.get(i)) {
            (Some(a), Some(b)) if a == b => {}
            (a, b) => {
                return Some(format!(
                    "offset {i}: expected {a:02x?}, got {b:02x?} (lengths {} / {})",
                    want.len(),
                    got.len()
                ));
            }
        }
    }
    None
}
