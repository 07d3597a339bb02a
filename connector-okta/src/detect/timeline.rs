//! The window the counting detections share: one entity's events of interest in
//! `published` order ([`Timeline`]), whatever order they arrive in, with the bursts it
//! holds and the incident ([`Episode`]) a burst belongs to.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most marks one timeline holds; beyond it the oldest go (a flood must not grow the
/// state without bound, and a burst that large is caught long before).
pub const MAX_MARKS: usize = 2_000;

/// One event in a timeline.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Mark {
    pub ms: i64,
    pub uuid: String,
    /// What is counted: marks with the same key count once (the target user for a
    /// spray; the uuid itself when every event counts).
    pub key: String,
}

/// One incident: the burst that opened it and how far it has gone since.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Episode {
    /// The uuid of the incident's first evidence: the last part of its dedupe key.
    pub anchor: String,
    pub start_ms: i64,
    /// The time of the mark that completed the first burst.
    pub fired_ms: i64,
    pub last_ms: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    marks: Vec<Mark>,
    #[serde(default)]
    pub episode: Option<Episode>,
}

impl Timeline {
    /// Adds a mark in time order; `false` when its uuid is already there (a replay).
    pub fn insert(&mut self, mark: Mark) -> bool {
        if self.marks.iter().any(|m| m.uuid == mark.uuid) {
            return false;
        }
        let at = self.marks.partition_point(|m| m < &mark);
        self.marks.insert(at, mark);
        if self.marks.len() > MAX_MARKS {
            self.marks.remove(0);
        }
        true
    }

    #[cfg(test)]
    pub fn marks(&self) -> &[Mark] {
        &self.marks
    }

    /// Marks within `[from, to]`.
    pub fn between(&self, from: i64, to: i64) -> &[Mark] {
        let a = self.marks.partition_point(|m| m.ms < from);
        let b = self.marks.partition_point(|m| m.ms <= to);
        &self.marks[a..b.max(a)]
    }

    /// The earliest run of marks spanning at most `window_ms` that contains the time
    /// `at` and has at least `min_distinct` distinct keys, cut where it reaches that
    /// count.
    pub fn burst_at(&self, at: i64, window_ms: i64, min_distinct: usize) -> Option<&[Mark]> {
        let first = self.marks.partition_point(|m| m.ms < at - window_ms);
        for start in first..self.marks.len() {
            let s = self.marks[start].ms;
            if s > at {
                break;
            }
            let mut seen: Vec<&str> = Vec::new();
            for (end, m) in self.marks[start..].iter().enumerate() {
                if m.ms > s + window_ms {
                    break;
                }
                if !seen.contains(&m.key.as_str()) {
                    seen.push(&m.key);
                }
                if seen.len() >= min_distinct && m.ms >= at {
                    return Some(&self.marks[start..=start + end]);
                }
            }
        }
        None
    }

    /// The incident `burst` belongs to: the open one when the burst starts within
    /// `window_ms` of its last evidence (it is extended), else a new one. `true` when new;
    /// `None` for an empty burst.
    pub fn episode_for(&mut self, burst: &[Mark], window_ms: i64) -> Option<(Episode, bool)> {
        let (first, last) = (burst.first()?, burst.last()?);
        if let Some(ep) = &mut self.episode {
            if first.ms <= ep.last_ms + window_ms && last.ms + window_ms >= ep.start_ms {
                ep.last_ms = ep.last_ms.max(last.ms);
                ep.start_ms = ep.start_ms.min(first.ms);
                return Some((ep.clone(), false));
            }
        }
        let ep = Episode {
            anchor: first.uuid.clone(),
            start_ms: first.ms,
            fired_ms: last.ms,
            last_ms: last.ms,
        };
        self.episode = Some(ep.clone());
        Some((ep, true))
    }

    /// Drops marks before `before_ms`, and the incident once its last evidence is.
    pub fn prune(&mut self, before_ms: i64) {
        let cut = self.marks.partition_point(|m| m.ms < before_ms);
        self.marks.drain(..cut);
        if self.episode.as_ref().is_some_and(|e| e.last_ms < before_ms) {
            self.episode = None;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.marks.is_empty() && self.episode.is_none()
    }
}

/// Timelines by entity, pruned together.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timelines(BTreeMap<String, Timeline>);

impl Timelines {
    pub fn get(&self, entity: &str) -> Option<&Timeline> {
        self.0.get(entity)
    }

    pub fn entry(&mut self, entity: &str) -> &mut Timeline {
        self.0.entry(entity.to_string()).or_default()
    }

    pub fn prune(&mut self, before_ms: i64) {
        self.0.retain(|_, t| {
            t.prune(before_ms);
            !t.is_empty()
        });
    }

    /// Marks held in all timelines.
    pub fn size(&self) -> usize {
        self.0.values().map(|t| t.marks.len() + 1).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(ms: i64, uuid: &str, key: &str) -> Mark {
        Mark {
            ms,
            uuid: uuid.into(),
            key: key.into(),
        }
    }

    #[test]
    fn marks_stay_in_time_order_and_replays_are_refused() {
        let mut t = Timeline::default();
        assert!(t.insert(mark(30, "c", "c")));
        assert!(t.insert(mark(10, "a", "a")));
        assert!(t.insert(mark(20, "b", "b")));
        assert!(!t.insert(mark(20, "b", "b")));
        let order: Vec<&str> = t.marks().iter().map(|m| m.uuid.as_str()).collect();
        assert_eq!(order, vec!["a", "b", "c"]);
    }

    #[test]
    fn bursts_count_distinct_keys_within_the_window() {
        let mut t = Timeline::default();
        for (ms, uuid, key) in [
            (0, "a", "x"),
            (1, "b", "x"),
            (2, "c", "y"),
            (9, "d", "z"),
            (20, "e", "w"),
        ] {
            t.insert(mark(ms, uuid, key));
        }
        // x, y, z within 10: a burst of three distinct keys, ending at d.
        let burst = t
            .burst_at(9, 10, 3)
            .map(|b| b.iter().map(|m| m.uuid.clone()).collect::<Vec<_>>());
        assert_eq!(
            burst,
            Some(vec!["a".into(), "b".into(), "c".into(), "d".into()])
        );
        // Not when the window is shorter, nor around e.
        assert!(t.burst_at(9, 5, 3).is_none());
        assert!(t.burst_at(20, 10, 3).is_none());
    }

    #[test]
    fn a_burst_near_an_open_incident_joins_it() {
        let mut t = Timeline::default();
        let mut open = |burst: &[Mark]| {
            t.episode_for(burst, 10)
                .map(|(e, new)| (e.anchor, e.last_ms, new))
        };
        assert_eq!(
            open(&[mark(0, "a", "a"), mark(5, "b", "b")]),
            Some(("a".into(), 5, true))
        );
        assert_eq!(
            open(&[mark(12, "c", "c"), mark(14, "d", "d")]),
            Some(("a".into(), 14, false))
        );
        assert_eq!(open(&[mark(40, "e", "e")]), Some(("e".into(), 40, true)));
        assert_eq!(open(&[]), None);
    }

    #[test]
    fn pruning_drops_old_marks_and_closed_incidents() {
        let mut ts = Timelines::default();
        ts.entry("u").insert(mark(0, "a", "a"));
        ts.entry("u").insert(mark(50, "b", "b"));
        ts.prune(10);
        assert_eq!(ts.get("u").map(|t| t.marks().len()), Some(1));
        ts.prune(60);
        assert!(ts.get("u").is_none());
    }
}
