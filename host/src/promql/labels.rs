//! Label-set operations the evaluator needs: dropping `__name__`, keeping or removing label
//! names (grouping and vector matching), Go-style printing for error messages, and
//! Prometheus's label hash (xxhash64 over `name 0xff value 0xff …`) for `limit_ratio`.

use crate::store::Labels;
use crate::store::labels::NAME;

/// `labels` without `__name__`.
pub(crate) fn drop_name(labels: &Labels) -> Labels {
    labels.without_name()
}

/// Only the labels named in `names` (`by`, `on`).
pub(crate) fn keep(labels: &Labels, names: &[String]) -> Labels {
    Labels::from_vec(
        labels
            .iter()
            .filter(|(k, _)| names.iter().any(|n| n == k))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

/// The labels not named in `names`, and never `__name__` (`without`, `ignoring`).
pub(crate) fn without(labels: &Labels, names: &[String]) -> Labels {
    Labels::from_vec(
        labels
            .iter()
            .filter(|(k, _)| *k != NAME && !names.iter().any(|n| n == k))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

/// The key `on(names)` / `ignoring(names)` matches on.
pub(crate) fn signature(labels: &Labels, on: bool, names: &[String]) -> Labels {
    if on {
        keep(labels, names)
    } else {
        without(labels, names)
    }
}

/// Whether `name` can be a label name (Prometheus 3 accepts any non-empty UTF-8 string).
pub(crate) fn valid_label_name(name: &str) -> bool {
    !name.is_empty()
}

/// Go's `strconv.Quote`, enough for label names and values.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A label set as Go's `labels.Labels.String()` prints it: `{__name__="x", a="b"}`.
pub(crate) fn go_string(labels: &Labels) -> String {
    let parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| {
            let legacy = k
                .chars()
                .enumerate()
                .all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()));
            let name = if legacy && !k.is_empty() {
                k.to_string()
            } else {
                go_quote(k)
            };
            format!("{name}={}", go_quote(v))
        })
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// Prometheus's `labels.Labels.Hash()`.
pub(crate) fn hash(labels: &Labels) -> u64 {
    let mut b = Vec::with_capacity(256);
    for (k, v) in labels.iter() {
        b.extend_from_slice(k.as_bytes());
        b.push(0xff);
        b.extend_from_slice(v.as_bytes());
        b.push(0xff);
    }
    xxh64(&b)
}

const P1: u64 = 0x9E37_79B1_85EB_CA87;
const P2: u64 = 0xC2B2_AE3D_27D4_EB4F;
const P3: u64 = 0x1656_67B1_9E37_79F9;
const P4: u64 = 0x85EB_CA77_C2B2_AE63;
const P5: u64 = 0x27D4_EB2F_1656_67C5;

fn round(acc: u64, input: u64) -> u64 {
    acc.wrapping_add(input.wrapping_mul(P2))
        .rotate_left(31)
        .wrapping_mul(P1)
}

fn merge(acc: u64, val: u64) -> u64 {
    (acc ^ round(0, val)).wrapping_mul(P1).wrapping_add(P4)
}

fn u64_at(b: &[u8], i: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[i..i + 8]);
    u64::from_le_bytes(a)
}

fn u32_at(b: &[u8], i: usize) -> u64 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[i..i + 4]);
    u64::from(u32::from_le_bytes(a))
}

/// XXH64 with seed 0 (what Go's `cespare/xxhash.Sum64` computes).
pub(crate) fn xxh64(b: &[u8]) -> u64 {
    let n = b.len();
    let mut i = 0;
    let mut h = if n >= 32 {
        let (mut v1, mut v2, mut v3, mut v4) =
            (P1.wrapping_add(P2), P2, 0u64, 0u64.wrapping_sub(P1));
        while i + 32 <= n {
            v1 = round(v1, u64_at(b, i));
            v2 = round(v2, u64_at(b, i + 8));
            v3 = round(v3, u64_at(b, i + 16));
            v4 = round(v4, u64_at(b, i + 24));
            i += 32;
        }
        let mut h = v1
            .rotate_left(1)
            .wrapping_add(v2.rotate_left(7))
            .wrapping_add(v3.rotate_left(12))
            .wrapping_add(v4.rotate_left(18));
        h = merge(h, v1);
        h = merge(h, v2);
        h = merge(h, v3);
        merge(h, v4)
    } else {
        P5
    };
    h = h.wrapping_add(n as u64);
    while i + 8 <= n {
        h ^= round(0, u64_at(b, i));
        h = h.rotate_left(27).wrapping_mul(P1).wrapping_add(P4);
        i += 8;
    }
    if i + 4 <= n {
        h ^= u32_at(b, i).wrapping_mul(P1);
        h = h.rotate_left(23).wrapping_mul(P2).wrapping_add(P3);
        i += 4;
    }
    while i < n {
        h ^= u64::from(b[i]).wrapping_mul(P5);
        h = h.rotate_left(11).wrapping_mul(P1);
        i += 1;
    }
    h ^= h >> 33;
    h = h.wrapping_mul(P2);
    h ^= h >> 29;
    h = h.wrapping_mul(P3);
    h ^ (h >> 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xxh64_matches_reference_vectors() {
        assert_eq!(xxh64(b""), 0xef46_db37_51d8_e999);
        assert_eq!(xxh64(b"a"), 0xd24e_c4f1_a98c_6e5b);
        assert_eq!(xxh64(b"abc"), 0x44bc_2cf5_ad77_0999);
        assert_eq!(
            xxh64(b"Nobody inspects the spammish repetition"),
            0xfbce_a83c_8a37_8bf1
        );
    }

    #[test]
    fn grouping_and_printing() {
        let l = Labels::from_pairs("m", [("a", "1"), ("b", "2")]);
        assert_eq!(
            keep(&l, &["a".into(), "__name__".into()]).to_string(),
            r#"m{a="1"}"#
        );
        assert_eq!(without(&l, &["a".into()]).to_string(), r#"{b="2"}"#);
        assert_eq!(go_string(&l), r#"{__name__="m", a="1", b="2"}"#);
        assert_eq!(go_string(&Labels::default()), "{}");
        assert_eq!(go_quote("a\"b\n"), r#""a\"b\n""#);
    }
}
