//! Shadow mode: a candidate bundle is evaluated beside the active one and never changes a
//! decision; where it would have decided differently, the report says so.

use cordon_policy::PolicyBundle;
use cordon_runtime::Invocation;
use cordon_testkit::read_guest;

use crate::support::{ALLOW_ALL, Sandbox, engine, load};

#[test]
fn a_shadow_bundle_reports_differences_without_changing_decisions() {
    let sb = Sandbox::new();
    sb.write("data/a.txt", "a");
    let candidate =
        r#"@id("only-reports") permit(principal, action, resource in Cordon::Dir::"/reports");"#;
    let inv = Invocation {
        bundle: PolicyBundle::from_sources([("active.cedar", ALLOW_ALL)]).unwrap(),
        shadow: Some(PolicyBundle::from_sources([("candidate.cedar", candidate)]).unwrap()),
        ..sb.invocation(ALLOW_ALL, "data/a.txt")
    };
    let r = engine().run(&load(read_guest()), inv).unwrap();
    assert_eq!(
        r.output.as_deref(),
        Some("a"),
        "the active bundle still decides"
    );
    assert_eq!(r.shadow_differences.len(), 1);
    let d = &r.shadow_differences[0];
    assert_eq!((d.active, d.shadow), ("allow", "deny"));
    assert_eq!(d.seq, r.decisions[0].seq);
    assert_eq!(d.resource, r#"Cordon::File::"/data/a.txt""#);
}
