//! The conformance suite every [`Store`] backend must pass. Each backend's tests call
//! [`run_all`] with a fresh, empty store whose run lease is [`TEST_RUN_LEASE`];
//! every check uses its own tenant ids, so the checks share one store without
//! seeing each other (the schedule checks remove their tenants when done, since a
//! claim looks at every tenant's schedules).

use std::collections::BTreeMap;
use std::time::Duration;

use super::{
    AlertStatus, EventColumns, EventFilter, JobClaim, KriDefinitionRow, KriOutput, RunCommit,
    RunStart, RunStats, StateChanges, Store, StreamPoll, Tenant,
};
use crate::error::StoreError;
use crate::model::{
    Alert, Direction, Edge, EdgeKey, EntityRef, Event, EventOutcome, GraphChanges, GraphCoverage,
    KriStatus, Node, RunKind, RunStatus, Severity,
};
use crate::query::{QueryError, QueryLimits, ReadQuery};
use crate::secrets::SealedSecret;

/// The run lease of a store under test: short, so a lease runs out within a check.
pub const TEST_RUN_LEASE: Duration = Duration::from_millis(400);

/// Runs every check against `store`, which must start empty, with a run lease of
/// [`TEST_RUN_LEASE`].
pub async fn run_all(store: &dyn Store) {
    tenants_are_added_listed_and_removed(store).await;
    secrets_round_trip_and_are_replaced(store).await;
    a_job_runs_once_at_a_time_per_tenant(store).await;
    definitions_keep_tuned_thresholds(store).await;
    runs_record_job_kind_status_and_stats(store).await;
    kri_history_shows_latest_and_change(store).await;
    state_is_set_and_deleted_per_connector(store).await;
    graph_nodes_and_edges_are_upserted(store).await;
    events_are_deduplicated_by_id(store).await;
    alerts_are_deduplicated_by_key(store).await;
    a_failed_run_changes_nothing_but_its_own_row(store).await;
    removing_a_tenant_removes_everything_kept_for_it(store).await;
    events_are_filtered_by_time_type_and_actor(store).await;
    alerts_are_filtered_and_change_status(store).await;
    access_paths_are_rebuilt_and_answer_the_seed_queries(store).await;
    queries_see_only_the_tenants_rows(store).await;
    queries_cannot_write_or_read_other_tables(store).await;
    queries_are_bounded_in_rows_and_time(store).await;
    schedules_are_ensured_and_follow_interval_changes(store).await;
    only_due_free_schedules_are_claimed_oldest_first(store).await;
    concurrent_claimers_never_claim_the_same_row(store).await;
    an_expired_lease_is_reclaimed_and_the_stale_holder_loses(store).await;
    removing_a_tenant_removes_its_schedules(store).await;
    kri_history_lists_values_newest_first(store).await;
    event_pages_walk_a_window_in_time_then_id_order(store).await;
    events_past_retention_are_pruned(store).await;
    alerts_rise_in_severity_and_keep_the_first_evidence_time(store).await;
    an_expired_run_lease_is_taken_over_and_its_commit_fenced(store).await;
    a_renewed_run_lease_keeps_the_job(store).await;
    retracted_and_uncovered_graph_rows_leave_with_their_paths(store).await;
    events_have_normalized_columns_from_the_raw_system_log_event(store).await;
    the_tenants_version_moves_with_every_tenant_change_only(store).await;
}

/// A tenant for store tests (each backend's own tests use it too).
pub(super) fn tenant(id: &str) -> Tenant {
    Tenant {
        id: id.into(),
        connector: "okta".into(),
        base_url: format!("https://{id}.okta.com"),
        kris: vec!["mfa".into()],
        extra: serde_json::json!({"cap": 10}),
        allow_insecure_local: false,
        quotas: BTreeMap::from([("http_requests".to_string(), 5)]),
        created_at_ms: 0,
        schedules: BTreeMap::new(),
    }
}

/// A sealed secret for store tests, distinct per `n`.
pub(super) fn sealed(n: u8) -> SealedSecret {
    SealedSecret {
        nonce: vec![n; 24],
        ciphertext: vec![n; 40],
        key_id: Some(format!("key{n}")),
    }
}

fn start(tenant: &str, job: &str) -> RunStart {
    RunStart {
        tenant_id: tenant.into(),
        connector: "okta".into(),
        job: job.into(),
        kind: RunKind::Run,
    }
}

fn kri(slug: &str, value: f64, status: KriStatus) -> KriOutput {
    KriOutput {
        slug: slug.into(),
        value: Some(value),
        numerator: Some(value),
        denominator: Some(100.0),
        status,
        details: serde_json::json!({"sampled": false}),
        reason: None,
    }
}

fn entity(id: &str) -> EntityRef {
    EntityRef {
        id: id.into(),
        kind: "user".into(),
        name: format!("{id}@example.com"),
    }
}

fn event(id: &str, time_ms: i64) -> Event {
    Event {
        id: id.into(),
        time_ms,
        event_type: "user.session.start".into(),
        actor: entity("u1"),
        targets: vec![entity("app1")],
        outcome: Some(EventOutcome {
            result: "SUCCESS".into(),
            reason: None,
        }),
        raw: serde_json::json!({"uuid": id}),
    }
}

fn alert(key: &str, evidence: &[&str], seen_ms: i64) -> Alert {
    Alert {
        detection: "okta.mfa_push_fatigue".into(),
        severity: Severity::High,
        title: "Push fatigue".into(),
        dedupe_key: key.into(),
        entity: entity("u1"),
        evidence: evidence.iter().map(|e| e.to_string()).collect(),
        seen_ms,
        details: serde_json::json!({"pushes": 12}),
    }
}

/// Starts a run of `job` and commits `commit` (its ids filled in).
async fn commit(store: &dyn Store, tenant: &str, job: &str, mut commit: RunCommit) -> i64 {
    let run_id = store.start_run(&start(tenant, job)).await.expect("start");
    commit.run_id = run_id;
    commit.tenant_id = tenant.into();
    commit.connector = "okta".into();
    store.commit_run(commit).await.expect("commit");
    run_id
}

/// Adds the tenant `id` ([`tenant`]) with a secret sealed by key 1.
async fn add(store: &dyn Store, id: &str) {
    store
        .add_tenant(&tenant(id), &sealed(1))
        .await
        .expect("add tenant");
}

/// Commits a run of the `logs` job that stores `events`.
async fn commit_events(store: &dyn Store, tenant: &str, events: Vec<Event>) -> i64 {
    let events = RunCommit {
        events,
        ..Default::default()
    };
    commit(store, tenant, "logs", events).await
}

/// Commits a run of the `logs` job that raises `alerts`.
async fn commit_alerts(store: &dyn Store, tenant: &str, alerts: Vec<Alert>) -> i64 {
    let alerts = RunCommit {
        alerts,
        ..Default::default()
    };
    commit(store, tenant, "logs", alerts).await
}

/// Commits a run of the `kris` job that stores `kris`.
async fn commit_kris(store: &dyn Store, tenant: &str, kris: Vec<KriOutput>) -> i64 {
    let kris = RunCommit {
        kris,
        ..Default::default()
    };
    commit(store, tenant, "kris", kris).await
}

/// Commits a run of the `inventory` job that upserts `nodes` and `edges`.
async fn commit_graph(store: &dyn Store, tenant: &str, nodes: Vec<Node>, edges: Vec<Edge>) -> i64 {
    let graph = RunCommit {
        nodes,
        edges,
        ..Default::default()
    };
    commit(store, tenant, "inventory", graph).await
}

async fn tenants_are_added_listed_and_removed(store: &dyn Store) {
    add(store, "t-b").await;
    add(store, "t-a").await;
    assert!(matches!(
        store.add_tenant(&tenant("t-a"), &sealed(1)).await,
        Err(StoreError::TenantExists(id)) if id == "t-a"
    ));
    let got = store.tenant("t-a").await.expect("tenant");
    assert_eq!(
        Tenant {
            created_at_ms: 0,
            schedules: BTreeMap::new(),
            ..got.clone()
        },
        tenant("t-a"),
        "every field reads back"
    );
    assert!(got.created_at_ms > 0, "the store stamps the creation time");
    let ids: Vec<String> = store
        .tenants()
        .await
        .expect("list")
        .into_iter()
        .map(|t| t.id)
        .filter(|id| id.starts_with("t-"))
        .collect();
    assert_eq!(ids, ["t-a", "t-b"], "listed by id");
    store
        .set_tenant_extra("t-a", &serde_json::json!({"cap": 20}))
        .await
        .expect("extra");
    assert_eq!(
        store.tenant("t-a").await.expect("tenant").extra,
        serde_json::json!({"cap": 20})
    );
    for result in [
        store.tenant("t-none").await.map(|_| ()),
        store.remove_tenant("t-none").await,
        store
            .set_tenant_extra("t-none", &serde_json::json!({}))
            .await,
    ] {
        assert!(matches!(result, Err(StoreError::UnknownTenant(_))));
    }
    store.remove_tenant("t-b").await.expect("remove");
    assert!(matches!(
        store.tenant("t-b").await,
        Err(StoreError::UnknownTenant(_))
    ));
}

