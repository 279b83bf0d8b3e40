//! Host work is bounded before policy evaluation: a path too deep or too long, a URL or a
//! records name too long, is the guest's `invalid`, cheap, counted as a host call, never put
//! to the policy, and logged as a denial by `cordon:bounds` in a bounded form — never in full.

use cordon_audit::DecisionLog;
use cordon_policy::bounds::{MAX_PATH_BYTES, MAX_PATH_COMPONENTS, SHOWN_BYTES};
use cordon_runtime::RunStatus;
use cordon_testkit::{http_send_guest, stat_generated_path_guest as stat_generated, stat_guest};

use crate::support::{ALLOW_ALL, Sandbox, load};

/// Most bytes one refusal may add to the log's entry for it (the resource and the rest).
const BOUNDED_ENTRY_BYTES: usize = 1024;

/// The guest's error for a refused argument shows a bounded prefix and a digest; every refused
/// call is one denial of `action` by `cordon:bounds` in the report and in the log, each entry
/// bounded whatever the argument's size.
fn assert_bounded_refusal(sb: &Sandbox, r: &cordon_runtime::RunReport, action: &str, calls: u64) {
    assert_eq!(r.status, RunStatus::Error, "{r:?}");
    let e = r.error.as_ref().unwrap();
    assert_eq!(e.kind, "invalid", "{e:?}");
    assert!(e.message.contains("blake3"), "{}", e.message);
    assert!(e.message.len() < SHOWN_BYTES + 200, "{}", e.message);
    assert_eq!(r.host_calls, calls, "every refused call counts");
    assert_eq!(
        r.decisions.len() as u64,
        calls,
        "every refusal is logged: {r:?}"
    );
    for d in &r.decisions {
        assert_eq!(d.action, action);
        assert_eq!(d.decision, "deny");
        assert_eq!(d.policy_ids, ["cordon:bounds"], "not put to the policy");
        assert!(d.resource.starts_with("cordon:too-long "), "{}", d.resource);
        assert!(d.resource.contains("blake3"), "{}", d.resource);
        let logged = sb.log.store().entry_bytes(d.seq).unwrap().unwrap();
        assert!(logged.len() < BOUNDED_ENTRY_BYTES, "{} bytes", logged.len());
    }
}

#[test]
fn a_path_of_ten_thousand_components_is_invalid_before_any_decision() {
    let sb = Sandbox::new();
    let r = sb.run(&load(stat_generated("a/", 10_000, 1)), ALLOW_ALL, "");
    assert_bounded_refusal(&sb, &r, "fs:stat", 1);
    assert!(r.error.unwrap().message.starts_with("path is too long"));
}

#[test]
fn a_four_mib_name_is_invalid_and_repeating_it_stays_cheap() {
    let sb = Sandbox::new();
    let r = sb.run(&load(stat_generated("n", 4 << 20, 66)), ALLOW_ALL, "");
    assert_bounded_refusal(&sb, &r, "fs:stat", 66);
    let message = r.error.unwrap().message;
    let digest = blake3::hash("n".repeat(4 << 20).as_bytes())
        .to_hex()
        .to_string();
    assert!(message.contains(&digest), "{message}");
    // The auditor can tie the entry to the argument by its digest.
    assert!(r.decisions[0].resource.contains(&digest));
    assert_eq!(
        sb.log.head().map(|h| h.seq),
        r.decisions.last().map(|d| d.seq)
    );
}

#[test]
fn paths_at_the_bounds_are_decided_and_one_past_them_are_not() {
    let sb = Sandbox::new();
    let deepest = vec!["d"; MAX_PATH_COMPONENTS].join("/");
    let r = sb.run(&load(stat_guest()), ALLOW_ALL, &deepest);
    assert_eq!(r.error.as_ref().map(|e| e.kind), Some("not-found"), "{r:?}");
    assert_eq!(r.decisions.len(), 1);
    let r = sb.run(&load(stat_guest()), ALLOW_ALL, &format!("{deepest}/d"));
    assert_eq!(r.error.as_ref().map(|e| e.kind), Some("invalid"), "{r:?}");
    assert!(r.error.unwrap().message.contains("components"));
    assert_eq!(r.decisions[0].policy_ids, ["cordon:bounds"]);
    let longest = "l".repeat(MAX_PATH_BYTES);
    let r = sb.run(&load(stat_guest()), ALLOW_ALL, &longest);
    assert_eq!(r.decisions.len(), 1, "{r:?}");
    let r = sb.run(&load(stat_guest()), ALLOW_ALL, &format!("{longest}l"));
    assert_eq!(r.error.as_ref().map(|e| e.kind), Some("invalid"), "{r:?}");
    assert_eq!(r.decisions[0].policy_ids, ["cordon:bounds"]);
}

#[test]
fn an_over_long_url_is_invalid_before_any_decision() {
    let sb = Sandbox::new();
    let url = format!(
        "http://example.com/{}",
        "u".repeat(cordon_policy::bounds::MAX_URL_BYTES)
    );
    let r = sb.run(&load(http_send_guest("GET", None, 1)), ALLOW_ALL, &url);
    assert_bounded_refusal(&sb, &r, "http:send", 1);
}
