//! End-to-end tests of OAuth 2.0 service apps, through the `kri` binary against
//! okta-sim's authorization server: full runs with Bearer tokens (RS256 key,
//! PKCS#1) and with DPoP (ES256 key, PKCS#8; learned from the server's answers and
//! forced with `--dpop`); the access token renewed across its expiry within one
//! run; the message of each OAuth error; and a search of the data directory, the
//! logs and the outputs that finds neither the private key nor any access token.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use base64::Engine as _;
use kri_e2e::*;
use okta_sim::{OAuthApp, Org, OrgSpec, RateLimitConfig, SimConfig, SimServer};
use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::pkcs1::EncodeRsaPrivateKey;
use serde_json::Value;

const NOW: i64 = 1_795_400_000_000; // 2026-11-23T02:13:20Z
const CLIENT_ID: &str = "0oa1kriServiceApp";
/// What the kris job reads: users (with factors and app links), policies, the log.
const KRIS_SCOPES: &[&str] = &["okta.users.read", "okta.policies.read", "okta.logs.read"];
const ALL_SCOPES: &[&str] = &[
    "okta.users.read",
    "okta.policies.read",
    "okta.logs.read",
    "okta.groups.read",
    "okta.apps.read",
    "okta.roles.read",
    "okta.apiTokens.read",
];

/// A private key (PEM) and its public key (SPKI PEM).
struct KeyPair {
    private_pem: String,
    public_pem: String,
}

fn rsa_pkcs1() -> KeyPair {
    let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).expect("rsa key");
    KeyPair {
        private_pem: key.to_pkcs1_pem(LineEnding::LF).expect("pem").to_string(),
        public_pem: key
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("public pem"),
    }
}

fn ec_pkcs8() -> KeyPair {
    let key = p256::SecretKey::random(&mut rand::rngs::OsRng);
    KeyPair {
        private_pem: key.to_pkcs8_pem(LineEnding::LF).expect("pem").to_string(),
        public_pem: key
            .public_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("public pem"),
    }
}

fn app(keys: &[(&str, &KeyPair)], scopes: &[&str]) -> OAuthApp {
    OAuthApp::new(
        CLIENT_ID,
        keys.iter()
            .map(|(kid, k)| (kid.to_string(), k.public_pem.clone()))
            .collect(),
        scopes,
    )
}

async fn start_sim(users: usize, app: OAuthApp, latency_ms: u64) -> SimServer {
    let org = Org::generate(&OrgSpec {
        seed: 11,
        users,
        now_ms: NOW,
    });
    let config = SimConfig {
        rate_limits: RateLimitConfig::scaled(1_000, 1.0),
        latency_ms,
        oauth: Some(app),
        ..SimConfig::default()
    };
    SimServer::start(org, config, 0)
        .await
        .expect("start okta-sim")
}

/// Runs `kri` off the async runtime (okta-sim answers on it meanwhile).
async fn kri(env: &TestEnv, args: Vec<String>) -> Output {
    let env_args: Vec<String> = args;
    let data = env.data_dir();
    let plugins = env.plugins_dir();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(kri_bin())
            .env("KRI_DATA_DIR", data)
            .env("KRI_PLUGINS", plugins)
            .env_remove("KRI_ENCRYPTION_KEY")
            .env_remove("RUST_LOG")
            .args(&env_args)
            .output()
            .expect("run kri")
    })
    .await
    .expect("kri task")
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// Writes `key` to a file in the test's directory.
fn key_file(env: &TestEnv, name: &str, key: &KeyPair) -> PathBuf {
    let path = env.dir.path().join(name);
    std::fs::write(&path, &key.private_pem).expect("write key");
    path
}

/// `kri tenant add ID --oauth-client-id ... --private-key-file ...` plus `more`.
async fn add_oauth_tenant(
    env: &TestEnv,
    id: &str,
    sim: &SimServer,
    client_id: &str,
    key: &Path,
    more: &[&str],
) -> Output {
    let mut args = strings(&[
        "tenant",
        "add",
        id,
        "--connector",
        "okta",
        "--base-url",
        &sim.base_url(),
        "--allow-insecure-local",
        "--oauth-client-id",
        client_id,
        "--private-key-file",
        key.to_str().expect("utf-8 path"),
    ]);
    args.extend(strings(more));
    kri(env, args).await
}