async fn secrets_round_trip_and_are_replaced(store: &dyn Store) {
    add(store, "s-a").await;
    assert_eq!(
        store.secret("s-a").await.expect("secret").nonce,
        vec![1; 24]
    );
    store.set_secret("s-a", &sealed(2)).await.expect("replace");
    assert_eq!(store.secret("s-a").await.expect("secret"), sealed(2));
    let legacy = SealedSecret {
        key_id: None,
        ..sealed(3)
    };
    store
        .add_tenant(&tenant("s-b"), &legacy)
        .await
        .expect("add");
    assert_eq!(store.secret("s-b").await.expect("secret"), legacy);
    let key_ids: Vec<(String, Option<String>)> = store
        .sealed_secrets()
        .await
        .expect("sealed")
        .into_iter()
        .filter(|(t, _)| t.starts_with("s-"))
        .collect();
    assert_eq!(
        key_ids,
        [
            ("s-a".to_string(), Some("key2".to_string())),
            ("s-b".to_string(), None)
        ],
        "each secret names the key that sealed it"
    );
    assert!(matches!(
        store.set_secret("s-none", &sealed(2)).await,
        Err(StoreError::UnknownTenant(_))
    ));
    assert!(matches!(
        store.secret("s-none").await,
        Err(StoreError::UnknownTenant(_))
    ));
}

async fn a_job_runs_once_at_a_time_per_tenant(store: &dyn Store) {
    add(store, "l-a").await;
    add(store, "l-b").await;
    let first = store.start_run(&start("l-a", "kris")).await.expect("start");
    match store.start_run(&start("l-a", "kris")).await {
        Err(StoreError::RunInProgress { run_id, job, .. }) => {
            assert_eq!((run_id, job.as_str()), (first, "kris"))
        }
        other => panic!("a second run of the same job must be refused: {other:?}"),
    }
    let other_job = store
        .start_run(&start("l-a", "inventory"))
        .await
        .expect("another job of the tenant runs at the same time");
    store
        .start_run(&start("l-b", "kris"))
        .await
        .expect("another tenant runs the same job at the same time");
    store
        .start_run(&RunStart {
            kind: RunKind::Check,
            ..start("l-a", "kris")
        })
        .await
        .expect("checks take no lease");
    store
        .fail_run(first, "boom", &RunStats::default())
        .await
        .expect("fail");
    let next = commit(store, "l-a", "kris", RunCommit::default()).await;
    assert!(next > other_job, "the finished run's lease is free again");
    let runs = store.runs("l-a", 10).await.expect("runs");
    let status_of = |id: i64| runs.iter().find(|r| r.id == id).map(|r| r.status);
    assert_eq!(status_of(other_job), Some(RunStatus::Running));
}

async fn definitions_keep_tuned_thresholds(store: &dyn Store) {
    add(store, "d-a").await;
    let def = KriDefinitionRow {
        slug: "mfa".into(),
        name: "MFA coverage".into(),
        unit: "percent".into(),
        direction: Direction::HigherIsBetter,
        warn: Some(90.0),
        breach: Some(80.0),
    };
    store
        .seed_definitions("d-a", std::slice::from_ref(&def))
        .await
        .expect("seed");
    let renamed = KriDefinitionRow {
        name: "MFA enrolment".into(),
        warn: Some(1.0),
        breach: Some(0.0),
        ..def.clone()
    };
    store
        .seed_definitions("d-a", &[renamed])
        .await
        .expect("reseed");
    let got = store.definitions("d-a").await.expect("defs");
    assert_eq!(
        got,
        vec![KriDefinitionRow {
            name: "MFA enrolment".into(),
            ..def
        }],
        "names follow the manifest; stored thresholds are kept"
    );
}

async fn runs_record_job_kind_status_and_stats(store: &dyn Store) {
    add(store, "r-a").await;
    let stats = RunStats {
        requests: 7,
        responses_429: 1,
        bytes: 900,
        rows_written: 2,
        rows_skipped: 3,
        note: Some("sampled".into()),
        stream: Some(StreamPoll {
            pages: 4,
            events: 3_001,
            lag_ms: Some(-5),
        }),
    };
    let first = commit(
        store,
        "r-a",
        "inventory",
        RunCommit {
            stats: stats.clone(),
            ..Default::default()
        },
    )
    .await;
    let check = store
        .start_run(&RunStart {
            kind: RunKind::Check,
            ..start("r-a", "kris")
        })
        .await
        .expect("start");
    let runs = store.runs("r-a", 10).await.expect("runs");
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].id, check, "newest first");
    assert_eq!(
        (runs[0].kind, runs[0].status, runs[0].job.as_str()),
        (RunKind::Check, RunStatus::Running, "kris")
    );
    assert_eq!(
        (
            runs[0].stream_pages,
            runs[0].stream_events,
            runs[0].stream_lag_ms
        ),
        (None, None, None),
        "a run that polled no log has no poll figures"
    );
    let r = &runs[1];
    assert_eq!(r.id, first);
    assert_eq!(
        (r.kind, r.status, r.job.as_str(), r.connector.as_str()),
        (RunKind::Run, RunStatus::Succeeded, "inventory", "okta")
    );
    assert_eq!(
        (
            r.requests,
            r.responses_429,
            r.bytes,
            r.rows_written,
            r.rows_skipped
        ),
        (7, 1, 900, 2, 3)
    );
    assert_eq!(r.note.as_deref(), Some("sampled"));
    assert_eq!(
        (r.stream_pages, r.stream_events, r.stream_lag_ms),
        (Some(4), Some(3_001), Some(-5))
    );
    assert!(r.finished_at.is_some() && r.duration_ms.is_some());
    assert_eq!(store.runs("r-a", 1).await.expect("runs").len(), 1, "limit");
}

async fn kri_history_shows_latest_and_change(store: &dyn Store) {
    let all_kris = Tenant {
        kris: vec![],
        ..tenant("k-a")
    };
    store.add_tenant(&all_kris, &sealed(1)).await.expect("add");
    store
        .seed_definitions(
            "k-a",
            &[KriDefinitionRow {
                slug: "mfa".into(),
                name: "MFA coverage".into(),
                unit: "percent".into(),
                direction: Direction::HigherIsBetter,
                warn: Some(90.0),
                breach: Some(80.0),
            }],
        )
        .await
        .expect("seed");
    commit_kris(store, "k-a", vec![kri("mfa", 95.0, KriStatus::Ok)]).await;
    let second = commit_kris(
        store,
        "k-a",
        vec![
            kri("mfa", 85.5, KriStatus::Warn),
            KriOutput {
                value: None,
                numerator: None,
                denominator: None,
                status: KriStatus::NotEvaluated,
                reason: Some("missing okta.users.read".into()),
                ..kri("admins", 0.0, KriStatus::NotEvaluated)
            },
        ],
    )
    .await;
    let rows = store.latest_kris("k-a").await.expect("kris");
    assert_eq!(rows.len(), 2);
    let (admins, mfa) = (&rows[0], &rows[1]);
    assert_eq!(admins.slug, "admins", "by slug");
    assert_eq!(admins.status, KriStatus::NotEvaluated);
    assert_eq!(admins.reason.as_deref(), Some("missing okta.users.read"));
    assert_eq!(admins.name, "admins", "no definition: the slug names it");
    assert_eq!(mfa.run_id, second);
    assert_eq!((mfa.value, mfa.previous_value), (Some(85.5), Some(95.0)));
    assert_eq!(mfa.change, Some(-9.5));
    assert_eq!(mfa.status, KriStatus::Warn);
    assert_eq!((mfa.warn, mfa.breach), (Some(90.0), Some(80.0)));
    assert_eq!(
        (mfa.name.as_str(), mfa.unit.as_str()),
        ("MFA coverage", "percent")
    );
    assert_eq!(mfa.details, serde_json::json!({"sampled": false}));
    assert_eq!((mfa.numerator, mfa.denominator), (Some(85.5), Some(100.0)));

    // The status follows the current thresholds at once, without a new run.
    assert!(store
        .set_thresholds("k-a", "mfa", Some(90.0), Some(86.0))
        .await
        .expect("set"));
    let rows = store.latest_kris("k-a").await.expect("kris");
    assert_eq!(
        rows[1].status,
        KriStatus::Breach,
        "85.5 is under the new breach"
    );
    assert!(!store
        .set_thresholds("k-a", "nope", None, None)
        .await
        .expect("set"));

    // A KRI switched off is not shown; its history stays unless purged.
    store
        .set_tenant_kris("k-a", &["mfa".to_string()])
        .await
        .expect("select");
    let rows = store.latest_kris("k-a").await.expect("kris");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].slug, "mfa");
    store.set_tenant_kris("k-a", &[]).await.expect("select all");
    assert_eq!(store.latest_kris("k-a").await.expect("kris").len(), 2);
    let purged = store
        .purge_kri_values("k-a", &["mfa".to_string()])
        .await
        .expect("purge");
    assert_eq!(purged, 1, "the one admins value");
    assert_eq!(store.latest_kris("k-a").await.expect("kris").len(), 1);
}

