//! Source runs with stand-in runners built from WAT: the envelope a runner answers with becomes
//! the report's output or error, policies see `context.code`, and every decision names the
//! source. (The real Python and JavaScript runners are exercised by `source_guests`.)

use cordon_audit::{DecisionLog, Query};
use cordon_runtime::{Language, RunError, RunStatus, Source};
use cordon_testkit as tk;

use crate::support::{ALLOW_ALL, Sandbox, engine, load};

fn python(code: &str) -> Source {
    Source::new(Language::Python, code).unwrap()
}

fn run_answering(envelope: &str) -> cordon_runtime::RunReport {
    let sb = Sandbox::new();
    let runner = load(tk::constant_guest(envelope));
    engine()
        .run_source(
            &runner,
            &python("def main(input):\n    pass\n"),
            sb.invocation(ALLOW_ALL, "{}"),
        )
        .unwrap()
}

#[test]
fn what_main_returned_is_the_output_and_the_report_names_the_source() {
    let sb = Sandbox::new();
    let runner = load(tk::constant_guest(
        r#"{"result": {"n": [1, 2], "s": "grüße ✓"}}"#,
    ));
    let source = python("def main(input):\n    return {}\n");
    let report = engine()
        .run_source(&runner, &source, sb.invocation(ALLOW_ALL, r#"{"a": 1}"#))
        .unwrap();
    assert_eq!(report.status, RunStatus::Ok, "{report:?}");
    let out: serde_json::Value = serde_json::from_str(report.output.as_deref().unwrap()).unwrap();
    assert_eq!(out, serde_json::json!({"n": [1, 2], "s": "grüße ✓"}));
    let code = report.code.expect("a source run's report names its source");
    assert_eq!(code.language, "python");
    assert_eq!(code.digest, source.digest());
    assert_eq!(report.component_digest, runner.digest());
}

#[test]
fn a_syntax_error_is_invalid_with_its_line_and_column() {
    let report =
        run_answering(r#"{"invalid": {"message": "invalid syntax", "line": 3, "column": 7}}"#);
    assert_eq!(report.status, RunStatus::Error);
    assert!(report.output.is_none());
    let e = report.error.unwrap();
    assert_eq!(e.kind, "invalid");
    assert_eq!(e.message, "line 3, column 7: invalid syntax");
    let at = e.location.unwrap();
    assert_eq!((at.line, at.column), (3, Some(7)));
}

#[test]
fn an_uncaught_exception_names_its_type_message_and_source_frames() {
    let report = run_answering(
        r#"{"exception": {"type": "ZeroDivisionError", "message": "division by zero",
            "traceback": [{"line": 2, "function": "main", "text": "return f()"},
                          {"line": 5, "function": "f", "text": "return 1 / 0"}]}}"#,
    );
    assert_eq!(report.status, RunStatus::Error);
    let e = report.error.unwrap();
    assert_eq!(e.kind, "exception");
    assert_eq!(e.message, "ZeroDivisionError: division by zero");
    let frames = e.traceback.unwrap();
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[1].function.as_deref(), Some("f"));
    assert_eq!(
        e.location.unwrap().line,
        5,
        "where it was raised: the innermost frame"
    );
}

#[test]
fn a_runner_answering_outside_the_protocol_ends_as_a_trap_and_shows_nothing() {
    for answer in [
        r#"{"result": 1, "extra": 2}"#,
        r#"["result", 1]"#,
        "not json",
        r#"{"invalid": {}}"#,
    ] {
        let report = run_answering(answer);
        assert_eq!(report.status, RunStatus::Trap, "{answer}: {report:?}");
        assert!(report.output.is_none(), "{answer}");
        assert!(report.trap.unwrap().contains("protocol"), "{answer}");
    }
}

#[test]
fn a_source_run_whose_input_is_not_json_does_not_start() {
    let sb = Sandbox::new();
    let runner = load(tk::echo_guest());
    let err = engine()
        .run_source(
            &runner,
            &python("x = 1"),
            sb.invocation(ALLOW_ALL, "{not json"),
        )
        .unwrap_err();
    assert!(matches!(err, RunError::Input(_)), "{err}");
    assert_eq!(sb.log.head(), None, "nothing was decided");
}

/// The runner hands its whole input to `fs.read` as a path: one decision, made with
/// `context.code` in the request and logged with the source's digest.
#[test]
fn policies_see_the_language_and_every_decision_names_the_source() {
    let policy = r#"@id("python-only") permit(principal, action == Cordon::Action::"fs:read", resource)
        when { context has code && context.code.language == "python" };"#;
    for (language, want) in [(Language::Python, "allow"), (Language::Javascript, "deny")] {
        let sb = Sandbox::new();
        let runner = load(tk::read_guest());
        let source = Source::new(language, "x").unwrap();
        let report = engine()
            .run_source(&runner, &source, sb.invocation(policy, ""))
            .unwrap();
        assert_eq!(report.decisions.len(), 1, "{report:?}");
        assert_eq!(report.decisions[0].decision, want, "{language:?}");
        let entries = sb.log.store().query(&Query::default()).unwrap();
        assert_eq!(entries.len(), 1);
        let code = entries[0]
            .entry
            .code
            .clone()
            .expect("the entry names the source");
        assert_eq!(code.language, language.name());
        assert_eq!(code.digest, source.digest());
    }
}

#[test]
fn a_component_run_has_no_code_in_its_context_or_its_log() {
    let policy = r#"@id("components") permit(principal, action == Cordon::Action::"fs:read", resource)
        when { !(context has code) };"#;
    let sb = Sandbox::new();
    sb.write("a.txt", "hi");
    let report = sb.run(&load(tk::read_guest()), policy, "a.txt");
    assert_eq!(report.status, RunStatus::Ok, "{report:?}");
    assert!(report.code.is_none());
    let entries = sb.log.store().query(&Query::default()).unwrap();
    assert_eq!(entries[0].entry.code, None);
}