async fn run_kris(env: &TestEnv, id: &str) -> Output {
    kri(
        env,
        strings(&[
            "-vv",
            "run-connector",
            "okta",
            "--tenant",
            id,
            "--job",
            "kris",
            "--now",
            &NOW.to_string(),
            "--json",
        ]),
    )
    .await
}

fn truth(sim: &SimServer) -> BTreeMap<String, Option<f64>> {
    let org = sim.org();
    let org = org.read().expect("org lock");
    org.ground_truth(NOW, None)
        .by_slug()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

fn run_values(out: &Output) -> BTreeMap<String, Option<f64>> {
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", stdout(out), stderr(out)));
    let run = if v.is_array() { v[0].clone() } else { v };
    assert_eq!(run["succeeded"], true, "{run}\n{}", stderr(out));
    run["outputs"]
        .as_array()
        .expect("outputs")
        .iter()
        .map(|o| {
            (
                o["slug"].as_str().expect("slug").to_string(),
                o["value"].as_f64(),
            )
        })
        .collect()
}

/// Every file under `dir`, read whole.
fn files_under(dir: &std::path::Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                out.push((p, bytes));
            }
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// The secrets to look for: the key's PEM lines, its DER, and every access token.
fn needles(key: &KeyPair, tokens: &[String]) -> Vec<(String, Vec<u8>)> {
    let body: String = key
        .private_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(&body)
        .expect("pem body");
    let mut out: Vec<(String, Vec<u8>)> = key
        .private_pem
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 40)
        .map(|l| {
            (
                "a line of the private key's PEM".to_string(),
                l.as_bytes().to_vec(),
            )
        })
        .collect();
    // The DER's tail holds the private material (its head is a shared prefix).
    out.push((
        "the private key's DER".into(),
        der[der.len() / 2..].to_vec(),
    ));
    for t in tokens {
        out.push(("an access token".into(), t.as_bytes().to_vec()));
    }
    out
}

