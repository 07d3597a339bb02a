//! End-to-end tests, through the `kri` binary, of plugin trust (`kri plugin trust`,
//! `--require-trusted`: trusted, untrusted, changed and signed components) and of
//! `kri secrets rotate`, including a crash before and after its transaction.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::{Signer, SigningKey};
use kri_e2e::*;
use serde_json::Value;

fn json_of(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", stdout(out), stderr(out)))
}

/// Pairs of a name and what is said of it.
type NamedPairs = Vec<(String, String)>;

/// `kri connectors --json` under `envs`: (name -> trust status, file -> rejection).
fn connectors(env: &TestEnv, envs: &[(&str, &str)]) -> (NamedPairs, NamedPairs) {
    let out = env.kri_with_env(&["connectors", "--json"], envs);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json_of(&out);
    let loaded = v["connectors"]
        .as_array()
        .expect("connectors")
        .iter()
        .map(|c| {
            (
                c["manifest"]["name"].as_str().expect("name").to_string(),
                c["trust"]["status"].as_str().expect("trust").to_string(),
            )
        })
        .collect();
    let rejected = v["rejected"]
        .as_array()
        .expect("rejected")
        .iter()
        .map(|r| {
            let path = r["path"].as_str().expect("path");
            let file = path.rsplit('/').next().unwrap_or(path).to_string();
            (file, r["error"].as_str().expect("error").to_string())
        })
        .collect();
    (loaded, rejected)
}

const REQUIRE: &[(&str, &str)] = &[("KRI_REQUIRE_TRUSTED", "1")];