async fn state_is_set_and_deleted_per_connector(store: &dyn Store) {
    add(store, "st-a").await;
    let first: StateChanges = BTreeMap::from([
        ("cursor".to_string(), Some(b"1".to_vec())),
        ("old".to_string(), Some(b"x".to_vec())),
    ]);
    let second: StateChanges = BTreeMap::from([
        ("cursor".to_string(), Some(b"2".to_vec())),
        ("old".to_string(), None),
    ]);
    for state in [first, second] {
        let changes = RunCommit {
            state,
            ..Default::default()
        };
        commit(store, "st-a", "kris", changes).await;
    }
    assert_eq!(
        store.load_state("st-a", "okta").await.expect("state"),
        BTreeMap::from([("cursor".to_string(), b"2".to_vec())])
    );
    assert!(store
        .load_state("st-a", "github")
        .await
        .expect("state")
        .is_empty());
}

async fn graph_nodes_and_edges_are_upserted(store: &dyn Store) {
    add(store, "g-a").await;
    let node = |name: &str| Node {
        id: "u1".into(),
        kind: "user".into(),
        sub_kind: "okta_user".into(),
        name: name.into(),
        labels: BTreeMap::from([("status".to_string(), "ACTIVE".to_string())]),
        properties: serde_json::json!({"mfa": true}),
    };
    let edge = |admin: bool| Edge {
        from: "u1".into(),
        to: "g1".into(),
        kind: "member_of".into(),
        properties: serde_json::json!({ "admin": admin }),
    };
    commit_graph(store, "g-a", vec![node("Ann")], vec![edge(false)]).await;
    let first = store.nodes("g-a").await.expect("nodes");
    commit_graph(store, "g-a", vec![node("Ann B.")], vec![edge(true)]).await;
    let nodes = store.nodes("g-a").await.expect("nodes");
    assert_eq!(nodes.len(), 1, "one node per id");
    assert_eq!(nodes[0].node, node("Ann B."));
    assert_eq!(nodes[0].first_seen_ms, first[0].first_seen_ms);
    assert!(nodes[0].last_seen_ms >= first[0].last_seen_ms);
    let edges = store.edges("g-a").await.expect("edges");
    assert_eq!(edges.len(), 1, "one edge per (from, to, kind)");
    assert_eq!(edges[0].edge, edge(true));
}

async fn events_are_deduplicated_by_id(store: &dyn Store) {
    add(store, "e-a").await;
    add(store, "e-b").await;
    let first = commit_events(store, "e-a", vec![event("ev1", 1_000), event("ev2", 2_000)]).await;
    // The same uuid again (an overlapping poll window) is skipped, not an error;
    // and another tenant may hold the same uuid.
    let mut changed = event("ev2", 2_000);
    changed.event_type = "changed".into();
    commit_events(store, "e-a", vec![changed, event("ev3", 3_000)]).await;
    commit_events(store, "e-b", vec![event("ev1", 1_000)]).await;
    let events = store.events("e-a", 10).await.expect("events");
    let ids: Vec<&str> = events.iter().map(|e| e.event.id.as_str()).collect();
    assert_eq!(ids, ["ev3", "ev2", "ev1"], "newest first, each once");
    assert_eq!(
        events[1].event,
        event("ev2", 2_000),
        "the first copy is kept"
    );
    assert_eq!(events[1].run_id, first);
    assert_eq!(store.events("e-a", 1).await.expect("events").len(), 1);
    assert_eq!(store.events("e-b", 10).await.expect("events").len(), 1);
}

async fn alerts_are_deduplicated_by_key(store: &dyn Store) {
    add(store, "a-a").await;
    commit_alerts(store, "a-a", vec![alert("push:u1", &["ev1", "ev2"], 2_000)]).await;
    commit_alerts(
        store,
        "a-a",
        vec![
            alert("push:u1", &["ev2", "ev3"], 3_000),
            alert("push:u2", &["ev9"], 9_000),
        ],
    )
    .await;
    let alerts = store.alerts("a-a").await.expect("alerts");
    assert_eq!(
        alerts.len(),
        2,
        "a later emission never opens a second alert"
    );
    let a = &alerts[0];
    assert_eq!(a.dedupe_key, "push:u1");
    assert_eq!(a.evidence, ["ev1", "ev2", "ev3"], "evidence is merged");
    assert_eq!((a.first_seen_ms, a.last_seen_ms), (2_000, 3_000));
    assert_eq!(a.status, AlertStatus::Open);
    assert_eq!(a.severity, Severity::High);
    assert_eq!(a.entity, entity("u1"));
    assert_eq!(a.details, serde_json::json!({"pushes": 12}));
    assert_eq!(alerts[1].dedupe_key, "push:u2");
}

async fn a_failed_run_changes_nothing_but_its_own_row(store: &dyn Store) {
    add(store, "f-a").await;
    let good = commit(
        store,
        "f-a",
        "kris",
        RunCommit {
            kris: vec![kri("mfa", 1.0, KriStatus::Ok)],
            state: BTreeMap::from([("cursor".to_string(), Some(b"1".to_vec()))]),
            events: vec![event("ev1", 1)],
            ..Default::default()
        },
    )
    .await;
    let bad = store.start_run(&start("f-a", "kris")).await.expect("start");
    let stats = RunStats {
        requests: 3,
        rows_written: 9,
        stream: Some(StreamPoll {
            pages: 2,
            events: 0,
            lag_ms: None,
        }),
        ..Default::default()
    };
    store.fail_run(bad, "boom", &stats).await.expect("fail");
    let kris = store.latest_kris("f-a").await.expect("kris");
    assert_eq!((kris.len(), kris[0].run_id), (1, good));
    assert_eq!(
        store.load_state("f-a", "okta").await.expect("state"),
        BTreeMap::from([("cursor".to_string(), b"1".to_vec())])
    );
    assert_eq!(store.events("f-a", 10).await.expect("events").len(), 1);
    let runs = store.runs("f-a", 10).await.expect("runs");
    assert_eq!(runs[0].status, RunStatus::Failed);
    assert_eq!(runs[0].error.as_deref(), Some("boom"));
    assert_eq!((runs[0].requests, runs[0].rows_written), (3, 0));
    assert_eq!(
        (
            runs[0].stream_pages,
            runs[0].stream_events,
            runs[0].stream_lag_ms
        ),
        (Some(2), Some(0), None),
        "a failed poll keeps what it read"
    );
    assert_eq!(runs[1].status, RunStatus::Succeeded);
}

