//! Binary operators: arithmetic, comparisons (filtering or `bool`), `atan2`, and the set
//! operators `and`, `or`, `unless`, with vector matching (`on`, `ignoring`, `group_left`,
//! `group_right`) as Prometheus's `VectorBinop`, `VectorAnd`, `VectorOr`, `VectorUnless`.
//!
//! Matching errors are reported before comparisons filter samples away, so
//! `many > on(job) one` fails the same whether or not any sample passes the comparison.

use super::EvalError;
use super::eval::{Evaluator, Val, Vector, check_unique};
use super::labels::{drop_name, go_string, signature};
use crate::store::Labels;
use crate::store::labels::NAME;
use promql_parser::parser::token::{
    T_ADD, T_ATAN2, T_DIV, T_EQLC, T_GTE, T_GTR, T_LAND, T_LOR, T_LSS, T_LTE, T_LUNLESS, T_MOD,
    T_MUL, T_NEQ, T_POW, T_SUB, TokenId,
};
use promql_parser::parser::{BinModifier, BinaryExpr, LabelModifier, VectorMatchCardinality};
use std::collections::{HashMap, HashSet};

/// Evaluate a binary expression at `t`.
pub(crate) fn eval(ev: &mut Evaluator, b: &BinaryExpr, t: i64) -> Result<Val, EvalError> {
    let modifier = b.modifier.as_ref();
    if modifier.is_some_and(|m| m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some()) {
        return Err(EvalError::Unsupported(
            "fill modifiers of binary operators".into(),
        ));
    }
    let op = b.op.id();
    let return_bool = modifier.is_some_and(|m| m.return_bool);
    let lhs = ev.eval(&b.lhs, t)?;
    let rhs = ev.eval(&b.rhs, t)?;
    match (lhs, rhs) {
        (Val::Scalar(l), Val::Scalar(r)) => {
            let (v, keep) = apply(op, l, r)?;
            Ok(Val::Scalar(if is_comparison(op) {
                bool_value(keep)
            } else {
                v
            }))
        }
        (Val::Vector(v), Val::Scalar(s)) => {
            vector_scalar(op, v, s, false, return_bool).map(Val::Vector)
        }
        (Val::Scalar(s), Val::Vector(v)) => {
            vector_scalar(op, v, s, true, return_bool).map(Val::Vector)
        }
        (Val::Vector(l), Val::Vector(r)) => {
            let (on, names) = matching(modifier);
            match op {
                T_LAND => Ok(Val::Vector(and(l, &r, on, &names))),
                T_LOR => Ok(Val::Vector(or(l, r, on, &names))),
                T_LUNLESS => Ok(Val::Vector(unless(l, &r, on, &names))),
                _ => vector_vector(op, l, r, modifier, on, &names, return_bool).map(Val::Vector),
            }
        }
        _ => Err(EvalError::Eval(
            "binary expression must contain only scalar and instant vector types".into(),
        )),
    }
}

