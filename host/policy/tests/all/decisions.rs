//! Decisions: hierarchy, forbids, principals, and the policy ids that decided.

use cordon_policy::{
    Action, Human, PolicyBundle, Principal, Request, Resource, RunContext, UrlParts,
};

fn bundle(text: &str) -> PolicyBundle {
    PolicyBundle::from_sources([("t.cedar", text)]).unwrap()
}

fn ctx() -> RunContext {
    RunContext::new("support", "case-1")
}

#[test]
fn a_directory_policy_covers_files_at_any_depth_below_it() {
    let b = bundle(
        r#"@id("data") permit(principal, action == Cordon::Action::"fs:read", resource in Cordon::Dir::"/data");"#,
    );
    let s = b.session(&Principal::unattended("t", "d"), &ctx()).unwrap();
    let read = |p: &str| s.authorize(&Request::new(Action::FsRead, Resource::file(p).unwrap()));
    assert!(read("/data/a.txt").allowed);
    assert!(read("/data/x/y/z.txt").allowed);
    assert_eq!(read("/data/x/y/z.txt").policy_ids, ["data"]);
    assert!(!read("/database.txt").allowed);
    assert!(!read("/other/data/a.txt").allowed);
}

#[test]
fn a_forbid_wins_and_is_named_as_the_deciding_policy() {
    let b = bundle(
        r#"@id("all") permit(principal, action, resource);
           @id("no-env") forbid(principal, action, resource is Cordon::File) when { resource.name == ".env" };"#,
    );
    let s = b.session(&Principal::unattended("t", "d"), &ctx()).unwrap();
    let d = s.authorize(&Request::new(
        Action::FsRead,
        Resource::file("/app/.env").unwrap(),
    ));
    assert!(!d.allowed);
    assert_eq!(d.policy_ids, ["no-env"]);
}