async fn removing_a_tenant_removes_everything_kept_for_it(store: &dyn Store) {
    add(store, "x-a").await;
    commit(
        store,
        "x-a",
        "kris",
        RunCommit {
            kris: vec![kri("mfa", 1.0, KriStatus::Ok)],
            nodes: vec![Node {
                id: "n".into(),
                kind: "user".into(),
                sub_kind: String::new(),
                name: String::new(),
                labels: BTreeMap::new(),
                properties: serde_json::json!({}),
            }],
            events: vec![event("ev1", 1)],
            alerts: vec![alert("k", &["ev1"], 1)],
            state: BTreeMap::from([("cursor".to_string(), Some(b"1".to_vec()))]),
            ..Default::default()
        },
    )
    .await;
    store.remove_tenant("x-a").await.expect("remove");
    assert!(store.latest_kris("x-a").await.expect("kris").is_empty());
    assert!(store.runs("x-a", 10).await.expect("runs").is_empty());
    assert!(store.nodes("x-a").await.expect("nodes").is_empty());
    assert!(store.events("x-a", 10).await.expect("events").is_empty());
    assert!(store.alerts("x-a").await.expect("alerts").is_empty());
    assert!(store
        .load_state("x-a", "okta")
        .await
        .expect("state")
        .is_empty());
}

fn okta_node(id: &str, kind: &str, name: &str, org: &str) -> Node {
    Node {
        id: id.into(),
        kind: kind.into(),
        sub_kind: format!("okta_{kind}"),
        name: name.into(),
        labels: BTreeMap::from([
            ("teleport.dev/origin".to_string(), "okta".to_string()),
            ("okta/org".to_string(), org.to_string()),
        ]),
        properties: serde_json::json!({"status": "ACTIVE"}),
    }
}

async fn run_query(
    store: &dyn Store,
    tenant: &str,
    sql: &str,
    limits: QueryLimits,
) -> Result<crate::query::QueryRows, StoreError> {
    let query = ReadQuery::parse(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    store.query(tenant, &query, limits).await
}

async fn queries_see_only_the_tenants_rows(store: &dyn Store) {
    for (t, org) in [("q-a", "https://a.okta.com"), ("q-b", "https://b.okta.com")] {
        add(store, t).await;
        commit(
            store,
            t,
            "inventory",
            RunCommit {
                nodes: vec![
                    okta_node("u1", "user", &format!("ann@{t}"), org),
                    okta_node("g1", "group", "Everyone", org),
                ],
                edges: vec![Edge {
                    from: "u1".into(),
                    to: "g1".into(),
                    kind: "member_of".into(),
                    properties: serde_json::json!({}),
                }],
                events: vec![event(&format!("ev-{t}"), 1_000)],
                alerts: vec![alert(&format!("k-{t}"), &["ev-1"], 1_000)],
                ..Default::default()
            },
        )
        .await;
    }
    let limits = QueryLimits::default();
    let rows = run_query(
        store,
        "q-a",
        r#"SELECT name FROM nodes WHERE labels @> '{"teleport.dev/origin": "okta"}' ORDER BY name"#,
        limits,
    )
    .await
    .expect("query");
    assert_eq!(rows.columns, vec!["name"]);
    assert_eq!(
        rows.rows,
        vec![
            vec![serde_json::json!("Everyone")],
            vec![serde_json::json!("ann@q-a")]
        ]
    );
    assert!(!rows.truncated);
    let rows = run_query(
        store,
        "q-b",
        r#"SELECT id FROM nodes WHERE labels @> '{"okta/org": "https://a.okta.com"}'"#,
        limits,
    )
    .await
    .expect("query");
    assert!(rows.rows.is_empty(), "another tenant's org: {rows:?}");
    for (table, want) in [("edges", 1), ("events", 1), ("alerts", 1)] {
        let rows = run_query(store, "q-b", &format!("SELECT * FROM {table}"), limits)
            .await
            .expect("query");
        assert_eq!(rows.rows.len(), want, "{table}: {rows:?}");
        assert!(
            !rows.columns.iter().any(|c| c == "tenant_id"),
            "{table} shows no tenant column"
        );
    }
    let err = run_query(store, "nobody", "SELECT 1", limits).await;
    assert!(matches!(err, Err(StoreError::UnknownTenant(_))), "{err:?}");
}

async fn queries_cannot_write_or_read_other_tables(store: &dyn Store) {
    add(store, "q-c").await;
    let limits = QueryLimits::default();
    for sql in [
        "SELECT * FROM secrets",
        "SELECT * FROM tenants",
        "SELECT * FROM state",
        "SELECT * FROM main.nodes",
        "SELECT id FROM nodes WHERE id IN (SELECT tenant_id FROM runs)",
        "SELECT * FROM sqlite_master",
        "SELECT load_extension('x')",
    ] {
        let got = run_query(store, "q-c", sql, limits).await;
        assert!(
            matches!(got, Err(StoreError::Query(QueryError::Denied(_)))),
            "{sql}: {got:?}"
        );
    }
}

async fn queries_are_bounded_in_rows_and_time(store: &dyn Store) {
    add(store, "q-d").await;
    let small = QueryLimits {
        max_rows: 3,
        ..QueryLimits::default()
    };
    let rows = run_query(
        store,
        "q-d",
        "WITH RECURSIVE n(i) AS (VALUES (1) UNION ALL SELECT i + 1 FROM n WHERE i < 10) SELECT i FROM n",
        small,
    )
    .await
    .expect("query");
    assert_eq!(rows.rows.len(), 3);
    assert!(rows.truncated);
    let quick = QueryLimits {
        timeout: std::time::Duration::from_millis(200),
        ..QueryLimits::default()
    };
    let got = run_query(
        store,
        "q-d",
        "WITH RECURSIVE n(i) AS (VALUES (1) UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n",
        quick,
    )
    .await;
    assert!(
        matches!(got, Err(StoreError::Query(QueryError::Timeout(200)))),
        "{got:?}"
    );
}

async fn events_are_filtered_by_time_type_and_actor(store: &dyn Store) {
    add(store, "evf-a").await;
    add(store, "evf-b").await;
    let mut grant = event("e3", 3_000);
    grant.event_type = "user.account.privilege.grant".into();
    grant.actor = entity("admin1");
    commit_events(
        store,
        "evf-a",
        vec![event("e1", 1_000), event("e2", 2_000), grant],
    )
    .await;
    commit_events(store, "evf-b", vec![event("other", 2_500)]).await;
    let ids = |events: Vec<super::StoredEvent>| -> Vec<String> {
        events.into_iter().map(|e| e.event.id).collect()
    };
    let find = |filter: EventFilter, limit: usize| async move {
        ids(store
            .find_events("evf-a", &filter, limit)
            .await
            .expect("events"))
    };
    assert_eq!(find(EventFilter::default(), 10).await, ["e3", "e2", "e1"]);
    assert_eq!(find(EventFilter::default(), 2).await, ["e3", "e2"]);
    let since = EventFilter {
        since_ms: Some(2_000),
        ..Default::default()
    };
    assert_eq!(find(since, 10).await, ["e3", "e2"]);
    let by_type = EventFilter {
        event_type: Some("user.session.start".into()),
        ..Default::default()
    };
    assert_eq!(find(by_type, 10).await, ["e2", "e1"]);
    for actor in ["admin1", "admin1@example.com"] {
        let by_actor = EventFilter {
            actor: Some(actor.into()),
            ..Default::default()
        };
        assert_eq!(find(by_actor, 10).await, ["e3"], "actor {actor}");
    }
}

async fn alerts_are_filtered_and_change_status(store: &dyn Store) {
    add(store, "als-a").await;
    let mut critical = alert("k2", &["e9"], 2_000);
    critical.severity = Severity::Critical;
    commit_alerts(store, "als-a", vec![alert("k1", &["e1"], 1_000), critical]).await;
    let all = store
        .find_alerts("als-a", None, None)
        .await
        .expect("alerts");
    assert_eq!(all.len(), 2);
    let high = store
        .find_alerts("als-a", None, Some(Severity::High))
        .await
        .expect("alerts");
    assert_eq!(high.len(), 1);
    assert_eq!(high[0].dedupe_key, "k1");
    let acked = store
        .set_alert_status(high[0].id, AlertStatus::Acknowledged)
        .await
        .expect("ack");
    assert_eq!(acked.status, AlertStatus::Acknowledged);
    assert_eq!(acked.evidence, ["e1"]);
    let open = store
        .find_alerts("als-a", Some(AlertStatus::Open), None)
        .await
        .expect("alerts");
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].dedupe_key, "k2");
    // A later emission of the same incident keeps the operator's status.
    commit_alerts(store, "als-a", vec![alert("k1", &["e5"], 5_000)]).await;
    let acked = store
        .find_alerts("als-a", Some(AlertStatus::Acknowledged), None)
        .await
        .expect("alerts");
    assert_eq!(acked.len(), 1);
    assert_eq!(acked[0].evidence, ["e1", "e5"]);
    let resolved = store
        .set_alert_status(acked[0].id, AlertStatus::Resolved)
        .await
        .expect("resolve");
    assert_eq!(resolved.status, AlertStatus::Resolved);
    let missing = store.set_alert_status(999_999, AlertStatus::Resolved).await;
    assert!(
        matches!(missing, Err(StoreError::UnknownAlert(999_999))),
        "{missing:?}"
    );
}

