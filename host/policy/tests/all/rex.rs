//! Rex policies translated into Cordon's schema decide Rex's checks as Rex would, inside the
//! run's root, and never allow more than the original.

use cordon_policy::{
    Action, Human, PolicyBundle, Principal, Request, Resource, RexError, RunContext, UrlParts,
    check_url, is_rex_policy, translate_rex,
};

/// Rex's quick-start policy (its README), for the host directory `/tmp`.
const QUICK_START: &str = r#"
permit(principal, action in [file_system::Action::"open"], resource)
when { resource == file_system::Dir::"/tmp" || resource == file_system::Dir::"/private/tmp" };

permit(
    principal,
    action in [file_system::Action::"open", file_system::Action::"read",
               file_system::Action::"write", file_system::Action::"create"],
    resource
) when {
    resource == file_system::File::"/tmp/rex-hello-world" ||
    resource == file_system::File::"/private/tmp/rex-hello-world"
};
"#;

fn translated(rex: &str, root: &str) -> (PolicyBundle, Vec<String>) {
    let t = translate_rex(rex, root).unwrap();
    let notes = t.notes.iter().map(ToString::to_string).collect();
    let bundle = PolicyBundle::from_sources([("rex.cedar", t.text.clone())])
        .unwrap_or_else(|e| panic!("{e}\n{}", t.text));
    (bundle, notes)
}

fn allowed(bundle: &PolicyBundle, human: Option<&str>, request: Request) -> bool {
    let principal = match human {
        Some(h) => Principal::for_human("t", "d", Human::new(h, [] as [&str; 0])),
        None => Principal::unattended("t", "d"),
    };
    let session = bundle
        .session(&principal, &RunContext::new("p", "e"))
        .unwrap();
    session.authorize(&request).allowed
}

fn fs(action: Action, resource: Resource) -> Request {
    Request::new(action, resource)
}

fn file(p: &str) -> Resource {
    Resource::file(p).unwrap()
}

fn dir(p: &str) -> Resource {
    Resource::dir(p).unwrap()
}

#[test]
fn rex_quick_start_policy_allows_its_file_and_directory_inside_the_root_and_nothing_else() {
    let (b, notes) = translated(QUICK_START, "/tmp");
    // open /tmp is a stat of the run's root; the file is read and written.
    assert!(allowed(&b, None, fs(Action::FsStat, dir("/"))));
    assert!(allowed(
        &b,
        None,
        fs(Action::FsStat, file("/rex-hello-world"))
    ));
    assert!(allowed(
        &b,
        None,
        fs(Action::FsRead, file("/rex-hello-world"))
    ));
    assert!(allowed(
        &b,
        None,
        fs(Action::FsWrite, file("/rex-hello-world"))
    ));
    // Nothing the policy does not name, and no action it does not.
    assert!(!allowed(&b, None, fs(Action::FsRead, file("/other"))));
    assert!(!allowed(&b, None, fs(Action::FsList, dir("/"))));
    assert!(!allowed(
        &b,
        None,
        fs(Action::FsRemove, file("/rex-hello-world"))
    ));
    assert!(!allowed(
        &b,
        None,
        fs(Action::FsRead, file("/private/tmp/rex-hello-world"))
    ));
    // The macOS paths are outside the root, and said so.
    assert!(
        notes
            .iter()
            .any(|n| n.contains("/private/tmp") && n.contains("outside the rex root")),
        "{notes:?}"
    );
}

#[test]
fn rex_paths_map_under_the_root_and_paths_above_it_contain_the_whole_run() {
    let rex = r#"
        @id("above") permit(principal, action == file_system::Action::"read", resource in file_system::Dir::"/srv");
        @id("outside") permit(principal, action == file_system::Action::"read", resource in file_system::Dir::"/etc");
        @id("exact") permit(principal, action == file_system::Action::"write", resource == file_system::File::"/srv/app/out.txt");
    "#;
    let (b, _) = translated(rex, "/srv/app");
    assert!(allowed(
        &b,
        None,
        fs(Action::FsRead, file("/any/where.txt"))
    ));
    assert!(allowed(&b, None, fs(Action::FsWrite, file("/out.txt"))));
    assert!(!allowed(
        &b,
        None,
        fs(Action::FsWrite, file("/srv/app/out.txt"))
    ));
    // `/etc` is outside the root: its permit reaches nothing, though the run has an `/etc`.
    let (b, _) = translated(
        r#"permit(principal, action == file_system::Action::"read", resource in file_system::Dir::"/etc");"#,
        "/srv/app",
    );
    assert!(!allowed(&b, None, fs(Action::FsRead, file("/etc/passwd"))));
}

#[test]
fn a_rex_forbid_unless_inside_a_directory_outside_the_root_forbids_the_whole_run() {
    let rex = r#"
        @id("all") permit(principal, action == file_system::Action::"read", resource);
        @id("only-etc") forbid(principal, action, resource) unless { resource in file_system::Dir::"/etc" };
    "#;
    let (b, _) = translated(rex, "/srv/app");
    assert!(!allowed(&b, None, fs(Action::FsRead, file("/etc/passwd"))));
    assert!(!allowed(&b, None, fs(Action::FsRead, file("/a.txt"))));
}

#[test]
fn a_rex_user_principal_is_the_runs_verified_human() {
    let rex =
        r#"permit(principal == User::"alice", action == file_system::Action::"read", resource);"#;
    let (b, _) = translated(rex, "/");
    assert!(allowed(&b, Some("alice"), fs(Action::FsRead, file("/a"))));
    assert!(!allowed(&b, Some("bob"), fs(Action::FsRead, file("/a"))));
    assert!(!allowed(&b, None, fs(Action::FsRead, file("/a"))));
}

