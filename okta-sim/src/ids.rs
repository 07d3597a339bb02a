//! Identifiers that look like Okta's: 20-character object ids with a type prefix
//! (`00u…` users, `0oa…` apps, `rst…` policies), version-1-style event UUIDs, session ids
//! (`idx…`, `102…`), request ids and error ids. All derived deterministically from
//! seeded random numbers or counters.

use rand::Rng;

const BASE62: &[u8; 62] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// A bijective 64-bit mixer (the splitmix64 finaliser): distinct inputs give distinct outputs.
pub fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Appends `n` base62 characters of `value` (least significant first) to `out`.
fn push_base62(out: &mut String, mut value: u64, n: usize) {
    for _ in 0..n {
        out.push(BASE62[(value % 62) as usize] as char);
        value /= 62;
    }
}

/// A random Okta object id: `prefix` + random characters + the org's 3-character cell
/// suffix, 20 characters in all (e.g. `00uqrks9ig7XuWV7X5d7`).
pub fn okta_id(rng: &mut impl Rng, prefix: &str, org_suffix: &str) -> String {
    let random_len = 20usize.saturating_sub(prefix.len() + org_suffix.len());
    let mut out = String::with_capacity(20);
    out.push_str(prefix);
    for _ in 0..random_len {
        out.push(BASE62[rng.gen_range(0..62)] as char);
    }
    out.push_str(org_suffix);
    out
}

/// The org's cell suffix, like `5d7` or `0g4`: a digit, a lower-case letter and a digit.
pub fn org_suffix(rng: &mut impl Rng) -> String {
    let letters = b"abcdefghijklmnopqrstuvwxyz";
    format!(
        "{}{}{}",
        rng.gen_range(0..10),
        letters[rng.gen_range(0..26)] as char,
        rng.gen_range(0..10)
    )
}

/// Renders a 128-bit value as a version-1-style UUID (`dc9fd3c0-598c-11ef-8478-2b7584bf8d5a`).
pub fn uuid_string(value: u128) -> String {
    // Version 1 (`-11xx-`) with the RFC 4122 variant bits (`8`-`b`) in the fourth group.
    let value = (value & !(0xC000u128 << 48)) | (0x8000u128 << 48);
    let hex = format!("{value:032x}");
    format!(
        "{}-{}-11{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[14..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// An Okta session id for a session number: `idx…` (Identity Engine) or `102…` (Classic),
/// 25 characters. Distinct numbers give distinct ids.
pub fn session_string(session: u64) -> String {
    let mut out = String::with_capacity(25);
    out.push_str(if session & 1 == 0 { "idx" } else { "102" });
    push_base62(&mut out, mix64(session), 11);
    push_base62(&mut out, mix64(session ^ 0x5555_5555_5555_5555), 11);
    out
}

/// A 32-character lower-case hex request id (the modern `x-okta-request-id` form).
pub fn hex_request_id(value: u64) -> String {
    format!(
        "{:016x}{:016x}",
        mix64(value),
        mix64(value.rotate_left(17) ^ 0xA5A5)
    )
}

/// An Okta error id: `oae` + 22 characters.
pub fn error_id(value: u64) -> String {
    let mut out = String::with_capacity(25);
    out.push_str("oae");
    push_base62(&mut out, mix64(value), 11);
    push_base62(&mut out, mix64(value ^ 0x0F0F_0F0F), 11);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn ids_have_okta_shapes() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let suffix = org_suffix(&mut rng);
        let id = okta_id(&mut rng, "00u", &suffix);
        assert_eq!(id.len(), 20);
        assert!(id.starts_with("00u") && id.ends_with(&suffix));
        assert_eq!(session_string(7).len(), 25);
        assert_ne!(session_string(7), session_string(9));
        let uuid = uuid_string(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..16], "11");
        assert!(matches!(&uuid[19..20], "8" | "9" | "a" | "b"), "{uuid}");
        assert_eq!(hex_request_id(3).len(), 32);
        assert_eq!(error_id(3).len(), 25);
    }
}