async fn access_paths_are_rebuilt_and_answer_the_seed_queries(store: &dyn Store) {
    add(store, "acp-a").await;
    let (nodes, edges) = crate::graph::small_graph();
    commit_graph(store, "acp-a", nodes, edges).await;
    assert_eq!(
        store.rebuild_access_paths("acp-a").await.expect("rebuild"),
        6
    );
    // Rebuilding replaces the rows, never adds to them.
    assert_eq!(
        store.rebuild_access_paths("acp-a").await.expect("rebuild"),
        6
    );
    let limits = QueryLimits::default();
    let column = |sql: &str, name: &'static str| {
        let sql = sql.to_string();
        async move {
            let rows = run_query(store, "acp-a", &sql, limits)
                .await
                .expect("query");
            let at = rows.columns.iter().position(|c| c == name).expect("column");
            let mut out: Vec<String> = rows
                .rows
                .iter()
                .map(|r| match &r[at] {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            out.sort();
            out
        }
    };
    let origin = r#"resource_labels @> '{"teleport.dev/origin": "okta"}'"#;
    assert_eq!(
        column(
            "SELECT * FROM access_path WHERE identity = 'ann@acme.com' AND kind = 'ALLOWED'",
            "resource"
        )
        .await,
        ["Engineering", "Sales", "Salesforce", "Slack"]
    );
    assert_eq!(
        column(
            &format!("SELECT * FROM access_path WHERE resource = 'Salesforce' AND {origin}"),
            "identity"
        )
        .await,
        ["ann@acme.com"]
    );
    assert_eq!(
        column(
            &format!("SELECT * FROM access_path WHERE resource = 'Engineering' AND {origin}"),
            "path"
        )
        .await,
        [r#"["u-ann","g-eng"]"#]
    );
    assert_eq!(
        column(
            &format!("SELECT * FROM access_path WHERE standing_privileges >= 1 AND {origin}"),
            "identity"
        )
        .await
        .len(),
        6
    );
    assert_eq!(
        column(
            "SELECT identity FROM access_path WHERE resource_group = 'org'",
            "identity"
        )
        .await,
        ["bob@acme.com", "ci-token"]
    );
    assert_eq!(
        column(
            r#"SELECT * FROM nodes WHERE labels @> '{"teleport.dev/origin": "okta"}'"#,
            "id"
        )
        .await
        .len(),
        11
    );
    store.remove_tenant("acp-a").await.expect("remove");
    add(store, "acp-a").await;
    assert!(column("SELECT * FROM access_path", "identity")
        .await
        .is_empty());
}

/// The schedules of the tenants whose ids start with `prefix`.
async fn schedules_of(store: &dyn Store, prefix: &str) -> Vec<super::JobSchedule> {
    let all = store.schedules().await.expect("schedules");
    all.into_iter()
        .filter(|s| s.tenant_id.starts_with(prefix))
        .collect()
}

/// Ensures `tenant`'s schedule of `job` ([`Store::ensure_schedule`]).
async fn ensure(store: &dyn Store, tenant: &str, job: &str, interval_ms: i64, first_due_ms: i64) {
    store
        .ensure_schedule(tenant, job, interval_ms, first_due_ms)
        .await
        .expect("ensure schedule");
}

/// What `owner` claims at `now_ms` ([`Store::claim_due_jobs`]).
async fn claim(
    store: &dyn Store,
    owner: &str,
    now_ms: i64,
    lease_ms: i64,
    limit: usize,
) -> Vec<JobClaim> {
    store
        .claim_due_jobs(owner, now_ms, lease_ms, limit)
        .await
        .expect("claim due jobs")
}

/// Whether `owner` still held `claim` and renewed it ([`Store::renew_job_claim`]).
async fn renew(
    store: &dyn Store,
    owner: &str,
    claim: &JobClaim,
    now_ms: i64,
    lease_ms: i64,
) -> bool {
    store
        .renew_job_claim(owner, claim, now_ms, lease_ms)
        .await
        .expect("renew job claim")
}

/// Whether `owner` still held `claim` and finished it, due again at `next_due_ms`
/// ([`Store::finish_job_claim`]).
async fn finish(store: &dyn Store, owner: &str, claim: &JobClaim, next_due_ms: i64) -> bool {
    store
        .finish_job_claim(owner, claim, next_due_ms)
        .await
        .expect("finish job claim")
}

async fn schedules_are_ensured_and_follow_interval_changes(store: &dyn Store) {
    for id in ["sch-a", "sch-b"] {
        add(store, id).await;
    }
    assert!(matches!(
        store.ensure_schedule("sch-nobody", "kris", 60_000, 1_000).await,
        Err(StoreError::UnknownTenant(id)) if id == "sch-nobody"
    ));
    ensure(store, "sch-b", "logs", 60_000, 5_000).await;
    ensure(store, "sch-a", "kris", 86_400_000, 9_000).await;
    ensure(store, "sch-a", "inventory", 1_800_000, 7_000).await;
    let got = schedules_of(store, "sch-").await;
    let keys: Vec<(&str, &str, i64, i64, i64)> = got
        .iter()
        .map(|s| {
            (
                s.tenant_id.as_str(),
                s.job.as_str(),
                s.interval_ms,
                s.next_due_ms,
                s.fence,
            )
        })
        .collect();
    assert_eq!(
        keys,
        [
            ("sch-a", "inventory", 1_800_000, 7_000, 0),
            ("sch-a", "kris", 86_400_000, 9_000, 0),
            ("sch-b", "logs", 60_000, 5_000, 0),
        ],
        "ordered by tenant then job; new schedules are due at first_due_ms"
    );
    assert!(got
        .iter()
        .all(|s| s.lease_owner.is_none() && s.lease_until_ms.is_none()));
    // Same interval: the next due time stays, whatever first_due_ms says.
    ensure(store, "sch-a", "kris", 86_400_000, 1_000).await;
    // A changed interval: due at the earlier of the two times.
    ensure(store, "sch-a", "inventory", 600_000, 3_000).await;
    ensure(store, "sch-b", "logs", 30_000, 50_000).await;
    let got = schedules_of(store, "sch-").await;
    let keys: Vec<(&str, i64, i64)> = got
        .iter()
        .map(|s| (s.job.as_str(), s.interval_ms, s.next_due_ms))
        .collect();
    assert_eq!(
        keys,
        [
            ("inventory", 600_000, 3_000),
            ("kris", 86_400_000, 9_000),
            ("logs", 30_000, 5_000),
        ]
    );
    for id in ["sch-a", "sch-b"] {
        store.remove_tenant(id).await.expect("remove");
    }
}

async fn only_due_free_schedules_are_claimed_oldest_first(store: &dyn Store) {
    add(store, "clm-a").await;
    let due = |job: &'static str, at: i64| store.ensure_schedule("clm-a", job, 60_000, at);
    due("j3", 3_000).await.expect("ensure");
    due("j1", 1_000).await.expect("ensure");
    due("j2", 2_000).await.expect("ensure");
    due("later", 10_000).await.expect("ensure");
    assert!(claim(store, "h1", 500, 30_000, 10).await.is_empty());
    let claims = claim(store, "h1", 3_000, 30_000, 2).await;
    assert_eq!(
        claims,
        [
            JobClaim {
                tenant_id: "clm-a".into(),
                job: "j1".into(),
                fence: 1,
                due_ms: 1_000
            },
            JobClaim {
                tenant_id: "clm-a".into(),
                job: "j2".into(),
                fence: 1,
                due_ms: 2_000
            },
        ],
        "oldest due first, at most `limit`"
    );
    let held = schedules_of(store, "clm-").await;
    let j1 = held.iter().find(|s| s.job == "j1").expect("j1");
    assert_eq!(j1.lease_owner.as_deref(), Some("h1"));
    assert_eq!(j1.lease_until_ms, Some(33_000));
    // Held rows are not claimed again; j3 is due and free, `later` is not due.
    let more = claim(store, "h2", 3_000, 30_000, 10).await;
    assert_eq!(
        more.iter().map(|c| c.job.as_str()).collect::<Vec<_>>(),
        ["j3"]
    );
    // Renewing extends the lease; finishing frees it and sets the next due time.
    assert!(renew(store, "h1", &claims[0], 20_000, 30_000).await);
    let j1 = schedules_of(store, "clm-")
        .await
        .into_iter()
        .find(|s| s.job == "j1")
        .expect("j1");
    assert_eq!(j1.lease_until_ms, Some(50_000));
    assert!(finish(store, "h1", &claims[0], 61_000).await);
    let j1 = schedules_of(store, "clm-")
        .await
        .into_iter()
        .find(|s| s.job == "j1")
        .expect("j1");
    assert_eq!(
        (j1.lease_owner, j1.lease_until_ms, j1.next_due_ms, j1.fence),
        (None, None, 61_000, 1)
    );
    // Another owner cannot finish a claim it does not hold.
    assert!(!finish(store, "h2", &claims[1], 99_000).await);
    assert!(!renew(store, "h2", &claims[1], 4_000, 30_000).await);
    assert!(finish(store, "h1", &claims[1], 62_000).await);
    assert!(finish(store, "h2", &more[0], 63_000).await);
    assert!(claim(store, "h1", 9_999, 30_000, 10).await.is_empty());
    store.remove_tenant("clm-a").await.expect("remove");
}

async fn concurrent_claimers_never_claim_the_same_row(store: &dyn Store) {
    add(store, "cc-a").await;
    for i in 0..40 {
        store
            .ensure_schedule("cc-a", &format!("job{i:02}"), 60_000, 1_000 + i)
            .await
            .expect("ensure");
    }
    let claimer = |owner: &'static str| async move {
        let mut got = Vec::new();
        for _ in 0..10 {
            got.extend(claim(store, owner, 5_000, 30_000, 3).await);
        }
        got
    };
    let (a, b, c) = futures::join!(claimer("h1"), claimer("h2"), claimer("h3"));
    let mut jobs: Vec<String> = a
        .iter()
        .chain(&b)
        .chain(&c)
        .map(|c| c.job.clone())
        .collect();
    assert_eq!(jobs.len(), 40, "every due row is claimed");
    jobs.sort();
    jobs.dedup();
    assert_eq!(jobs.len(), 40, "no row is claimed twice");
    store.remove_tenant("cc-a").await.expect("remove");
}

async fn an_expired_lease_is_reclaimed_and_the_stale_holder_loses(store: &dyn Store) {
    add(store, "exp-a").await;
    ensure(store, "exp-a", "logs", 60_000, 1_000).await;
    let first = claim(store, "h1", 1_000, 10_000, 5).await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].fence, 1);
    // Still leased at 10_999: nobody else gets it.
    assert!(claim(store, "h2", 10_999, 10_000, 5).await.is_empty());
    // Expired at 11_000: h2 takes it over with the next fence.
    let second = claim(store, "h2", 11_000, 10_000, 5).await;
    assert_eq!(
        second,
        [JobClaim {
            tenant_id: "exp-a".into(),
            job: "logs".into(),
            fence: 2,
            due_ms: 1_000
        }]
    );
    // The stale holder can neither renew nor finish.
    assert!(!renew(store, "h1", &first[0], 11_500, 10_000).await);
    assert!(!finish(store, "h1", &first[0], 70_000).await);
    let row = schedules_of(store, "exp-").await.remove(0);
    assert_eq!(
        (row.lease_owner.as_deref(), row.lease_until_ms, row.fence),
        (Some("h2"), Some(21_000), 2)
    );
    // The same owner with an old fence has lost it too.
    let old_fence = JobClaim {
        fence: 1,
        ..second[0].clone()
    };
    assert!(!finish(store, "h2", &old_fence, 71_000).await);
    assert!(finish(store, "h2", &second[0], 71_000).await);
    store.remove_tenant("exp-a").await.expect("remove");
}