#[test]
fn rex_default_policy_placeholder_and_process_actions_are_reported_and_allow_nothing() {
    let rex = r#"
        permit(principal == User::"{{username}}", action in [file_system::Action::"read"], resource);
        permit(principal, action in [process_system::Action::"list", process_system::Action::"kill"], resource);
    "#;
    let t = translate_rex(rex, "/").unwrap();
    assert!(t.kept.is_empty(), "{}", t.text);
    let notes: Vec<String> = t.notes.iter().map(ToString::to_string).collect();
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("policy0") && n.contains("placeholder")),
        "{notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("policy1") && n.contains("process_system::Action::\"kill\"")),
        "{notes:?}"
    );
}

#[test]
fn an_unmappable_condition_drops_a_permit_and_widens_a_forbid() {
    let rex = r#"
        @id("move-to-backup") permit(principal, action == file_system::Action::"move", resource)
            when { context.destination.parent_path == "/data/backup" };
        @id("read") permit(principal, action == file_system::Action::"read", resource);
        @id("no-move-out") forbid(principal, action == file_system::Action::"move", resource)
            unless { context.destination.parent_path == "/data/backup" };
    "#;
    let t = translate_rex(rex, "/data").unwrap();
    assert_eq!(t.kept, ["read", "no-move-out"]);
    let b = PolicyBundle::from_sources([("rex.cedar", t.text.clone())]).unwrap();
    // The forbid lost its `unless`: it forbids every rename, more than Rex did, never less.
    let all = PolicyBundle::from_sources([(
        "both.cedar",
        format!(
            "{}\n@id(\"rename\") permit(principal, action == Cordon::Action::\"fs:rename\", resource);",
            t.text
        ),
    )])
    .unwrap();
    assert!(!allowed(&all, None, fs(Action::FsRename, file("/x"))));
    assert!(allowed(&b, None, fs(Action::FsRead, file("/x"))));
    let notes: Vec<String> = t.notes.iter().map(ToString::to_string).collect();
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("move-to-backup: dropped")),
        "{notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("no-move-out") && n.contains("applies more widely")),
        "{notes:?}"
    );
}

#[test]
fn a_like_pattern_on_the_path_is_rebased_when_exact_and_refused_when_it_depends_on_the_root() {
    let rex = r#"
        @id("logs") permit(principal, action == file_system::Action::"read", resource)
            when { resource.path like "/var/app/logs/*.log" };
        @id("etc") permit(principal, action == file_system::Action::"read", resource)
            when { resource.path like "/etc/*" };
        @id("vague") permit(principal, action == file_system::Action::"read", resource)
            when { resource.path like "/va*" };
    "#;
    let t = translate_rex(rex, "/var/app").unwrap();
    assert_eq!(t.kept, ["logs", "etc"]);
    let b = PolicyBundle::from_sources([("rex.cedar", t.text.clone())]).unwrap();
    assert!(allowed(&b, None, fs(Action::FsRead, file("/logs/a.log"))));
    assert!(!allowed(&b, None, fs(Action::FsRead, file("/logs/a.txt"))));
    assert!(!allowed(&b, None, fs(Action::FsRead, file("/etc/passwd"))));
    assert!(
        t.notes
            .iter()
            .any(|n| n.policy == "vague" && n.note.contains("depends on the rex root"))
    );
}

#[test]
fn rex_get_on_a_url_is_an_http_get_of_the_same_url() {
    let rex = r#"permit(principal, action == network::Action::"GET", resource == network::url::"https://example.com/health");"#;
    let (b, _) = translated(rex, "/");
    let send = |url: &str, method: &str| {
        let mut r = Request::new(
            Action::HttpSend,
            Resource::Url(UrlParts::of(&check_url(url).unwrap())),
        );
        r.method = Some(method.to_owned());
        allowed(&b, None, r)
    };
    assert!(send("https://example.com/health", "GET"));
    assert!(send("https://EXAMPLE.com:443/health", "GET"));
    assert!(!send("https://example.com/health", "POST"));
    assert!(!send("https://example.com/other", "GET"));
}

#[test]
fn a_translated_policy_keeps_its_rex_id_as_the_deciding_policy() {
    let rex = r#"@id("read-docs") permit(principal, action == file_system::Action::"read", resource in file_system::Dir::"/srv/docs");
                 permit(principal, action == file_system::Action::"open", resource);"#;
    let t = translate_rex(rex, "/srv").unwrap();
    assert_eq!(t.kept, ["read-docs", "policy1"]);
    let b = PolicyBundle::from_sources([("rex.cedar", t.text)]).unwrap();
    let s = b
        .session(&Principal::unattended("t", "d"), &RunContext::new("p", "e"))
        .unwrap();
    let d = s.authorize(&fs(Action::FsRead, file("/docs/a.md")));
    assert_eq!(d.policy_ids, ["read-docs"]);
}

#[test]
fn rex_policies_are_told_from_cordons_and_bad_input_is_a_clear_error() {
    assert!(is_rex_policy(QUICK_START));
    assert!(!is_rex_policy(
        r#"permit(principal, action == Cordon::Action::"fs:read", resource);"#
    ));
    assert!(!is_rex_policy("not cedar"));
    assert!(matches!(
        translate_rex("permit(", "/"),
        Err(RexError::Parse(_))
    ));
    assert!(matches!(
        translate_rex(QUICK_START, "tmp"),
        Err(RexError::Root(_))
    ));
    assert!(matches!(
        translate_rex(QUICK_START, "/tmp/"),
        Err(RexError::Root(_))
    ));
    assert!(matches!(
        translate_rex(
            r#"permit(principal == ?principal, action == file_system::Action::"read", resource);"#,
            "/"
        ),
        Err(RexError::Template(_))
    ));
}
