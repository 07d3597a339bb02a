//! `okta.impossible_travel`: Okta's behaviour detection marked Velocity POSITIVE (in any
//! of the three places, as the `okta_impossible_travel_24h` KRI reads it); or, where Okta
//! says nothing, two successful sign-ins of one user at least [`MIN_DISTANCE_KM`] apart
//! at more than [`MAX_SPEED_KMH`], from their geolocation, skipping proxies and pairs
//! on the same network (ASN).

use super::geo::haversine_km;
use super::{Alert, Entity, Severity, SystemLogEvent, HOUR_MS, IMPOSSIBLE_TRAVEL};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;

pub const MIN_DISTANCE_KM: f64 = 500.0;
pub const MAX_SPEED_KMH: f64 = 1_000.0;
/// How long a sign-in is kept to compare later ones with.
pub const MEMORY_MS: i64 = 12 * HOUR_MS;
/// Most sign-ins kept per user (the newest).
pub const MAX_SIGN_INS: usize = 50;
/// Most sign-ins kept in all. Past it the users whose newest sign-in is oldest are
/// forgotten (down to [`KEPT_AFTER_EVICTION`]), so a flood of sign-ins cannot grow the
/// state without end; a forgotten user's next sign-in has nothing to be compared with.
pub const MAX_TOTAL_SIGN_INS: usize = 200_000;
/// Sign-ins kept when [`MAX_TOTAL_SIGN_INS`] is passed: evicting a tenth at a time
/// keeps the sorting that eviction needs rare.
const KEPT_AFTER_EVICTION: usize = MAX_TOTAL_SIGN_INS / 10 * 9;

/// A successful sign-in, as far as travel is concerned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SignIn {
    ms: i64,
    uuid: String,
    lat: f64,
    lon: f64,
    asn: Option<u64>,
    /// The session, else the uuid: the last part of the dedupe key.
    anchor: String,
    place: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    sign_ins: BTreeMap<String, Vec<SignIn>>,
}

fn anchor(ev: &SystemLogEvent) -> String {
    ev.session().unwrap_or(&ev.uuid).to_string()
}

fn place(ev: &SystemLogEvent) -> String {
    match (&ev.city, &ev.country) {
        (Some(c), Some(k)) => format!("{c}, {k}"),
        (Some(c), None) => c.clone(),
        (None, Some(k)) => k.clone(),
        (None, None) => ev.client_ip.clone().unwrap_or_default(),
    }
}