async fn removing_a_tenant_removes_its_schedules(store: &dyn Store) {
    add(store, "rms-a").await;
    ensure(store, "rms-a", "kris", 60_000, 1_000).await;
    let claim = claim(store, "h1", 1_000, 10_000, 5).await;
    assert_eq!(claim.len(), 1);
    store.remove_tenant("rms-a").await.expect("remove");
    assert!(schedules_of(store, "rms-").await.is_empty());
    assert!(!renew(store, "h1", &claim[0], 2_000, 10_000).await);
    assert!(!finish(store, "h1", &claim[0], 61_000).await);
    // Added again, the tenant starts with no schedules and a fresh fence.
    add(store, "rms-a").await;
    assert!(schedules_of(store, "rms-").await.is_empty());
    ensure(store, "rms-a", "kris", 60_000, 1_000).await;
    assert_eq!(schedules_of(store, "rms-").await[0].fence, 0);
    store.remove_tenant("rms-a").await.expect("remove");
}

async fn kri_history_lists_values_newest_first(store: &dyn Store) {
    add(store, "kh-a").await;
    add(store, "kh-b").await;
    let mut runs = Vec::new();
    for (mfa, admins) in [(90.0, 3.0), (80.0, 4.0), (70.0, 5.0)] {
        let kris = vec![
            kri("mfa", mfa, KriStatus::Ok),
            kri("admins", admins, KriStatus::Warn),
        ];
        runs.push(
            commit(
                store,
                "kh-a",
                "kris",
                RunCommit {
                    kris,
                    ..Default::default()
                },
            )
            .await,
        );
    }
    let other = vec![kri("mfa", 1.0, KriStatus::Ok)];
    commit_kris(store, "kh-b", other).await;
    let mfa = store
        .kri_history("kh-a", Some("mfa"), 10)
        .await
        .expect("history");
    let got: Vec<(Option<f64>, i64)> = mfa.iter().map(|p| (p.value, p.run_id)).collect();
    assert_eq!(
        got,
        [
            (Some(70.0), runs[2]),
            (Some(80.0), runs[1]),
            (Some(90.0), runs[0])
        ]
    );
    assert!(mfa
        .iter()
        .all(|p| p.slug == "mfa" && p.status == KriStatus::Ok && p.computed_at_ms > 0));
    let all = store.kri_history("kh-a", None, 3).await.expect("history");
    let got: Vec<(&str, i64)> = all.iter().map(|p| (p.slug.as_str(), p.run_id)).collect();
    assert_eq!(
        got,
        [("admins", runs[2]), ("mfa", runs[2]), ("admins", runs[1])]
    );
    assert!(store
        .kri_history("kh-a", Some("nope"), 10)
        .await
        .expect("history")
        .is_empty());
    for id in ["kh-a", "kh-b"] {
        store.remove_tenant(id).await.expect("remove");
    }
}

async fn alerts_rise_in_severity_and_keep_the_first_evidence_time(store: &dyn Store) {
    add(store, "sev-a").await;
    let mut first = alert("push:u1", &["ev1", "ev5"], 5_000);
    first.details = serde_json::json!({"first_seen_ms": 1_000, "pushes": 5});
    commit_alerts(store, "sev-a", vec![first]).await;
    let mut worse = alert("push:u1", &["ev6"], 6_000);
    worse.severity = Severity::Critical;
    worse.title = "Push fatigue, then a sign-in".into();
    worse.details = serde_json::json!({"first_seen_ms": 1_000, "pushes": 6});
    commit_alerts(store, "sev-a", vec![worse]).await;
    // A lower severity later changes nothing but the evidence and last-seen time.
    commit_alerts(store, "sev-a", vec![alert("push:u1", &["ev7"], 7_000)]).await;
    let alerts = store.alerts("sev-a").await.expect("alerts");
    assert_eq!(alerts.len(), 1);
    let a = &alerts[0];
    assert_eq!(a.severity, Severity::Critical, "the severity rose");
    assert_eq!(a.title, "Push fatigue, then a sign-in");
    assert_eq!(a.details["pushes"], 6);
    assert_eq!((a.first_seen_ms, a.last_seen_ms), (1_000, 7_000));
    assert_eq!(a.evidence, ["ev1", "ev5", "ev6", "ev7"]);
}

