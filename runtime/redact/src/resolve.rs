//! Overlap resolution.
//!
//! Overlapping findings merge into one span covering all of them, so nothing
//! that any layer found stays visible; the merged finding takes the layer,
//! rule and label of the winner: highest priority, then longest, then
//! earliest, then rule id. The result is sorted and non-overlapping, and
//! depends only on the set of findings, not on the order they came in.

use crate::Finding;

/// Resolve overlaps; see the module docs.
pub fn resolve(mut found: Vec<Finding>) -> Vec<Finding> {
    found.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
    // (winner as found, cluster start, cluster end)
    let mut clusters: Vec<(Finding, usize, usize)> = Vec::with_capacity(found.len());
    for f in found {
        match clusters.last_mut() {
            Some((winner, _, end)) if f.start < *end => {
                *end = (*end).max(f.end);
                if beats(&f, winner) {
                    *winner = f;
                }
            }
            _ => {
                let (s, e) = (f.start, f.end);
                clusters.push((f, s, e));
            }
        }
    }
    clusters
        .into_iter()
        .map(|(mut w, s, e)| {
            w.start = s;
            w.end = e;
            w
        })
        .collect()
}

/// Whether `a` names a merged finding rather than `b`.
fn beats(a: &Finding, b: &Finding) -> bool {
    let (la, lb) = (a.end - a.start, b.end - b.start);
    (a.priority, la, std::cmp::Reverse(a.start), std::cmp::Reverse(&*a.rule))
        > (b.priority, lb, std::cmp::Reverse(b.start), std::cmp::Reverse(&*b.rule))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Layer;
    use std::sync::Arc;

    fn f(s: usize, e: usize, p: i32, rule: &str) -> Finding {
        Finding { start: s, end: e, layer: Layer::Pattern, rule: Arc::from(rule), label: Arc::from("X"), priority: p }
    }

    #[test]
    fn overlaps_merge_and_the_winner_names_them() {
        let out = resolve(vec![f(5, 10, 10, "low"), f(0, 7, 100, "high"), f(20, 25, 1, "alone")]);
        assert_eq!(out.len(), 2);
        assert_eq!((out[0].start, out[0].end, &*out[0].rule), (0, 10, "high"));
        assert_eq!(&*out[1].rule, "alone");
    }

    #[test]
    fn same_priority_longer_wins_and_order_does_not_matter() {
        let a = vec![f(0, 4, 50, "short"), f(2, 12, 50, "long")];
        let mut b = a.clone();
        b.reverse();
        for v in [a, b] {
            let out = resolve(v);
            assert_eq!((out[0].start, out[0].end, &*out[0].rule), (0, 12, "long"));
        }
    }

    #[test]
    fn touching_findings_stay_apart() {
        assert_eq!(resolve(vec![f(0, 5, 1, "a"), f(5, 9, 1, "b")]).len(), 2);
    }
}