impl State {
    pub fn observe(&mut self, ev: &SystemLogEvent, watermark: i64) -> Vec<Alert> {
        let Some(entity) = Entity::user(&ev.actor).filter(|_| ev.actor_is_user()) else {
            return Vec::new();
        };
        let who = if entity.name.is_empty() {
            entity.id.clone()
        } else {
            entity.name.clone()
        };
        let mut out = Vec::new();
        if ev.velocity_positive {
            out.push(Alert::new(
                IMPOSSIBLE_TRAVEL,
                Severity::High,
                format!("Okta flagged impossible travel for {who} ({})", place(ev)),
                entity.clone(),
                &anchor(ev),
                &[(ev.published_ms, &ev.uuid)],
                json!({"source": "velocity", "event_type": ev.event_type, "client_ip": ev.client_ip,
                    "place": place(ev)}),
            ));
        }
        let (Some(lat), Some(lon)) = (ev.latitude, ev.longitude) else {
            return out;
        };
        if ev.event_type != "user.session.start"
            || !ev.outcome_is("SUCCESS")
            || ev.is_proxy == Some(true)
            || ev.published_ms < watermark - MEMORY_MS
        {
            return out;
        }
        let here = SignIn {
            ms: ev.published_ms,
            uuid: ev.uuid.clone(),
            lat,
            lon,
            asn: ev.asn,
            anchor: anchor(ev),
            place: place(ev),
        };
        let seen = self.sign_ins.entry(entity.id.clone()).or_default();
        if seen.iter().any(|s| s.uuid == here.uuid) {
            return out;
        }
        // The fastest pair this sign-in makes with a kept one.
        let fastest = seen
            .iter()
            .filter(|s| !(s.asn.is_some() && s.asn == here.asn))
            .filter_map(|s| {
                let km = haversine_km((s.lat, s.lon), (here.lat, here.lon));
                let hours = (s.ms - here.ms).abs() as f64 / HOUR_MS as f64;
                let kmh = if hours > 0.0 {
                    km / hours
                } else {
                    f64::INFINITY
                };
                (km >= MIN_DISTANCE_KM && kmh > MAX_SPEED_KMH).then_some((s, km, kmh))
            })
            .max_by(|a, b| a.2.total_cmp(&b.2));
        if let Some((other, km, kmh)) = fastest {
            let (from, to) = if other.ms <= here.ms {
                (other, &here)
            } else {
                (&here, other)
            };
            out.push(Alert::new(
                IMPOSSIBLE_TRAVEL,
                Severity::High,
                format!("{who} signed in from {} and {} ({:.0} km apart) too fast to travel", from.place, to.place, km),
                entity,
                &to.anchor,
                &[(from.ms, &from.uuid), (to.ms, &to.uuid)],
                json!({"source": "geolocation", "km": km.round(),
                    "km_per_hour": if kmh.is_finite() { json!(kmh.round()) } else { json!(null) },
                    "from": {"uuid": from.uuid, "place": from.place, "lat": from.lat, "lon": from.lon, "asn": from.asn},
                    "to": {"uuid": to.uuid, "place": to.place, "lat": to.lat, "lon": to.lon, "asn": to.asn}}),
            ));
        }
        let at = seen.partition_point(|s| s.ms <= here.ms);
        seen.insert(at, here);
        if seen.len() > MAX_SIGN_INS {
            seen.remove(0);
        }
        out
    }

    pub fn prune(&mut self, watermark: i64) {
        let mut total = 0;
        self.sign_ins.retain(|_, v| {
            v.retain(|s| s.ms >= watermark - MEMORY_MS);
            total += v.len();
            !v.is_empty()
        });
        if total > MAX_TOTAL_SIGN_INS {
            // Users by their newest sign-in, the oldest first; ties by user id, so every
            // replay forgets the same users.
            let mut by_activity: Vec<(i64, &String, usize)> = self
                .sign_ins
                .iter()
                .map(|(k, v)| (v.last().map_or(i64::MIN, |s| s.ms), k, v.len()))
                .collect();
            by_activity.sort_unstable();
            let mut evicted = Vec::new();
            for (_, k, n) in by_activity {
                if total <= KEPT_AFTER_EVICTION {
                    break;
                }
                total -= n;
                evicted.push(k.clone());
            }
            for k in evicted {
                self.sign_ins.remove(&k);
            }
        }
    }