fn bool_value(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

fn is_comparison(op: TokenId) -> bool {
    matches!(op, T_EQLC | T_NEQ | T_GTR | T_LSS | T_GTE | T_LTE)
}

/// Arithmetic operators drop the metric name; comparisons keep it (unless `bool`).
fn drops_name(op: TokenId) -> bool {
    matches!(op, T_ADD | T_SUB | T_MUL | T_DIV | T_POW | T_MOD | T_ATAN2)
}

/// `l op r`: the value and, for comparisons, whether the comparison holds (the value of a
/// comparison is `l`).
fn apply(op: TokenId, l: f64, r: f64) -> Result<(f64, bool), EvalError> {
    Ok(match op {
        T_ADD => (l + r, true),
        T_SUB => (l - r, true),
        T_MUL => (l * r, true),
        T_DIV => (l / r, true),
        T_POW => (l.powf(r), true),
        T_MOD => (l % r, true),
        T_ATAN2 => (l.atan2(r), true),
        T_EQLC => (l, l == r),
        T_NEQ => (l, l != r),
        T_GTR => (l, l > r),
        T_LSS => (l, l < r),
        T_GTE => (l, l >= r),
        T_LTE => (l, l <= r),
        _ => {
            return Err(EvalError::Eval(format!(
                "operator {op} not allowed between scalars or vectors"
            )));
        }
    })
}

/// `on(…)` (true) or `ignoring(…)` (false) and the label names.
fn matching(modifier: Option<&BinModifier>) -> (bool, Vec<String>) {
    match modifier.and_then(|m| m.matching.as_ref()) {
        Some(LabelModifier::Include(ls)) => (true, ls.labels.clone()),
        Some(LabelModifier::Exclude(ls)) => (false, ls.labels.clone()),
        None => (false, Vec::new()),
    }
}

fn vector_scalar(
    op: TokenId,
    v: Vector,
    s: f64,
    scalar_left: bool,
    return_bool: bool,
) -> Result<Vector, EvalError> {
    let mut out = Vec::with_capacity(v.len());
    for (labels, x) in v {
        let (l, r) = if scalar_left { (s, x) } else { (x, s) };
        let (mut value, mut keep) = apply(op, l, r)?;
        if is_comparison(op) {
            // A comparison keeps the vector's value, whichever side it is on.
            value = x;
        }
        if return_bool {
            value = bool_value(keep);
            keep = true;
        }
        if keep {
            let labels = if drops_name(op) || return_bool {
                drop_name(&labels)
            } else {
                labels
            };
            out.push((labels, value));
        }
    }
    check_unique(&out)?;
    Ok(out)
}

fn vector_vector(
    op: TokenId,
    lhs: Vector,
    rhs: Vector,
    modifier: Option<&BinModifier>,
    on: bool,
    names: &[String],
    return_bool: bool,
) -> Result<Vector, EvalError> {
    if lhs.is_empty() || rhs.is_empty() {
        return Ok(Vec::new());
    }
    let card = modifier.map_or(&VectorMatchCardinality::OneToOne, |m| &m.card);
    let (include, one_to_many): (&[String], bool) = match card {
        VectorMatchCardinality::ManyToOne(ls) => (&ls.labels, false),
        VectorMatchCardinality::OneToMany(ls) => (&ls.labels, true),
        VectorMatchCardinality::OneToOne => (&[], false),
        VectorMatchCardinality::ManyToMany => {
            return Err(EvalError::Eval(
                "many-to-many only allowed for set operators".into(),
            ));
        }
    };
    let one_to_one = matches!(card, VectorMatchCardinality::OneToOne);
    // The "one" side is indexed by signature; for group_right it is the left-hand side.
    let (many, one) = if one_to_many { (rhs, lhs) } else { (lhs, rhs) };
    let mut one_sigs: HashMap<Labels, usize> = HashMap::with_capacity(one.len());
    for (i, (labels, _)) in one.iter().enumerate() {
        let sig = signature(labels, on, names);
        if let Some(&j) = one_sigs.get(&sig) {
            let mut pair = [&one[j].0, labels];
            pair.sort();
            let side = if one_to_many { "left" } else { "right" };
            return Err(EvalError::Eval(format!(
                "found duplicate series for the match group {} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                go_string(&sig),
                go_string(pair[0]),
                go_string(pair[1]),
            )));
        }
        one_sigs.insert(sig, i);
    }

    let mut matched_one: HashSet<Labels> = HashSet::new();
    let mut matched_many: HashMap<Labels, HashSet<Labels>> = HashMap::new();
    let mut out = Vec::new();
    for (labels, x) in many {
        let sig = signature(&labels, on, names);
        let Some(&j) = one_sigs.get(&sig) else {
            continue;
        };
        let (one_labels, y) = &one[j];
        let metric = result_metric(
            &labels,
            one_labels,
            op,
            one_to_one,
            on,
            names,
            include,
            return_bool,
        );
        if one_to_one {
            if !matched_one.insert(sig) {
                return Err(EvalError::Eval(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into(),
                ));
            }
        } else if !matched_many.entry(sig).or_default().insert(metric.clone()) {
            return Err(EvalError::Eval(
                "multiple matches for labels: grouping labels must ensure unique matches".into(),
            ));
        }
        let (l, r) = if one_to_many { (*y, x) } else { (x, *y) };
        let (mut value, keep) = apply(op, l, r)?;
        if return_bool {
            value = bool_value(keep);
        } else if !keep {
            continue;
        }
        out.push((metric, value));
    }
    check_unique(&out)?;
    Ok(out)
}

/// Labels of a matched pair, from the "many" side (Prometheus's `resultMetric`).
#[allow(clippy::too_many_arguments)]
fn result_metric(
    many: &Labels,
    one: &Labels,
    op: TokenId,
    one_to_one: bool,
    on: bool,
    names: &[String],
    include: &[String],
    return_bool: bool,
) -> Labels {
    let drop = drops_name(op) || return_bool;
    let mut pairs: Vec<(String, String)> = many
        .iter()
        .filter(|(k, _)| !(drop && *k == NAME))
        .filter(|(k, _)| {
            if !one_to_one {
                true
            } else if on {
                names.iter().any(|n| n == k)
            } else {
                !names.iter().any(|n| n == k)
            }
        })
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for name in include {
        pairs.retain(|(k, _)| k != name);
        if let Some(v) = one.get(name) {
            pairs.push((name.clone(), v.to_string()));
        }
    }
    Labels::from_vec(pairs)
}

fn and(lhs: Vector, rhs: &Vector, on: bool, names: &[String]) -> Vector {
    if lhs.is_empty() || rhs.is_empty() {
        return Vec::new();
    }
    let right: HashSet<Labels> = rhs.iter().map(|(l, _)| signature(l, on, names)).collect();
    lhs.into_iter()
        .filter(|(l, _)| right.contains(&signature(l, on, names)))
        .collect()
}

fn or(lhs: Vector, rhs: Vector, on: bool, names: &[String]) -> Vector {
    if lhs.is_empty() {
        return rhs;
    }
    if rhs.is_empty() {
        return lhs;
    }
    let left: HashSet<Labels> = lhs.iter().map(|(l, _)| signature(l, on, names)).collect();
    let mut out = lhs;
    out.extend(
        rhs.into_iter()
            .filter(|(l, _)| !left.contains(&signature(l, on, names))),
    );
    out
}

fn unless(lhs: Vector, rhs: &Vector, on: bool, names: &[String]) -> Vector {
    if lhs.is_empty() || rhs.is_empty() {
        return lhs;
    }
    let right: HashSet<Labels> = rhs.iter().map(|(l, _)| signature(l, on, names)).collect();
    lhs.into_iter()
        .filter(|(l, _)| !right.contains(&signature(l, on, names)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_vec(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn duplicate_one_side_is_many_to_many_error() {
        let lhs = vec![(l(&[("__name__", "s")]), 3.0)];
        let rhs = vec![
            (l(&[("__name__", "d"), ("label", "beta")]), 2.0),
            (l(&[("__name__", "d"), ("label", "alpha")]), 1.0),
        ];
        let err = vector_vector(T_GTR, lhs, rhs, None, true, &[], false).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"found duplicate series for the match group {} on the right hand-side of the operation: [{__name__="d", label="alpha"}, {__name__="d", label="beta"}];many-to-many matching not allowed: matching labels must be unique on one side"#
        );
    }

    #[test]
    fn one_to_one_duplicates_fail_even_when_filtered() {
        let lhs = vec![
            (l(&[("job", "t"), ("label", "a")]), 0.0),
            (l(&[("job", "t"), ("label", "b")]), 0.0),
        ];
        let rhs = vec![(l(&[("job", "t")]), 1.0)];
        let err = vector_vector(T_GTR, lhs, rhs, None, true, &["job".into()], false).unwrap_err();
        assert!(
            err.to_string()
                .contains("many-to-one matching must be explicit")
        );
    }

    #[test]
    fn group_left_copies_labels_from_the_one_side() {
        let many = vec![(
            l(&[("__name__", "cpu"), ("instance", "a"), ("mode", "idle")]),
            3.0,
        )];
        let one = vec![(
            l(&[("__name__", "role"), ("instance", "a"), ("role", "db")]),
            1.0,
        )];
        let m = BinModifier::default()
            .with_card(VectorMatchCardinality::many_to_one(vec!["role"]))
            .with_matching(Some(LabelModifier::include(vec!["instance"])));
        let out = vector_vector(
            T_MUL,
            many,
            one,
            Some(&m),
            true,
            &["instance".into()],
            false,
        )
        .unwrap();
        assert_eq!(
            out,
            vec![(
                l(&[("instance", "a"), ("mode", "idle"), ("role", "db")]),
                3.0
            )]
        );
    }

    #[test]
    fn comparison_with_scalar_keeps_vector_value_and_name() {
        let v = vec![
            (l(&[("__name__", "x")]), 5.0),
            (l(&[("__name__", "y")]), 1.0),
        ];
        let out = vector_scalar(T_LSS, v.clone(), 3.0, true, false).unwrap();
        assert_eq!(out, vec![(l(&[("__name__", "x")]), 5.0)]);
        let err = vector_scalar(T_ADD, v, 1.0, false, false).unwrap_err();
        assert!(
            err.to_string().contains("same labelset"),
            "names dropped, then equal"
        );
    }
}