#[test]
fn plugin_trust_trusted_untrusted_changed_and_signed() {
    let env = TestEnv::new(&["plugins/okta.wasm", "test-plugins/probe.wasm"]);
    std::fs::create_dir_all(env.data_dir()).expect("data dir");
    let okta = env.plugins_dir().join("okta.wasm");
    let probe = env.plugins_dir().join("probe.wasm");

    // Without --require-trusted everything loads, marked untrusted.
    let (loaded, rejected) = connectors(&env, &[]);
    assert_eq!(
        loaded,
        vec![
            ("okta".into(), "untrusted".into()),
            ("probe".into(), "untrusted".into())
        ]
    );
    assert!(rejected.is_empty(), "{rejected:?}");

    // With it, nothing is trusted yet: both refused, each with a one-line reason.
    let (loaded, rejected) = connectors(&env, REQUIRE);
    assert!(loaded.is_empty(), "{loaded:?}");
    assert_eq!(rejected.len(), 2);
    for (file, why) in &rejected {
        assert!(
            why.starts_with("refused by --require-trusted: not trusted"),
            "{file}: {why}"
        );
        assert!(
            why.contains("kri plugin trust") && !why.contains('\n'),
            "{why}"
        );
    }

    // Trust okta: it loads, probe is still refused.
    let out = env.kri(&["plugin", "trust", okta.to_str().expect("path")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("sha256"), "{}", stdout(&out));
    let (loaded, rejected) = connectors(&env, REQUIRE);
    assert_eq!(loaded, vec![("okta".into(), "trusted".into())]);
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].0, "probe.wasm");
    // The flag works like the variable, and the table shows trust too.
    let out = env.kri(&["--require-trusted", "connectors"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("TRUST") && stdout(&out).contains("trusted"),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("probe.wasm") && stderr(&out).contains("not trusted"),
        "{}",
        stderr(&out)
    );

    // Runs refuse an untrusted connector under --require-trusted.
    let out = env.tenant_add_with_env(
        "acme",
        "probe",
        "https://acme.example.com",
        "tok-trust-123456",
        &[],
        &[REQUIRE[0]],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("unknown connector `probe`"),
        "{}",
        stderr(&out)
    );

    // A trusted file that changes on disk is refused until trusted again.
    let original = std::fs::read(&okta).expect("read okta");
    std::fs::copy(&probe, &okta).expect("swap okta for other bytes");
    let (loaded, rejected) = connectors(&env, REQUIRE);
    assert!(loaded.is_empty(), "{loaded:?}");
    let why = &rejected
        .iter()
        .find(|(f, _)| f == "okta.wasm")
        .expect("okta refused")
        .1;
    assert!(why.contains("changed since it was trusted"), "{why}");
    let (_, rejected) = connectors(&env, &[]);
    assert!(
        rejected.iter().all(|(f, _)| f != "okta.wasm"),
        "loads when not required"
    );
    std::fs::write(&okta, &original).expect("restore okta");
    let (loaded, _) = connectors(&env, REQUIRE);
    assert_eq!(loaded, vec![("okta".into(), "trusted".into())]);

    // Signed: probe with a detached signature by a configured key loads.
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    let keys_dir = env.data_dir().join("trusted-keys");
    std::fs::create_dir_all(&keys_dir).expect("keys dir");
    std::fs::write(
        keys_dir.join("release.pub"),
        format!("{}\n", STANDARD.encode(key.verifying_key().as_bytes())),
    )
    .expect("write key");
    let probe_bytes = std::fs::read(&probe).expect("probe");
    let sig_path = env.plugins_dir().join("probe.wasm.sig");
    // A signature of other bytes does not count.
    std::fs::write(
        &sig_path,
        STANDARD.encode(key.sign(b"other bytes").to_bytes()),
    )
    .expect("sig");
    let (_, rejected) = connectors(&env, REQUIRE);
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    std::fs::write(
        &sig_path,
        STANDARD.encode(key.sign(&probe_bytes).to_bytes()),
    )
    .expect("sig");
    let (loaded, rejected) = connectors(&env, REQUIRE);
    assert_eq!(
        loaded,
        vec![
            ("okta".into(), "trusted".into()),
            ("probe".into(), "signed".into())
        ]
    );
    assert!(rejected.is_empty(), "{rejected:?}");

    // Trusting something that is not a component is refused.
    let junk = env.dir.path().join("junk.wasm");
    std::fs::write(&junk, b"hello").expect("junk");
    let out = env.kri(&["plugin", "trust", junk.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("not a WebAssembly file"),
        "{}",
        stderr(&out)
    );
}

const TOKEN_A: &str = "tok-rotate-aaaa-123456";
const TOKEN_B: &str = "tok-rotate-bbbb-654321";

/// An environment with the probe connector and tenants `a` and `b`.
fn env_with_two_tenants(envs: &[(&str, &str)]) -> TestEnv {
    let env = TestEnv::new(&["test-plugins/probe.wasm"]);
    for (id, token) in [("a", TOKEN_A), ("b", TOKEN_B)] {
        let out = env.tenant_add_with_env(
            id,
            "probe",
            "https://acme.example.com",
            token,
            &["--extra", r#"{"value": 3}"#],
            envs,
        );
        assert!(out.status.success(), "{}", stderr(&out));
    }
    env
}

/// Both tenants' secrets open: a run of each succeeds.
fn assert_secrets_open(env: &TestEnv, envs: &[(&str, &str)]) {
    for id in ["a", "b"] {
        let out = env.kri_with_env(&["run-connector", "probe", "--tenant", id], envs);
        assert!(out.status.success(), "tenant {id}: {}", stderr(&out));
    }
}

fn key_file(env: &TestEnv) -> String {
    std::fs::read_to_string(env.data_dir().join("secret.key")).expect("key file")
}

fn key_ids(env: &TestEnv) -> Vec<String> {
    let db = rusqlite::Connection::open(env.data_dir().join("kri.db")).expect("db");
    let mut stmt = db
        .prepare("SELECT key_id FROM secrets ORDER BY tenant_id")
        .expect("prepare");
    let rows = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .expect("query");
    rows.collect::<Result<_, _>>().expect("rows")
}

#[test]
fn secrets_rotate_reseals_every_secret_and_survives_a_crash_halfway() {
    let env = env_with_two_tenants(&[]);
    let before = key_file(&env);
    let ids_before = key_ids(&env);

    let out = env.kri(&["secrets", "rotate", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r = json_of(&out);
    assert_eq!(r["tenants"], 2);
    assert_eq!(r["old_key_id"], ids_before[0].as_str());
    let new_id = r["new_key_id"].as_str().expect("new id").to_string();
    assert_ne!(key_file(&env), before, "the key file holds the new key");
    assert_eq!(key_ids(&env), vec![new_id.clone(), new_id.clone()]);
    assert!(!env.data_dir().join("secret.key.next").exists());
    assert_secrets_open(&env, &[]);

    // A crash before the transaction: the old key and secrets stay, the stray next
    // key is removed at the next start.
    let before = key_file(&env);
    let out = env.kri_with_env(
        &["secrets", "rotate"],
        &[("KRI_TEST_FAILPOINT", "rotate-before-commit")],
    );
    assert!(!out.status.success(), "the failpoint aborts");
    assert!(env.data_dir().join("secret.key.next").exists());
    assert_secrets_open(&env, &[]);
    assert_eq!(key_file(&env), before);
    assert_eq!(key_ids(&env), vec![new_id.clone(), new_id.clone()]);
    assert!(!env.data_dir().join("secret.key.next").exists());

    // A crash after it: the secrets are sealed with the next key, and the next
    // start makes it the key file.
    let out = env.kri_with_env(
        &["secrets", "rotate"],
        &[("KRI_TEST_FAILPOINT", "rotate-after-commit")],
    );
    assert!(!out.status.success(), "the failpoint aborts");
    let ids = key_ids(&env);
    assert_ne!(ids[0], new_id, "the transaction committed");
    assert_eq!(ids[0], ids[1], "every secret moved together");
    assert_eq!(key_file(&env), before, "the rename had not happened");
    assert_secrets_open(&env, &[]);
    assert_ne!(key_file(&env), before, "finished at the next start");
    assert!(!env.data_dir().join("secret.key.next").exists());
}

#[test]
fn secrets_rotate_with_a_key_from_the_environment() {
    let old = "11".repeat(32);
    let new = "22".repeat(32);
    let env = env_with_two_tenants(&[("KRI_ENCRYPTION_KEY", &old)]);
    // The new key must be named.
    let out = env.kri_with_env(&["secrets", "rotate"], &[("KRI_ENCRYPTION_KEY", &old)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--new-key-env"), "{}", stderr(&out));
    let out = env.kri_with_env(
        &["secrets", "rotate", "--new-key-env", "NEW_KEY"],
        &[("KRI_ENCRYPTION_KEY", &old), ("NEW_KEY", &new)],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("set KRI_ENCRYPTION_KEY"),
        "{}",
        stdout(&out)
    );
    assert_secrets_open(&env, &[("KRI_ENCRYPTION_KEY", &new)]);
    let out = env.kri_with_env(
        &["run-connector", "probe", "--tenant", "a"],
        &[("KRI_ENCRYPTION_KEY", &old)],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("was sealed with key"),
        "{}",
        stderr(&out)
    );
}