    pub fn size(&self) -> usize {
        self.sign_ins.values().map(|v| v.len() + 1).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::{detect, DetectionState, MINUTE_MS};
    use super::*;
    use serde_json::{json, Value};

    const PARIS: (f64, f64) = (48.8566, 2.3522);
    const LYON: (f64, f64) = (45.764, 4.8357);
    const NEW_YORK: (f64, f64) = (40.7128, -74.006);

    fn run(events: Vec<SystemLogEvent>) -> Vec<Alert> {
        let mut state = DetectionState::default();
        detect(&mut state, &events, T0 + 24 * HOUR_MS)
    }

    #[test]
    fn past_the_most_sign_ins_the_users_signed_in_longest_ago_are_forgotten() {
        let mut state = DetectionState::default();
        let flood: Vec<SystemLogEvent> = (0..=MAX_TOTAL_SIGN_INS as i64)
            .map(|i| sign_in(&format!("f{i}"), T0 + i, &format!("00u{i}"), PARIS, 7018))
            .collect();
        let now = T0 + MINUTE_MS;
        assert!(detect(&mut state, &flood, now).is_empty());
        assert_eq!(state.travel.size(), KEPT_AFTER_EVICTION * 2);
        assert!(!state.travel.sign_ins.contains_key("00u0"));
        // The newest user is still known: a sign-in from New York next is caught.
        let newest = format!("00u{MAX_TOTAL_SIGN_INS}");
        let far = [sign_in("ny", now, &newest, NEW_YORK, 3320)];
        assert_eq!(ids(&detect(&mut state, &far, now)), vec![IMPOSSIBLE_TRAVEL]);
    }

    fn with_behaviors(uuid: &str, debug: Value, security: Value) -> SystemLogEvent {
        action(
            uuid,
            T0,
            "policy.evaluate_sign_on",
            "00u1",
            json!({"debugContext": {"debugData": debug}, "securityContext": security}),
        )
    }

    #[test]
    fn velocity_in_each_of_its_three_encodings() {
        let cases = [
            (
                json!({"behaviors": "{New Geo-Location=NEGATIVE, Velocity=POSITIVE}"}),
                Value::Null,
                true,
            ),
            (
                json!({"logOnlySecurityData": "{\"behaviors\":{\"Velocity\":\"POSITIVE\"}}"}),
                Value::Null,
                true,
            ),
            (json!({}), json!({"userBehaviors": ["Velocity"]}), true),
            (
                json!({"behaviors": "{Velocity=NEGATIVE, New IP=POSITIVE}"}),
                Value::Null,
                false,
            ),
            (
                json!({"behaviors": "{High Velocity=POSITIVE}"}),
                Value::Null,
                false,
            ),
        ];
        for (i, (debug, security, want)) in cases.into_iter().enumerate() {
            let alerts = run(vec![with_behaviors(&format!("v{i}"), debug, security)]);
            assert_eq!(!alerts.is_empty(), want, "case {i}");
        }
    }

    #[test]
    fn two_sign_ins_too_far_apart_too_fast() {
        let alerts = run(vec![
            sign_in("a", T0, "00u1", PARIS, 3215),
            sign_in("b", T0 + HOUR_MS, "00u1", NEW_YORK, 7018),
        ]);
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].evidence, vec!["a".to_string(), "b".to_string()]);
        assert_eq!(
            alerts[0].dedupe_key,
            "okta.impossible_travel:user:00u1:102b"
        );
        // The same pair arriving in the other order gives the same key.
        let reversed = run(vec![
            sign_in("b", T0 + HOUR_MS, "00u1", NEW_YORK, 7018),
            sign_in("a", T0, "00u1", PARIS, 3215),
        ]);
        assert_eq!(keys(&reversed), keys(&alerts));
    }

    #[test]
    fn plausible_or_excluded_pairs_do_not_fire() {
        // Close (Paris-Lyon, 390 km in 10 min); far but slow (Paris-New York in 8 h);
        // same network; a proxy; another user; a failed sign-in.
        assert!(run(vec![
            sign_in("a", T0, "00u1", PARIS, 1),
            sign_in("b", T0 + 10 * MINUTE_MS, "00u1", LYON, 2)
        ])
        .is_empty());
        assert!(run(vec![
            sign_in("a", T0, "00u1", PARIS, 1),
            sign_in("b", T0 + 8 * HOUR_MS, "00u1", NEW_YORK, 2)
        ])
        .is_empty());
        assert!(run(vec![
            sign_in("a", T0, "00u1", PARIS, 7),
            sign_in("b", T0 + HOUR_MS, "00u1", NEW_YORK, 7)
        ])
        .is_empty());
        let mut proxied = sign_in("b", T0 + HOUR_MS, "00u1", NEW_YORK, 2);
        proxied.is_proxy = Some(true);
        assert!(run(vec![sign_in("a", T0, "00u1", PARIS, 1), proxied]).is_empty());
        assert!(run(vec![
            sign_in("a", T0, "00u1", PARIS, 1),
            sign_in("b", T0 + HOUR_MS, "00u2", NEW_YORK, 2)
        ])
        .is_empty());
        let mut failed = sign_in("b", T0 + HOUR_MS, "00u1", NEW_YORK, 2);
        failed.outcome_result = Some("FAILURE".into());
        assert!(run(vec![sign_in("a", T0, "00u1", PARIS, 1), failed]).is_empty());
    }
}