async fn events_past_retention_are_pruned(store: &dyn Store) {
    for t in ["ret-a", "ret-b"] {
        add(store, t).await;
        commit(
            store,
            t,
            "logs",
            RunCommit {
                events: vec![
                    event("old", 1_000),
                    event("edge", 2_000),
                    event("new", 3_000),
                ],
                ..Default::default()
            },
        )
        .await;
    }
    assert_eq!(store.prune_events("ret-a", 2_000).await.expect("prune"), 1);
    let ids: Vec<String> = store
        .events("ret-a", 10)
        .await
        .expect("events")
        .into_iter()
        .map(|e| e.event.id)
        .collect();
    assert_eq!(ids, ["new", "edge"], "published before the cutoff goes");
    assert_eq!(store.events("ret-b", 10).await.expect("events").len(), 3);
    assert_eq!(store.prune_events("ret-a", 2_000).await.expect("prune"), 0);
}

async fn event_pages_walk_a_window_in_time_then_id_order(store: &dyn Store) {
    for id in ["evp-a", "evp-b"] {
        add(store, id).await;
    }
    // Ties on time (b, a, c at 2000) come back by id; 1000 is on the window's open
    // start, 5000 past its end; another tenant's event at 2000 is never seen.
    let events = [
        ("x", 1_000),
        ("b", 2_000),
        ("a", 2_000),
        ("c", 2_000),
        ("d", 3_000),
        ("e", 4_000),
        ("z", 5_000),
    ];
    commit_events(
        store,
        "evp-a",
        events.iter().map(|(id, t)| event(id, *t)).collect(),
    )
    .await;
    commit_events(store, "evp-b", vec![event("aa", 2_000)]).await;
    for limit in [1usize, 2, 3, 10] {
        let mut seen = Vec::new();
        let mut from: Option<(i64, String)> = None;
        loop {
            let page = store
                .event_page("evp-a", 1_000, 4_000, from.clone(), limit)
                .await
                .expect("page");
            assert!(page.len() <= limit);
            let Some(last) = page.last() else { break };
            from = Some((last.time_ms, last.id.clone()));
            let full = page.len() == limit;
            seen.extend(page.into_iter().map(|e| e.id));
            if !full {
                break;
            }
        }
        assert_eq!(seen, ["a", "b", "c", "d", "e"], "limit {limit}");
    }
    let first = store
        .event_page("evp-a", 0, 1_000, None, 10)
        .await
        .expect("page");
    assert_eq!(first.len(), 1);
    assert_eq!(
        first[0].raw, r#"{"uuid":"x"}"#,
        "raw JSON comes back as stored text"
    );
    assert_eq!(first[0].actor, entity("u1"));
}

async fn an_expired_run_lease_is_taken_over_and_its_commit_fenced(store: &dyn Store) {
    add(store, "rl-a").await;
    let stalled = store
        .start_run(&start("rl-a", "kris"))
        .await
        .expect("start");
    tokio::time::sleep(TEST_RUN_LEASE + Duration::from_millis(200)).await;
    let taker = store
        .start_run(&start("rl-a", "kris"))
        .await
        .expect("a lease whose heartbeat stopped is taken over");
    assert!(
        !store.renew_run_lease(stalled).await.expect("renew"),
        "the stalled holder learns it lost the lease"
    );
    let fenced = store
        .commit_run(RunCommit {
            run_id: stalled,
            tenant_id: "rl-a".into(),
            connector: "okta".into(),
            kris: vec![kri("mfa", 1.0, KriStatus::Ok)],
            state: StateChanges::from([("cursor".to_string(), Some(b"stale".to_vec()))]),
            ..Default::default()
        })
        .await;
    assert!(
        matches!(fenced, Err(StoreError::LeaseLost { run_id }) if run_id == stalled),
        "{fenced:?}"
    );
    assert!(store.latest_kris("rl-a").await.expect("kris").is_empty());
    assert!(store
        .load_state("rl-a", "okta")
        .await
        .expect("state")
        .is_empty());
    let runs = store.runs("rl-a", 10).await.expect("runs");
    let stalled_row = runs.iter().find(|r| r.id == stalled).expect("stalled run");
    assert_eq!(stalled_row.status, RunStatus::Interrupted);
    assert!(
        stalled_row
            .error
            .as_deref()
            .is_some_and(|e| e.contains("lost its lease")),
        "the refusal is recorded: {:?}",
        stalled_row.error
    );
    store
        .commit_run(RunCommit {
            run_id: taker,
            tenant_id: "rl-a".into(),
            connector: "okta".into(),
            kris: vec![kri("mfa", 2.0, KriStatus::Ok)],
            ..Default::default()
        })
        .await
        .expect("the taker commits");
    let kris = store.latest_kris("rl-a").await.expect("kris");
    assert_eq!(kris[0].value, Some(2.0));
}

async fn a_renewed_run_lease_keeps_the_job(store: &dyn Store) {
    add(store, "rl-b").await;
    let held = store
        .start_run(&start("rl-b", "kris"))
        .await
        .expect("start");
    for _ in 0..4 {
        tokio::time::sleep(TEST_RUN_LEASE / 3).await;
        assert!(store.renew_run_lease(held).await.expect("renew"));
    }
    match store.start_run(&start("rl-b", "kris")).await {
        Err(StoreError::RunInProgress { run_id, .. }) => assert_eq!(run_id, held),
        other => panic!("a renewed lease is held past its first expiry: {other:?}"),
    }
    store
        .fail_run(held, "done", &RunStats::default())
        .await
        .expect("fail");
    assert!(
        !store.renew_run_lease(held).await.expect("renew"),
        "a finished run has no lease to renew"
    );
}

/// How many access paths of `tenant` start at `identity_id`.
async fn paths_of(store: &dyn Store, tenant: &str, identity_id: &str) -> serde_json::Value {
    let rows = run_query(
        store,
        tenant,
        &format!("SELECT count(*) AS n FROM access_path WHERE identity_id = '{identity_id}'"),
        QueryLimits::default(),
    )
    .await
    .expect("query");
    rows.objects()[0]["n"].clone()
}

async fn retracted_and_uncovered_graph_rows_leave_with_their_paths(store: &dyn Store) {
    use crate::graph::{edge_kind, node_kind, small_graph};
    add(store, "gr-a").await;
    let (nodes, edges) = small_graph();
    let first = store
        .start_run(&start("gr-a", "inventory"))
        .await
        .expect("start");
    store
        .commit_run(RunCommit {
            run_id: first,
            tenant_id: "gr-a".into(),
            connector: "okta".into(),
            nodes: nodes.clone(),
            edges: edges.clone(),
            ..Default::default()
        })
        .await
        .expect("commit");
    assert_ne!(
        paths_of(store, "gr-a", "u-ann").await,
        serde_json::json!(0),
        "a commit with a graph rebuilds the access paths"
    );
    let keep = |from: &str, to: &str| {
        edges
            .iter()
            .find(|e| e.from == from && e.to == to)
            .cloned()
            .expect("edge of the small graph")
    };
    let second = store
        .start_run(&start("gr-a", "inventory"))
        .await
        .expect("start");
    store
        .commit_run(RunCommit {
            run_id: second,
            tenant_id: "gr-a".into(),
            connector: "okta".into(),
            edges: vec![keep("r-sa", "org"), keep("g-eng", "a-sf")],
            graph: GraphChanges {
                coverage: vec![
                    GraphCoverage::NodeKind(node_kind::API_TOKEN.into()),
                    GraphCoverage::EdgeKind(edge_kind::ROLE_SCOPE.into()),
                    GraphCoverage::EdgesFrom {
                        node: "u-bob".into(),
                        kind: edge_kind::OWNS.into(),
                    },
                    GraphCoverage::EdgesTo {
                        node: "a-sf".into(),
                        kind: edge_kind::ASSIGNED_TO.into(),
                    },
                ],
                retracted: vec!["u-ann".into()],
                retracted_edges: Vec::new(),
            },
            ..Default::default()
        })
        .await
        .expect("commit");
    let node_ids: Vec<String> = store
        .nodes("gr-a")
        .await
        .expect("nodes")
        .into_iter()
        .map(|n| n.node.id)
        .collect();
    let mut want: Vec<String> = nodes
        .iter()
        .map(|n| n.id.clone())
        .filter(|id| id != "u-ann" && id != "t-ci")
        .collect();
    want.sort();
    assert_eq!(
        node_ids, want,
        "the retracted node and the uncovered token are gone"
    );
    let edge_ends: Vec<(String, String)> = store
        .edges("gr-a")
        .await
        .expect("edges")
        .into_iter()
        .map(|e| (e.edge.from, e.edge.to))
        .collect();
    let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(
        edge_ends,
        [
            pair("g-eng", "a-sf"),
            pair("g-eng", "r-ga"),
            pair("r-sa", "org"),
            pair("u-bob", "r-sa"),
            pair("u-cyd", "gone"),
        ],
        "edges of the retracted node and covered edges not emitted are gone"
    );
    assert_eq!(
        paths_of(store, "gr-a", "u-ann").await,
        serde_json::json!(0),
        "the access paths follow the graph in the same commit"
    );
    // A retracted edge leaves, unless the same run emits it again.
    let third = store
        .start_run(&start("gr-a", "inventory"))
        .await
        .expect("start");
    let edge_key = |from: &str, to: &str, kind: &str| EdgeKey {
        from: from.into(),
        to: to.into(),
        kind: kind.into(),
    };
    store
        .commit_run(RunCommit {
            run_id: third,
            tenant_id: "gr-a".into(),
            connector: "okta".into(),
            edges: vec![keep("r-sa", "org")],
            graph: GraphChanges {
                retracted_edges: vec![
                    edge_key("g-eng", "r-ga", edge_kind::HOLDS_ROLE),
                    edge_key("r-sa", "org", edge_kind::ROLE_SCOPE),
                    edge_key("g-eng", "a-sf", edge_kind::HOLDS_ROLE),
                ],
                ..Default::default()
            },
            ..Default::default()
        })
        .await
        .expect("commit");
    let edge_ends: Vec<(String, String)> = store
        .edges("gr-a")
        .await
        .expect("edges")
        .into_iter()
        .map(|e| (e.edge.from, e.edge.to))
        .collect();
    assert_eq!(
        edge_ends,
        [
            pair("g-eng", "a-sf"),
            pair("r-sa", "org"),
            pair("u-bob", "r-sa"),
            pair("u-cyd", "gone"),
        ],
        "only the retracted edge of that kind that the run did not emit again is gone"
    );
    store.remove_tenant("gr-a").await.expect("remove");
}

