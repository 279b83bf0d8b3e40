//! Shadow mode: a candidate bundle is evaluated beside the active one and never changes a
//! decision; where it would have decided differently, the report says so.

use cordon_policy::{PolicyBundle, RunContext};
use cordon_runtime::{Invocation, RunLimits};
use cordon_testkit::read_guest;

use crate::support::{ALLOW_ALL, Sandbox, engine, load};

#[test]
fn a_shadow_bundle_reports_differences_without_changing_decisions() {
    let sb = Sandbox::new();
    sb.write("data/a.txt", "a");
    let root = cap_std::fs::Dir::open_ambient_dir(
        sb.dir.path().join("root"),
        cap_std::ambient_authority(),
    )
    .unwrap();
    let candidate =
        r#"@id("only-reports") permit(principal, action, resource in Cordon::Dir::"/reports");"#;
    let r = engine()
        .run(
            &load(read_guest()),
            Invocation {
                run_id: "shadow".into(),
                tenant: "acme".into(),
                human: None,
                context: RunContext::new("p", "e"),
                bundle: PolicyBundle::from_sources([("active.cedar", ALLOW_ALL)]).unwrap(),
                root: Some(root),
                limits: RunLimits::default(),
                log: sb.log.clone(),
                input: "data/a.txt".into(),
                egress: cordon_runtime::EgressPolicy::default(),
                taint: cordon_policy::Taint::default(),
                shadow: Some(PolicyBundle::from_sources([("candidate.cedar", candidate)]).unwrap()),
                cancel: None,
            },
        )
        .unwrap();
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