fn assert_no_leak(what: &str, hay: &[u8], needles: &[(String, Vec<u8>)]) {
    for (name, n) in needles {
        assert!(!contains(hay, n), "{name} found in {what}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_runs_with_bearer_and_dpop_leak_neither_key_nor_token() {
    let env = TestEnv::new(&["plugins/okta.wasm"]);
    let rsa = rsa_pkcs1();
    let ec = ec_pkcs8();
    let rsa_file = key_file(&env, "rsa.pem", &rsa);
    let ec_file = key_file(&env, "ec.pem", &ec);

    // Bearer: an app without DPoP, an RS256 key (PKCS#1) named by its kid.
    let bearer = start_sim(80, app(&[("k-rsa", &rsa)], ALL_SCOPES), 0).await;
    let out = add_oauth_tenant(
        &env,
        "bearer",
        &bearer,
        CLIENT_ID,
        &rsa_file,
        &["--key-id", "k-rsa"],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let mut outputs = vec![out];
    let run = run_kris(&env, "bearer").await;
    assert_eq!(run_values(&run), truth(&bearer), "{}", stderr(&run));
    assert_eq!(bearer.stats().tokens_issued, 1);
    assert_eq!(bearer.stats().token_refusals, 0);
    outputs.push(run);

    // DPoP required: learned from the refusals (no proof, then no nonce).
    let mut dpop_app = app(&[("k-ec", &ec)], ALL_SCOPES);
    dpop_app.require_dpop = true;
    let dpop = start_sim(80, dpop_app.clone(), 0).await;
    let out = add_oauth_tenant(
        &env,
        "dpop",
        &dpop,
        CLIENT_ID,
        &ec_file,
        &["--key-id", "k-ec"],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    outputs.push(out);
    let run = run_kris(&env, "dpop").await;
    assert_eq!(run_values(&run), truth(&dpop), "{}", stderr(&run));
    let stats = dpop.stats();
    assert_eq!(stats.tokens_issued, 1);
    assert_eq!(
        stats.token_refusals, 2,
        "invalid_dpop_proof, then use_dpop_nonce"
    );
    assert_eq!(
        stats.unauthorized, 0,
        "every API request carried a valid proof"
    );
    outputs.push(run);

    // --dpop: the first token request already carries a proof; only the nonce is
    // learned. The app has one key, so no kid is needed.
    let forced = start_sim(80, dpop_app, 0).await;
    let out = add_oauth_tenant(&env, "forced", &forced, CLIENT_ID, &ec_file, &["--dpop"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    outputs.push(out);
    let run = run_kris(&env, "forced").await;
    assert_eq!(run_values(&run), truth(&forced), "{}", stderr(&run));
    assert_eq!(forced.stats().token_refusals, 1, "only use_dpop_nonce");
    outputs.push(run);

    // Listing and history show nothing secret either.
    for args in [
        strings(&["tenant", "list", "--json"]),
        strings(&["runs", "--tenant", "dpop", "--json"]),
        strings(&["kris", "--tenant", "bearer", "--json"]),
        strings(&["connectors", "--json"]),
    ] {
        let out = kri(&env, args).await;
        assert!(out.status.success(), "{}", stderr(&out));
        outputs.push(out);
    }
    let connectors: Value =
        serde_json::from_slice(&outputs.last().expect("out").stdout).expect("json");
    let scopes = &connectors["connectors"][0]["manifest"]["oauth"]["scopes"];
    assert_eq!(
        scopes.as_array().map(Vec::len),
        Some(ALL_SCOPES.len()),
        "{connectors}"
    );

    let mut tokens = bearer.oauth_tokens();
    tokens.extend(dpop.oauth_tokens());
    tokens.extend(forced.oauth_tokens());
    assert_eq!(tokens.len(), 3);
    for key in [&rsa, &ec] {
        let needles = needles(key, &tokens);
        for (path, bytes) in files_under(&env.data_dir()) {
            assert_no_leak(&path.display().to_string(), &bytes, &needles);
        }
        for (i, out) in outputs.iter().enumerate() {
            assert_no_leak(&format!("stdout of command {i}"), &out.stdout, &needles);
            assert_no_leak(&format!("stderr of command {i}"), &out.stderr, &needles);
        }
    }
    // The logs did say what happened (so the search looked at real logs).
    let dpop_log = stderr(&outputs[3]);
    assert!(dpop_log.contains("access token fetched"), "{dpop_log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_token_is_renewed_across_its_expiry_within_one_run() {
    let env = TestEnv::new(&["plugins/okta.wasm"]);
    let ec = ec_pkcs8();
    let file = key_file(&env, "ec.pem", &ec);
    let mut app = app(&[("k1", &ec)], KRIS_SCOPES);
    app.require_dpop = true;
    app.token_ttl_ms = 1_000;
    // Latency stretches the run over several token lifetimes.
    let sim = start_sim(300, app, 150).await;
    let scopes = KRIS_SCOPES.join(" ");
    let out = add_oauth_tenant(&env, "acme", &sim, CLIENT_ID, &file, &["--scopes", &scopes]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let started = std::time::Instant::now();
    let run = run_kris(&env, "acme").await;
    let took = started.elapsed();
    assert_eq!(run_values(&run), truth(&sim), "{}", stderr(&run));
    let stats = sim.stats();
    assert!(
        took.as_millis() > 2_500,
        "the run took {took:?}: too short to cross expiries; raise the latency"
    );
    assert!(
        stats.tokens_issued >= 3,
        "a {took:?} run with 1 s tokens got {} token(s)",
        stats.tokens_issued
    );
}

/// Adds a tenant and runs it; returns the run's stderr (the run must fail).
async fn failing_run(
    env: &TestEnv,
    id: &str,
    sim: &SimServer,
    client_id: &str,
    key: &Path,
    more: &[&str],
) -> String {
    let out = add_oauth_tenant(env, id, sim, client_id, key, more).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let run = run_kris(env, id).await;
    assert!(
        !run.status.success(),
        "{id}: the run should fail: {}",
        stdout(&run)
    );
    let text = stderr(&run);
    // The failure is recorded in the run history too.
    let runs = kri(env, strings(&["runs", "--tenant", id, "--json"])).await;
    let runs: Value = serde_json::from_slice(&runs.stdout).expect("runs json");
    assert_eq!(runs[0]["status"], "failed", "{runs}");
    assert!(
        runs[0]["error"]
            .as_str()
            .is_some_and(|e| text.contains(e.lines().next().unwrap_or("?"))),
        "{runs}\n{text}"
    );
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_oauth_error_says_what_to_fix() {
    let env = TestEnv::new(&["plugins/okta.wasm"]);
    let good = rsa_pkcs1();
    let other = ec_pkcs8();
    let good_file = key_file(&env, "good.pem", &good);
    let other_file = key_file(&env, "other.pem", &other);
    let sim = start_sim(20, app(&[("k1", &good)], KRIS_SCOPES), 0).await;
    let kris_scopes = KRIS_SCOPES.join(" ");

    // A client id the server does not know.
    let text = failing_run(
        &env,
        "wrong-id",
        &sim,
        "0oaNOPE",
        &good_file,
        &["--scopes", &kris_scopes],
    )
    .await;
    assert!(text.contains("invalid_client"), "{text}");
    assert!(
        text.contains("`0oaNOPE`") && text.contains("Client ID"),
        "{text}"
    );

    // A key id the app does not have.
    let text = failing_run(
        &env,
        "wrong-kid",
        &sim,
        CLIENT_ID,
        &good_file,
        &["--key-id", "k9", "--scopes", &kris_scopes],
    )
    .await;
    assert!(text.contains("kid is invalid"), "{text}");
    assert!(
        text.contains("Public Keys") && text.contains("`k9`"),
        "{text}"
    );

    // A key the app does not have, under a kid it does.
    let text = failing_run(
        &env,
        "wrong-key",
        &sim,
        CLIENT_ID,
        &other_file,
        &["--key-id", "k1", "--scopes", &kris_scopes],
    )
    .await;
    assert!(text.contains("signature is invalid"), "{text}");
    assert!(text.contains("Public Keys"), "{text}");

    // Scopes the app was not granted (the default asks for every job's).
    let text = failing_run(&env, "scopes", &sim, CLIENT_ID, &good_file, &[]).await;
    assert!(text.contains("invalid_scope"), "{text}");
    assert!(
        text.contains("API Scopes") && text.contains("okta.apps.read"),
        "{text}"
    );
    assert!(text.contains("--scopes"), "{text}");

    // A deactivated app.
    let mut inactive = app(&[("k1", &good)], KRIS_SCOPES);
    inactive.active = false;
    let off = start_sim(20, inactive, 0).await;
    let text = failing_run(
        &env,
        "inactive",
        &off,
        CLIENT_ID,
        &good_file,
        &["--scopes", &kris_scopes],
    )
    .await;
    assert!(
        text.contains("invalid_client") && text.contains("Active"),
        "{text}"
    );

    // `kri check` says the same, with exit 1.
    let out = kri(&env, strings(&["check", "okta", "--tenant", "scopes"])).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("invalid_scope"), "{}", stderr(&out));

    // A key file that is no key is refused when the tenant is added.
    let junk = env.dir.path().join("junk.pem");
    std::fs::write(&junk, "not a key").expect("write");
    let out = add_oauth_tenant(&env, "junk", &sim, CLIENT_ID, &junk, &[]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--private-key-file") && stderr(&out).contains("PEM"),
        "{}",
        stderr(&out)
    );
    // And OAuth options need the client id.
    let out = kri(
        &env,
        strings(&[
            "tenant",
            "add",
            "x",
            "--connector",
            "okta",
            "--base-url",
            "https://x.example.com",
            "--private-key-file",
            "k.pem",
        ]),
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
}