async fn events_have_normalized_columns_from_the_raw_system_log_event(store: &dyn Store) {
    add(store, "norm").await;
    let raw = serde_json::json!({
        "uuid": "e1", "published": "2026-11-23T02:13:20.000Z",
        "eventType": "user.session.start", "displayMessage": "User login to Okta",
        "severity": "INFO",
        "actor": {"id": "00u1", "type": "User", "alternateId": "ann@example.com"},
        "outcome": {"result": "FAILURE", "reason": "VERIFICATION_ERROR"},
        "client": {"ipAddress": "203.0.113.9", "userAgent": {"rawUserAgent": "curl/8"},
            "geographicalContext": {"city": "Berlin", "country": "Germany",
                "geolocation": {"lat": 52.5, "lon": 13.4}}},
        "securityContext": {"asNumber": 3320, "isProxy": false},
        "authenticationContext": {"externalSessionId": "102abc", "rootSessionId": "102root"},
        "debugContext": {"debugData": {"dtHash": "beef", "factor": "PASSWORD_AS_FACTOR"}},
        "target": []
    });
    let event = Event {
        id: "e1".into(),
        time_ms: 1_795_400_000_000,
        event_type: "user.session.start".into(),
        actor: EntityRef {
            id: "00u1".into(),
            kind: "User".into(),
            name: "ann@example.com".into(),
        },
        targets: vec![],
        outcome: None,
        raw,
    };
    let run_id = store
        .start_run(&start("norm", "logs"))
        .await
        .expect("start");
    store
        .commit_run(RunCommit {
            run_id,
            tenant_id: "norm".into(),
            connector: "okta".into(),
            events: vec![event],
            ..RunCommit::default()
        })
        .await
        .expect("commit");
    let q = ReadQuery::parse(
        "SELECT display_message, severity, outcome_result, outcome_reason, actor_id, \
         actor_alternate_id, actor_type, client_ip, geo_city, geo_country, geo_lat, geo_lon, \
         asn, is_proxy, external_session_id, root_session_id, user_agent, debug_data FROM events",
    )
    .expect("parse");
    let rows = store
        .query("norm", &q, QueryLimits::default())
        .await
        .expect("query");
    let row = rows.objects().into_iter().next().expect("one row");
    let want = serde_json::json!({
        "display_message": "User login to Okta", "severity": "INFO",
        "outcome_result": "FAILURE", "outcome_reason": "VERIFICATION_ERROR",
        "actor_id": "00u1", "actor_alternate_id": "ann@example.com", "actor_type": "User",
        "client_ip": "203.0.113.9", "geo_city": "Berlin", "geo_country": "Germany",
        "geo_lat": 52.5, "geo_lon": 13.4, "asn": 3320, "is_proxy": 0,
        "external_session_id": "102abc", "root_session_id": "102root",
        "user_agent": "curl/8",
        "debug_data": "{\"dtHash\":\"beef\",\"factor\":\"PASSWORD_AS_FACTOR\"}"
    });
    assert_eq!(serde_json::Value::Object(row), want);
    // Listed events carry the same columns, typed (`kri events -o json`, the API).
    let listed = store
        .find_events("norm", &EventFilter::default(), 10)
        .await
        .expect("events");
    assert_eq!(
        listed[0].columns,
        EventColumns {
            display_message: Some("User login to Okta".into()),
            severity: Some("INFO".into()),
            outcome_result: Some("FAILURE".into()),
            outcome_reason: Some("VERIFICATION_ERROR".into()),
            actor_id: Some("00u1".into()),
            actor_alternate_id: Some("ann@example.com".into()),
            actor_type: Some("User".into()),
            client_ip: Some("203.0.113.9".into()),
            geo_city: Some("Berlin".into()),
            geo_country: Some("Germany".into()),
            geo_lat: Some(52.5),
            geo_lon: Some(13.4),
            asn: Some(3320),
            is_proxy: Some(false),
            external_session_id: Some("102abc".into()),
            root_session_id: Some("102root".into()),
            user_agent: Some("curl/8".into()),
            debug_data: Some(serde_json::json!({"dtHash": "beef", "factor": "PASSWORD_AS_FACTOR"})),
        }
    );
    // A raw event without those members lists them as absent.
    let run_id = store
        .start_run(&start("norm", "logs"))
        .await
        .expect("start");
    store
        .commit_run(RunCommit {
            run_id,
            tenant_id: "norm".into(),
            connector: "okta".into(),
            events: vec![self::event("bare", 1_795_400_000_001)],
            ..RunCommit::default()
        })
        .await
        .expect("commit");
    let listed = store
        .find_events("norm", &EventFilter::default(), 1)
        .await
        .expect("events");
    assert_eq!(listed[0].event.id, "bare");
    assert_eq!(listed[0].columns, EventColumns::default());
}

/// Scheduler sync (store2): the tenants version moves when a tenant is added, any of
/// its settings changes, or it is removed; runs, schedules and claims leave it.
async fn the_tenants_version_moves_with_every_tenant_change_only(store: &dyn Store) {
    let version = || async { store.tenants_version().await.expect("version") };
    let mut seen = version().await;
    let mut moved = |now: i64, what: &str| {
        assert_ne!(now, seen, "{what} moves the tenants version");
        seen = now;
    };
    add(store, "ver-a").await;
    moved(version().await, "adding a tenant");
    let schedules = BTreeMap::from([("logs".to_string(), "PT5M".to_string())]);
    store
        .set_tenant_schedules("ver-a", &schedules)
        .await
        .expect("schedules");
    moved(version().await, "a schedule override");
    store
        .set_tenant_extra("ver-a", &serde_json::json!({"cap": 3}))
        .await
        .expect("extra");
    moved(version().await, "extra config");
    store
        .set_tenant_quotas("ver-a", &BTreeMap::new())
        .await
        .expect("quotas");
    moved(version().await, "quotas");

    let unchanged = version().await;
    store
        .ensure_schedule("ver-a", "logs", 300_000, 0)
        .await
        .expect("ensure");
    let claims = store
        .claim_due_jobs("ver-host", 1, 60_000, 10)
        .await
        .expect("claim");
    for c in &claims {
        store
            .finish_job_claim("ver-host", c, 300_000)
            .await
            .expect("finish");
    }
    commit_kris(store, "ver-a", vec![kri("mfa", 1.0, KriStatus::Ok)]).await;
    assert_eq!(
        version().await,
        unchanged,
        "schedules, claims and runs leave the tenants version"
    );

    store.remove_tenant("ver-a").await.expect("remove");
    moved(version().await, "removing a tenant");
}