#[test]
fn a_denial_with_no_permit_names_no_policy() {
    let b = bundle(r#"@id("x") permit(principal, action == Cordon::Action::"fs:stat", resource);"#);
    let s = b.session(&Principal::unattended("t", "d"), &ctx()).unwrap();
    let d = s.authorize(&Request::new(Action::FsRead, Resource::file("/a").unwrap()));
    assert!(!d.allowed);
    assert!(d.policy_ids.is_empty());
}

#[test]
fn action_groups_cover_their_members() {
    let b = bundle(
        r#"@id("ro") permit(principal, action in Cordon::Action::"fs:read-only", resource);"#,
    );
    let s = b.session(&Principal::unattended("t", "d"), &ctx()).unwrap();
    let file = || Resource::file("/a").unwrap();
    assert!(s.authorize(&Request::new(Action::FsRead, file())).allowed);
    assert!(s.authorize(&Request::new(Action::FsStat, file())).allowed);
    assert!(
        s.authorize(&Request::new(Action::FsList, Resource::dir("/").unwrap()))
            .allowed
    );
    assert!(!s.authorize(&Request::new(Action::FsWrite, file())).allowed);
    assert!(!s.authorize(&Request::new(Action::FsRemove, file())).allowed);
}

#[test]
fn policies_see_the_human_the_roles_the_tenant_and_the_component() {
    let b = bundle(
        r#"@id("clin") permit(principal, action, resource)
             when { principal has human && principal.human in Cordon::Role::"clinician"
                    && principal.tenant == Cordon::Tenant::"clinic" && principal.digest == "abc" };"#,
    );
    let req = Request::new(Action::FsRead, Resource::file("/chart").unwrap());
    let decide = |p: Principal| b.session(&p, &ctx()).unwrap().authorize(&req).allowed;
    assert!(decide(Principal::for_human(
        "clinic",
        "abc",
        Human::new("ann", ["clinician"])
    )));
    assert!(!decide(Principal::for_human(
        "clinic",
        "abc",
        Human::new("bob", ["billing"])
    )));
    assert!(!decide(Principal::for_human(
        "other",
        "abc",
        Human::new("ann", ["clinician"])
    )));
    assert!(!decide(Principal::for_human(
        "clinic",
        "zzz",
        Human::new("ann", ["clinician"])
    )));
    assert!(!decide(Principal::unattended("clinic", "abc")));
}

#[test]
fn policies_see_purpose_and_engagement() {
    let b = bundle(
        r#"@id("p") permit(principal, action, resource) when { context.purpose == "billing" && context.engagement like "INV-*" };"#,
    );
    let req = Request::new(Action::FsRead, Resource::file("/x").unwrap());
    let p = Principal::unattended("t", "d");
    let decide = |c: RunContext| b.session(&p, &c).unwrap().authorize(&req).allowed;
    assert!(decide(RunContext::new("billing", "INV-7")));
    assert!(!decide(RunContext::new("billing", "CASE-7")));
    assert!(!decide(RunContext::new("marketing", "INV-7")));
}

#[test]
fn http_requests_are_decided_on_host_port_and_method() {
    let b = bundle(
        r#"@id("api") permit(principal, action == Cordon::Action::"http:send", resource in Cordon::Host::"api.example.com")
             when { resource.scheme == "https" && resource.port == 443 && context.method == "GET" };"#,
    );
    let s = b.session(&Principal::unattended("t", "d"), &ctx()).unwrap();
    let send = |host: &str, port: u16, method: &str| {
        let url = UrlParts {
            scheme: "https".into(),
            host: host.into(),
            port,
            path: "/v1".into(),
        };
        let mut r = Request::new(Action::HttpSend, Resource::Url(url));
        r.method = Some(method.into());
        s.authorize(&r).allowed
    };
    assert!(send("api.example.com", 443, "GET"));
    assert!(!send("api.example.com", 443, "POST"));
    assert!(!send("api.example.com", 8443, "GET"));
    assert!(!send("evil.example.com", 443, "GET"));
}

#[test]
fn a_repeated_request_gets_the_same_decision_and_others_are_not_confused_with_it() {
    let b = bundle(
        r#"@id("read-a") permit(principal, action == Cordon::Action::"fs:read", resource == Cordon::File::"/a");"#,
    );
    let s = b.session(&Principal::unattended("t", "d"), &ctx()).unwrap();
    let read = |p: &str| s.authorize(&Request::new(Action::FsRead, Resource::file(p).unwrap()));
    for _ in 0..3 {
        assert!(read("/a").allowed);
        assert!(!read("/b").allowed);
        assert!(
            !s.authorize(&Request::new(Action::FsStat, Resource::file("/a").unwrap()))
                .allowed
        );
        assert!(
            !s.authorize(&Request::new(Action::FsList, Resource::dir("/a").unwrap()))
                .allowed
        );
    }
    assert_eq!(read("/a").policy_ids, ["read-a"]);
}

#[test]
fn a_forbid_in_a_directory_covers_the_directory_itself() {
    let b = bundle(
        r#"@id("all") permit(principal, action, resource);
           @id("no-private") forbid(principal, action, resource in Cordon::Dir::"/private");"#,
    );
    let s = b.session(&Principal::unattended("t", "d"), &ctx()).unwrap();
    let dir = |a, p: &str| s.authorize(&Request::new(a, Resource::dir(p).unwrap()));
    for a in [
        Action::FsRename,
        Action::FsStat,
        Action::FsRemove,
        Action::FsList,
    ] {
        assert_eq!(dir(a, "/private").policy_ids, ["no-private"], "{a}");
        assert!(dir(a, "/private/sub").policy_ids == ["no-private"], "{a}");
        assert!(dir(a, "/privateer").allowed, "{a}");
    }
}

#[test]
fn a_move_that_would_grant_an_action_is_an_escalation() {
    let b = bundle(
        r#"@id("all") permit(principal, action, resource);
           @id("no-private-reads") forbid(principal, action == Cordon::Action::"fs:read", resource in Cordon::Dir::"/private");
           @id("no-log-removal") forbid(principal, action == Cordon::Action::"fs:remove", resource in Cordon::Dir::"/logs");"#,
    );
    let s = b.session(&Principal::unattended("t", "d"), &ctx()).unwrap();
    let t = cordon_policy::Taint::default();
    let f = |p: &str| Resource::file(p).unwrap();
    let d = |p: &str| Resource::dir(p).unwrap();
    assert_eq!(
        s.escalation(&f("/private/a.txt"), &f("/loot/a.txt"), &t),
        Some(Action::FsRead)
    );
    assert_eq!(
        s.escalation(&f("/loot/a.txt"), &f("/private/a.txt"), &t),
        None
    );
    assert_eq!(
        s.escalation(&d("/logs/2026"), &d("/tmp/2026"), &t),
        Some(Action::FsRemove)
    );
    assert_eq!(s.escalation(&f("/a/b.txt"), &f("/c/b.txt"), &t), None);
    // Kinds that differ cannot be compared and are refused.
    assert_eq!(s.escalation(&f("/a"), &d("/b"), &t), Some(Action::FsRename));
}

#[test]
fn a_resource_over_the_path_bounds_is_refused_before_it_is_built() {
    let b = bundle(r#"@id("all") permit(principal, action, resource);"#);
    let s = b.session(&Principal::unattended("t", "d"), &ctx()).unwrap();
    let deep = format!("/{}", vec!["a"; 10_000].join("/"));
    assert!(matches!(
        Resource::file(deep.clone()),
        Err(cordon_policy::PathError::TooLong(_))
    ));
    // A request that did not go through the constructor is still refused, cheaply.
    let d = s.authorize(&Request::new(Action::FsStat, Resource::File(deep)));
    assert!(!d.allowed);
    assert!(d.errors[0].contains("path is too long"), "{:?}", d.errors);
}

#[test]
fn files_of_one_directory_are_still_told_apart_by_extension_and_directory() {
    let b = bundle(
        r#"@id("d") permit(principal, action == Cordon::Action::"fs:read", resource in Cordon::Dir::"/d");
           @id("no-keys") forbid(principal, action, resource is Cordon::File) when { resource.extension == "key" };"#,
    );
    let s = b.session(&Principal::unattended("t", "d"), &ctx()).unwrap();
    let read = |p: &str| s.authorize(&Request::new(Action::FsRead, Resource::file(p).unwrap()));
    for _ in 0..2 {
        assert_eq!(read("/d/a.txt").policy_ids, ["d"]);
        assert!(read("/d/b.txt").allowed);
        assert_eq!(read("/d/c.key").policy_ids, ["no-keys"]);
        assert!(!read("/d/c.key").allowed);
        assert!(
            read("/d/new/x.txt").allowed,
            "a directory never seen before"
        );
        assert!(
            !read("/e/a.txt").allowed,
            "same name and extension, another directory"
        );
        assert!(
            !read("/d").allowed,
            "a file named like the directory is not in it"
        );
        assert!(
            !s.authorize(&Request::new(
                Action::FsWrite,
                Resource::file("/d/a.txt").unwrap()
            ))
            .allowed
        );
    }
}

#[test]
fn a_policy_that_tells_files_apart_decides_each_file_on_its_own() {
    // Each policy allows `/d/a.txt` and denies `/d/secret.txt`, which shares its directory
    // and extension: no decision of the first may be reused for the second.
    for forbid in [
        r#"when { resource.name == "secret.txt" }"#,
        r#"when { resource["name"] like "secret*" }"#,
        r#"when { resource has path && resource.path == "/d/secret.txt" }"#,
        r#"when { resource == Cordon::File::"/d/secret.txt" }"#,
        r#"unless { !(resource in [Cordon::File::"/d/secret.txt"]) }"#,
    ] {
        let b = bundle(&format!(
            r#"@id("d") permit(principal, action == Cordon::Action::"fs:read", resource in Cordon::Dir::"/d");
               @id("no-secret") forbid(principal, action, resource is Cordon::File) {forbid};"#
        ));
        let s = b.session(&Principal::unattended("t", "d"), &ctx()).unwrap();
        let read = |p: &str| s.authorize(&Request::new(Action::FsRead, Resource::file(p).unwrap()));
        assert!(read("/d/a.txt").allowed, "{forbid}");
        assert_eq!(read("/d/secret.txt").policy_ids, ["no-secret"], "{forbid}");
        assert!(!read("/d/secret.txt").allowed, "{forbid}");
        assert!(read("/d/b.txt").allowed, "{forbid}");
    }
}

#[test]
fn a_file_past_the_path_bounds_is_refused_though_its_directory_was_allowed() {
    let b = bundle(r#"@id("all") permit(principal, action, resource);"#);
    let s = b.session(&Principal::unattended("t", "d"), &ctx()).unwrap();
    let read = |p: String| s.authorize(&Request::new(Action::FsRead, Resource::File(p)));
    assert!(read("/d/a".into()).allowed);
    let long = format!("/d/{}", "n".repeat(cordon_policy::bounds::MAX_PATH_BYTES));
    let d = read(long);
    assert!(!d.allowed);
    assert!(!d.errors.is_empty(), "{d:?}");
}
