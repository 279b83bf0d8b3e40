//! Host work is bounded before policy evaluation: a path too deep or too long, a URL or a
//! records name too long, is the guest's `invalid`, cheap, counted as a host call, never
//! decided, never logged in full.

use cordon_audit::DecisionLog;
use cordon_policy::bounds::{MAX_PATH_BYTES, MAX_PATH_COMPONENTS, SHOWN_BYTES};
use cordon_runtime::RunStatus;
use cordon_testkit::{http_send_guest, stat_generated_path_guest as stat_generated, stat_guest};

use crate::support::{ALLOW_ALL, Sandbox, load};

/// The guest's error for a refused argument shows a bounded prefix and a digest.
fn assert_bounded_refusal(r: &cordon_runtime::RunReport, calls: u64) {
    assert_eq!(r.status, RunStatus::Error, "{r:?}");
    let e = r.error.as_ref().unwrap();
    assert_eq!(e.kind, "invalid", "{e:?}");
    assert!(e.message.contains("blake3"), "{}", e.message);
    assert!(e.message.len() < SHOWN_BYTES + 200, "{}", e.message);
    assert!(r.decisions.is_empty(), "refused before the policy is asked");
    assert_eq!(r.host_calls, calls, "every refused call counts");
}

#[test]
fn a_path_of_ten_thousand_components_is_invalid_before_any_decision() {
    let sb = Sandbox::new();
    let r = sb.run(&load(stat_generated("a/", 10_000, 1)), ALLOW_ALL, "");
    assert_bounded_refusal(&r, 1);
    assert!(r.error.unwrap().message.starts_with("path is too long"));
    assert!(sb.log.head().is_none(), "nothing was logged as a decision");
}

#[test]
fn a_four_mib_name_is_invalid_and_repeating_it_stays_cheap() {
    let sb = Sandbox::new();
    let r = sb.run(&load(stat_generated("n", 4 << 20, 66)), ALLOW_ALL, "");
    assert_bounded_refusal(&r, 66);
    let message = r.error.unwrap().message;
    let digest = blake3::hash("n".repeat(4 << 20).as_bytes())
        .to_hex()
        .to_string();
    assert!(message.contains(&digest), "{message}");
    assert!(sb.log.head().is_none(), "nothing was logged as a decision");
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
    assert!(r.decisions.is_empty());
    let longest = "l".repeat(MAX_PATH_BYTES);
    let r = sb.run(&load(stat_guest()), ALLOW_ALL, &longest);
    assert_eq!(r.decisions.len(), 1, "{r:?}");
    let r = sb.run(&load(stat_guest()), ALLOW_ALL, &format!("{longest}l"));
    assert_eq!(r.error.as_ref().map(|e| e.kind), Some("invalid"), "{r:?}");
    assert!(r.decisions.is_empty());
}

#[test]
fn an_over_long_url_is_invalid_before_any_decision() {
    let sb = Sandbox::new();
    let url = format!(
        "http://example.com/{}",
        "u".repeat(cordon_policy::bounds::MAX_URL_BYTES)
    );
    let r = sb.run(&load(http_send_guest("GET", None, 1)), ALLOW_ALL, &url);
    assert_bounded_refusal(&r, 1);
}
