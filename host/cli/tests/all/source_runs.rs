//! `cordon run agent.py` / `agent.js`: source run as sent by the runner for its language, and
//! `cordon audit source` printing back exactly what ran. The end-to-end tests need the runners
//! built by scripts/build-guests.sh (ignored by a plain `cargo test`; CI runs them).

use crate::support::{Scratch, s};

const POLICY: &str = r#"
@id("read-anything") permit(principal, action == Cordon::Action::"fs:read", resource);
@id("hello-is-read-only") forbid(principal, action == Cordon::Action::"fs:write", resource == Cordon::File::"/hello.txt");
"#;

#[test]
fn source_without_a_runner_is_bad_input_that_says_how_to_build_one() {
    let sc = Scratch::new();
    let agent = sc.file("agent.py", "def main(input):\n    return 1\n");
    let policy = sc.file("p.cedar", POLICY);
    let empty = sc.path("no-runners");
    std::fs::create_dir(&empty).unwrap();
    let r = sc.cordon(&[
        "run",
        s(&agent),
        "--policy",
        s(&policy),
        "--runners",
        s(&empty),
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("no python runner"), "{}", r.stderr);
    assert!(r.stderr.contains("build-guests.sh"), "{}", r.stderr);
    assert!(r.stdout.is_empty(), "nothing ran: {}", r.stdout);
}

#[test]
fn unknown_languages_and_empty_source_are_refused() {
    let sc = Scratch::new();
    let policy = sc.file("p.cedar", POLICY);
    let agent = sc.file("agent.txt", "print(1)");
    let r = sc.cordon(&[
        "run",
        s(&agent),
        "--policy",
        s(&policy),
        "--language",
        "cobol",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("`cobol` is not a language"),
        "{}",
        r.stderr
    );
    let empty = sc.file("empty.py", "\n\n");
    let r = sc.cordon(&["run", s(&empty), "--policy", s(&policy)]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("the source is empty"), "{}", r.stderr);
}

/// Run `file` (source in `language`'s file type) twice over the hello root, then print its
/// source back from the log.
fn assert_runs_as_sent_and_prints_back(file: &str, code: &str, language: &str) {
    let sc = Scratch::new();
    sc.file("root/hello.txt", "Hello!\n");
    let agent = sc.file(file, code);
    let policy = sc.file("p.cedar", POLICY);
    let root = sc.path("root");
    let args = [
        "run",
        s(&agent),
        "--policy",
        s(&policy),
        "--root",
        s(&root),
        "--user",
        "alice",
        "--purpose",
        "demo",
    ];
    let r = sc.cordon(&args);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let j = r.json();
    assert_eq!(j["status"], "denied-and-handled", "{j}");
    assert_eq!(j["output"]["read"], "Hello!\n", "{j}");
    assert_eq!(
        j["output"]["write"], "denied by policy [hello-is-read-only]",
        "{j}"
    );
    let digest = blake3::hash(code.as_bytes()).to_hex().to_string();
    assert_eq!(j["code"]["language"], language);
    assert_eq!(j["code"]["digest"], digest.as_str());
    assert_eq!(
        std::fs::read_to_string(root.join("hello.txt")).unwrap(),
        "Hello!\n"
    );

    let back = sc.cordon(&["audit", "source", &digest]);
    assert_eq!(back.code, 0, "{}", back.stderr);
    assert_eq!(back.stdout, code, "exactly the source that ran");
    let verify = sc.cordon(&["audit", "verify"]);
    assert_eq!(verify.code, 0, "{}\n{}", verify.stdout, verify.stderr);
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn cordon_runs_python_source_and_audit_prints_it_back() {
    assert_runs_as_sent_and_prints_back(
        "agent.py",
        "from cordon_guest import AccessDenied, fs\n\n\
def main(input):\n    text = fs.read_text(\"hello.txt\")\n    try:\n        fs.write(\"hello.txt\", \"x\")\n        \
wrote = \"written\"\n    except AccessDenied as d:\n        \
wrote = \"denied by policy [\" + \", \".join(d.policy_ids) + \"]\"\n    return {\"read\": text, \"write\": wrote}\n",
        "python",
    );
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn cordon_runs_a_rhai_script_and_audit_prints_it_back() {
    assert_runs_as_sent_and_prints_back(
        "script.rhai",
        "let text = cat(\"hello.txt\");\nlet wrote = \"written\";\n\
try {\n    write(\"hello.txt\", \"x\");\n} catch (d) {\n    \
wrote = \"denied by policy [\" + d.policy_ids[0] + \"]\";\n}\n#{ read: text, write: wrote }\n",
        "rhai",
    );
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn a_python_syntax_error_exits_one_with_its_line() {
    let sc = Scratch::new();
    let agent = sc.file("bad.py", "def main(input):\n    return )\n");
    let policy = sc.file("p.cedar", POLICY);
    let r = sc.cordon(&["run", s(&agent), "--policy", s(&policy)]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let j = r.json();
    assert_eq!(j["status"], "error");
    assert_eq!(j["error"]["kind"], "invalid");
    assert_eq!(j["error"]["location"]["line"], 2, "{j}");
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn a_python_source_reaching_for_a_file_exits_one_with_its_line_and_the_sdk_call_to_use() {
    let sc = Scratch::new();
    let agent = sc.file(
        "agent.py",
        "def main(input):\n    with open(\"hello.txt\") as f:\n        return f.read()\n",
    );
    let policy = sc.file("p.cedar", POLICY);
    let r = sc.cordon(&["run", s(&agent), "--policy", s(&policy)]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let j = r.json();
    assert_eq!(j["status"], "error", "{j}");
    assert_eq!(j["error"]["kind"], "exception", "{j}");
    assert!(
        j["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("FileNotFoundError: "),
        "{j}"
    );
    assert_eq!(j["error"]["location"]["line"], 2, "{j}");
    assert!(
        j["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("fs.read_text(path)"),
        "{j}"
    );
}

/// Sources that read `hello.txt` and return it with the input, unicode and all.
const HTTP_SOURCES: [(&str, &str); 3] = [
    (
        "python",
        "from cordon_guest import fs\n\ndef main(input):\n    return {\"read\": fs.read_text(\"hello.txt\"), \"echo\": input}\n",
    ),
    (
        "javascript",
        "function main(input) {\n  return { read: cordon.fs.readText(\"hello.txt\"), echo: input };\n}\n",
    ),
    ("rhai", "#{ read: cat(\"hello.txt\"), echo: input }\n"),
];

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn source_sent_over_http_for_a_verified_user_is_logged_by_digest_and_printed_back() {
    use crate::serve::{Server, http, json_of};
    let sc = Scratch::new();
    sc.file("root/hello.txt", "Grüß dich\n");
    let runners = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../build/runners");
    let mut server = Server::start_with_runners(&sc, serde_json::json!({}), "", &runners);
    let admin = std::fs::read_to_string(sc.path("data/admin.token")).unwrap();
    let admin = admin.trim();
    let tenant = serde_json::json!({"root": s(&sc.path("root"))});
    let (status, body) = http(
        &server,
        "PUT",
        "/v1/admin/tenants/acme",
        admin,
        tenant.to_string().as_bytes(),
    );
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let (_, t) = http(&server, "POST", "/v1/admin/tenants/acme/tokens", admin, b"");
    let token = json_of(&t)["token"].as_str().unwrap().to_owned();
    let idp = cordon_testkit::Idp::new(7);
    let key = serde_json::json!({"issuer": "https://idp.test", "audience": "cordon",
        "pem": idp.public_pem(), "algorithm": "EdDSA"});
    let (status, body) = http(
        &server,
        "POST",
        "/v1/admin/tenants/acme/identity-keys",
        admin,
        key.to_string().as_bytes(),
    );
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    // Reads allowed only to source, on behalf of an analyst.
    let policy = r#"@id("source-for-analysts") permit(principal, action == Cordon::Action::"fs:read", resource)
        when { context has code && principal has human && principal.human in Cordon::Role::"analyst" };"#;
    let bundle = serde_json::json!({"files": {"p.cedar": policy}, "activate": true});
    let (status, body) = http(
        &server,
        "POST",
        "/v1/admin/tenants/acme/bundles",
        admin,
        bundle.to_string().as_bytes(),
    );
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));

    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    let jwt = idp
        .sign(
            &serde_json::json!({"iss": "https://idp.test", "aud": "cordon", "sub": "alice",
            "roles": ["analyst"], "exp": exp}),
        )
        .unwrap();
    let input = serde_json::json!({"nested": {"list": [1, 2.5, null, true], "text": "Zoë ✓ 日本"}});
    let mut digests = Vec::new();
    for (language, code) in HTTP_SOURCES {
        let run = serde_json::json!({"source": {"language": language, "code": code},
            "input": input, "token": jwt, "purpose": "support", "engagement": "case-1"});
        let (status, body) = http(
            &server,
            "POST",
            "/v1/tenants/acme/runs",
            &token,
            run.to_string().as_bytes(),
        );
        let v = json_of(&body);
        assert_eq!(status, 200, "{language}: {v}");
        assert_eq!(v["status"], "ok", "{language}: {v}");
        assert_eq!(v["user"], "alice");
        let digest = blake3::hash(code.as_bytes()).to_hex().to_string();
        assert_eq!(
            v["report"]["code"],
            serde_json::json!({"language": language, "digest": digest})
        );
        assert_eq!(
            v["report"]["output"],
            serde_json::json!({"read": "Grüß dich\n", "echo": input}),
            "{language}: the input and output round-trip"
        );
        let decisions = v["report"]["decisions"].as_array().unwrap();
        assert_eq!(decisions.len(), 1, "{language}: {v}");
        assert_eq!(decisions[0]["decision"], "allow", "{language}: {v}");
        digests.push((language, digest, code));
    }
    server.signal("-TERM");
    assert!(
        server
            .wait_at_most(std::time::Duration::from_secs(30))
            .is_some()
    );

    for (language, digest, code) in digests {
        let back = sc.cordon(&["--data", s(&sc.path("data")), "audit", "source", &digest]);
        assert_eq!(back.code, 0, "{}", back.stderr);
        assert_eq!(back.stdout, code, "exactly the {language} source that ran");
        let found = sc.cordon(&[
            "--data",
            s(&sc.path("data")),
            "audit",
            "query",
            "--code-digest",
            &digest,
        ]);
        assert_eq!(found.code, 0, "{}", found.stderr);
        let found = found.json();
        let found = found.as_array().unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0]["code"]["language"], language);
        assert_eq!(found[0]["purpose"], "support");
        assert_eq!(found[0]["decision"], "allow");
    }
    // Found by the verified user they ran for.
    let by_user = sc.cordon(&[
        "--data",
        s(&sc.path("data")),
        "audit",
        "query",
        "--user",
        "alice",
    ]);
    assert_eq!(by_user.code, 0, "{}", by_user.stderr);
    let runs = by_user.json();
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), HTTP_SOURCES.len(), "{runs:?}");
    assert!(
        runs.iter().all(|e| e["code"]["digest"].is_string()),
        "{runs:?}"
    );
    let verify = sc.cordon(&["--data", s(&sc.path("data")), "audit", "verify"]);
    assert_eq!(verify.code, 0, "{}", verify.stdout);
}
