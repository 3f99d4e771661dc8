//! Email templates (docs/emails.md): every message type in both shipped languages, escaping of
//! hostile values in every HTML template, per-file fallback to the default language, refusal of
//! unknown values, and the language rule through the server (user store, request, default).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

mod common;

use async_trait::async_trait;
use common::*;
use faroe_worker::adapters::email::{
    check_template, EmailDelivery, EmailMessage, EmailRenderer, LanguageSource, Message,
    RenderingEmailSender, TemplateFile, BUILT_IN_TEMPLATES, COMPLETE_LANGUAGES, MESSAGE_TYPES,
};
use faroe_worker::adapters::memory::Sha256TestAlgorithm;
use faroe_worker::ports::{EmailSender, LanguageHints, PasswordHashAlgorithm};
use faroe_worker::{PasswordConfig, Server};
use futures::executor::block_on;
use serde_json::json;
use std::cell::RefCell;
use std::rc::Rc;

/// One message of every type, with `value` in every string field.
fn every_message(value: &str) -> Vec<Message<'_>> {
    vec![
        Message::SignupCode { code: value },
        Message::EmailUpdateCode {
            display_name: value,
            code: value,
        },
        Message::TemporaryPassword {
            display_name: value,
            temporary_password: value,
        },
        Message::SignedIn {
            display_name: value,
            timestamp: T0,
        },
        Message::EmailUpdated {
            display_name: value,
            new_email_address: value,
            timestamp: T0,
        },
        Message::PasswordUpdated {
            display_name: value,
            timestamp: T0,
        },
        Message::SecondFactorAdded {
            display_name: value,
            second_factor: value,
            timestamp: T0,
        },
        Message::SecondFactorRemoved {
            display_name: value,
            second_factor: value,
            timestamp: T0,
        },
    ]
}

#[test]
fn english_and_german_ship_complete_and_every_type_renders_in_both() {
    assert_eq!(COMPLETE_LANGUAGES, &["de", "en"]);
    assert_eq!(BUILT_IN_TEMPLATES.len(), 2 * MESSAGE_TYPES.len() * 3);
    let renderer = EmailRenderer::new("Acme");
    let greeting = [("en", "Hello Ada,"), ("de", "Hallo Ada,")];
    for (language, hello) in greeting {
        for message in every_message("Ada") {
            let m = renderer
                .render(language, "ada@example.com", &message)
                .unwrap();
            let kind = message.kind();
            assert_eq!(m.language, language, "{kind}");
            assert_eq!(m.kind, kind);
            assert_eq!(m.to, "ada@example.com");
            assert!(
                m.subject.contains("Acme"),
                "{language}/{kind}: {}",
                m.subject
            );
            assert!(!m.subject.contains('\n'));
            for body in [&m.text, &m.html] {
                assert!(body.contains("Acme"), "{language}/{kind}");
                assert!(
                    !body.contains("{{") && !body.contains("{%"),
                    "{language}/{kind}"
                );
                if kind != "signup_email_address_verification_code" {
                    assert!(body.contains(hello), "{language}/{kind}: {body}");
                }
            }
            assert!(m.html.contains(&format!("<html lang=\"{language}\">")));
            // The values a message carries appear in both bodies.
            for (name, value) in m.data.iter() {
                let shown = match name.as_str() {
                    "timestamp" => "2023-11-14 22:13 UTC".to_string(),
                    // The built-in templates name the kind in words; "Ada" is not a known kind.
                    _ => value.as_str().unwrap().to_string(),
                };
                assert!(m.text.contains(&shown), "{language}/{kind}: {name} in text");
                assert!(m.html.contains(&shown), "{language}/{kind}: {name} in html");
            }
        }
    }
    // The words differ by language; the raw data does not.
    let code = Message::SignupCode { code: "ABCDEFGH" };
    let en = renderer.render("en", "a@b", &code).unwrap();
    let de = renderer.render("de", "a@b", &code).unwrap();
    assert_eq!(en.subject, "Your Acme verification code");
    assert_eq!(de.subject, "Ihr Bestätigungscode für Acme");
    assert!(de.text.contains("lautet ABCDEFGH."));
    assert_eq!(en.data, de.data);
    // An empty display name drops it from the greeting.
    let anonymous = Message::PasswordUpdated {
        display_name: "",
        timestamp: T0,
    };
    let m = renderer.render("de", "a@b", &anonymous).unwrap();
    assert!(m.text.starts_with("Hallo,\n"), "{}", m.text);
}

#[test]
fn second_factor_kinds_are_named_in_words() {
    let renderer = EmailRenderer::new("Acme");
    let added = |second_factor| Message::SecondFactorAdded {
        display_name: "",
        second_factor,
        timestamp: T0,
    };
    let m = renderer.render("en", "a@b", &added("totp")).unwrap();
    assert!(
        m.text.contains("an authenticator app (TOTP) was added"),
        "{}",
        m.text
    );
    let m = renderer.render("de", "a@b", &added("passkey")).unwrap();
    assert!(
        m.text
            .contains("ein Passkey als zweiter Faktor hinzugefügt"),
        "{}",
        m.text
    );
    assert_eq!(m.data["second_factor"], "passkey");
    assert_eq!(m.data["timestamp"], 1_700_000_000);
}

#[test]
fn hostile_values_are_escaped_in_every_html_template_and_kept_in_text() {
    let hostile = "<script>alert(\"x\")</script> & 'q'";
    let renderer = EmailRenderer::new("Acme <b>&</b>");
    for language in ["en", "de"] {
        for message in every_message(hostile) {
            let kind = message.kind();
            let m = renderer.render(language, "<a@b>", &message).unwrap();
            for raw in ["<script>", "\"x\"", "'q'", " & ", "<b>"] {
                assert!(
                    !m.html.contains(raw),
                    "{language}/{kind}: raw {raw} in {}",
                    m.html
                );
            }
            assert!(m.html.contains("&lt;script&gt;"), "{language}/{kind}");
            assert!(m.html.contains("&amp;"), "{language}/{kind}");
            assert!(m.html.contains("&quot;x&quot;"), "{language}/{kind}");
            assert!(
                m.html.contains("&lt;b&gt;&amp;&lt;&#x2f;b&gt;"),
                "{language}/{kind}"
            );
            // Plain text and subject are not HTML: the value stays as given.
            assert!(m.subject.contains("Acme <b>&</b>"), "{language}/{kind}");
            if kind != "signup_email_address_verification_code" {
                assert!(m.text.contains(hostile), "{language}/{kind}");
            }
        }
    }
}

#[test]
fn a_value_cannot_break_the_subject_line() {
    let renderer = EmailRenderer::new("Acme\r\nBcc: evil@example.com");
    let m = renderer
        .render("en", "a@b", &Message::SignupCode { code: "X" })
        .unwrap();
    assert_eq!(
        m.subject,
        "Your Acme Bcc: evil@example.com verification code"
    );
}

/// A set of template files: the built-in English plus `extra`.
fn english_plus(extra: &[TemplateFile]) -> Vec<TemplateFile> {
    BUILT_IN_TEMPLATES
        .iter()
        .filter(|f| f.language == "en")
        .copied()
        .chain(extra.iter().copied())
        .collect()
}

fn file(language: &'static str, part: &'static str, source: &'static str) -> TemplateFile {
    TemplateFile {
        language,
        message_type: "signup_email_address_verification_code",
        part,
        source,
    }
}

#[test]
fn a_missing_template_falls_back_to_the_default_language_per_file() {
    // French has only the signup subject; Spanish only its HTML body.
    let files = english_plus(&[
        file("fr", "subject", "Votre code {{ app_name }}"),
        file(
            "es",
            "html",
            "<p>Código: {{ email_address_verification_code }}</p>",
        ),
    ]);
    let renderer = EmailRenderer::with_templates("Acme", files).unwrap();
    assert_eq!(renderer.languages(), vec!["en", "es", "fr"]);
    let code = Message::SignupCode { code: "ABCDEFGH" };
    let fr = renderer.render("fr", "a@b", &code).unwrap();
    assert_eq!(fr.subject, "Votre code Acme");
    assert!(fr
        .text
        .contains("Your verification code for signing up to Acme is ABCDEFGH."));
    assert!(fr.html.contains("Your verification code"));
    assert_eq!(fr.language, "fr");
    let es = renderer.render("es", "a@b", &code).unwrap();
    assert_eq!(es.subject, "Your Acme verification code");
    assert_eq!(es.html, "<p>Código: ABCDEFGH</p>");
    // Another message type has no French file at all: all three parts are English.
    let other = Message::PasswordUpdated {
        display_name: "",
        timestamp: T0,
    };
    let m = renderer.render("fr", "a@b", &other).unwrap();
    assert_eq!(m.subject, "Your Acme password was changed");
    // An incomplete language cannot be the default.
    let err = renderer.clone().default_language("fr").unwrap_err();
    assert!(
        err.contains("\"fr\" is not a language with every template"),
        "{err}"
    );
    assert!(renderer.default_language("en").is_ok());
}

#[test]
fn unknown_values_are_refused_where_templates_are_checked() {
    let kind = "user_signed_in_notification";
    // A typo, also inside a branch that sample rendering would not take.
    for source in [
        "Hello {{ display_nam }}",
        "{% if false %}{{ temporary_password }}{% endif %}",
        "{{ user.name }}",
    ] {
        let err = check_template("en/x.txt", kind, source).unwrap_err();
        assert!(err.starts_with("en/x.txt: uses "), "{source}: {err}");
        assert!(
            err.contains("it may use app_name, email_address, language, display_name"),
            "{err}"
        );
    }
    // A value of another message type is unknown here too.
    let err = check_template("en/x.html", kind, "{{ new_email_address }}").unwrap_err();
    assert!(
        err.contains("uses new_email_address which user_signed_in_notification"),
        "{err}"
    );
    // Filters that do not exist, syntax errors and unknown message types.
    assert!(check_template("en/x.txt", kind, "{{ display_name|shout }}").is_err());
    assert!(check_template("en/x.txt", kind, "{% if %}").is_err());
    let err = check_template("en/x.txt", "user_signed_out", "hi").unwrap_err();
    assert!(
        err.contains("\"user_signed_out\" is not an email message type"),
        "{err}"
    );
    // What is allowed passes.
    check_template(
        "en/x.txt",
        kind,
        "{{ display_name }} {{ time_utc }} {{ timestamp }}",
    )
    .unwrap();
    // A renderer is never built from a template that fails the check.
    let bad = english_plus(&[file("fr", "txt", "{{ code }}")]);
    let err = EmailRenderer::with_templates("Acme", bad).unwrap_err();
    assert!(
        err.contains("fr/signup_email_address_verification_code.txt: uses code"),
        "{err}"
    );
}

#[test]
fn the_language_rule_takes_the_first_known_hint_in_the_configured_order() {
    let renderer = EmailRenderer::new("Acme");
    let hints = |user, request| LanguageHints { user, request };
    // Default order: the user store, then the request, then EMAIL_DEFAULT_LANGUAGE.
    assert_eq!(renderer.choose_language(hints(None, None)), "en");
    assert_eq!(
        renderer.choose_language(hints(Some("de"), Some("en"))),
        "de"
    );
    assert_eq!(renderer.choose_language(hints(None, Some("de"))), "de");
    // Unknown languages are skipped, not errors; region and case are forgiven.
    assert_eq!(
        renderer.choose_language(hints(Some("tlh"), Some("de"))),
        "de"
    );
    assert_eq!(
        renderer.choose_language(hints(Some("xx"), Some("yy"))),
        "en"
    );
    assert_eq!(renderer.choose_language(hints(None, Some("de-CH"))), "de");
    assert_eq!(renderer.choose_language(hints(None, Some("DE_at"))), "de");
    assert_eq!(renderer.choose_language(hints(None, Some("d"))), "en");
    // The request first.
    let request_first = EmailRenderer::new("Acme")
        .language_order(vec![LanguageSource::Request, LanguageSource::UserStore]);
    assert_eq!(
        request_first.choose_language(hints(Some("de"), Some("en"))),
        "en"
    );
    assert_eq!(request_first.choose_language(hints(Some("de"), None)), "de");
    // Only the default (EMAIL_LANGUAGE_ORDER=none), whatever the hints.
    let fixed = EmailRenderer::new("Acme").language_order(vec![]);
    assert_eq!(fixed.choose_language(hints(Some("de"), Some("de"))), "en");
    // German as the default.
    let german = EmailRenderer::new("Acme").default_language("de").unwrap();
    assert_eq!(german.choose_language(hints(Some("xx"), None)), "de");
    assert!(EmailRenderer::new("Acme").default_language("fr").is_err());
}

#[derive(Default)]
struct Capture(RefCell<Vec<EmailMessage>>);

#[async_trait(?Send)]
impl EmailDelivery for Capture {
    async fn deliver(&self, message: EmailMessage) -> Result<(), String> {
        self.0.borrow_mut().push(message);
        Ok(())
    }
}

/// The harness's stores with a rendering sender (the Worker's) instead of the recording fake.
fn server_with_templates(h: &Harness, renderer: EmailRenderer) -> (Server, Rc<Capture>) {
    let capture = Rc::new(Capture::default());
    let mut ports = h.ports();
    ports.email_sender = Rc::new(RenderingEmailSender::with_renderer(
        renderer,
        capture.clone(),
    ));
    let algorithm = |id| Rc::new(Sha256TestAlgorithm::new(id)) as Rc<dyn PasswordHashAlgorithm>;
    let passwords = PasswordConfig {
        user_password_algorithms: vec![algorithm("test-a")],
        temporary_password_algorithm: algorithm("test-t"),
    };
    let server = Server::new(ports, h.config.session, passwords).unwrap();
    (server, capture)
}

fn invoke(server: &Server, action: &str, arguments: serde_json::Value) -> serde_json::Value {
    let body = json!({ "action": action, "arguments": arguments }).to_string();
    let result = block_on(server.resolve(body.as_bytes())).unwrap();
    let result: serde_json::Value = serde_json::from_str(&result).unwrap();
    assert_eq!(result["ok"], true, "{action}: {result}");
    result
}

/// A whole sign-in, a day after the last one (past the password-attempt bucket's refill).
fn sign_in(h: &Harness, server: &Server, email: &str, password: &str) {
    h.clock.advance(DAY);
    let token = invoke(
        server,
        "create_signin",
        json!({ "user_email_address": email }),
    )["values"]["signin_token"]
        .clone();
    let args = json!({ "signin_token": token, "password": password });
    invoke(server, "verify_signin_user_password", args);
    invoke(server, "complete_signin", json!({ "signin_token": token }));
}

#[test]
fn the_server_passes_the_users_language_and_the_requests_to_the_sender() {
    let h = Harness::new();
    let (server, sent) = server_with_templates(&h, EmailRenderer::new("Acme"));
    let last = || sent.0.borrow().last().cloned().unwrap();

    // Nothing known: the default language.
    invoke(
        &server,
        "create_signup",
        json!({ "email_address": "new@example.com" }),
    );
    assert_eq!(last().language, "en");
    // The app's language for this invocation (no user yet).
    let german_request = server.with_email_language("de");
    invoke(
        &german_request,
        "create_signup",
        json!({ "email_address": "neu@example.com" }),
    );
    let m = last();
    assert_eq!(
        (m.language.as_str(), m.to.as_str()),
        ("de", "neu@example.com")
    );
    assert!(m.subject.starts_with("Ihr Bestätigungscode"));
    // The request language is per invocation: the shared server is unchanged.
    invoke(
        &server,
        "create_signup",
        json!({ "email_address": "new2@example.com" }),
    );
    assert_eq!(last().language, "en");

    // The user's stored language wins over the request's (default EMAIL_LANGUAGE_ORDER).
    h.users
        .modify("u1", |u| u.email_language = Some("de".into()));
    sign_in(&h, &server, "user1@example.com", U1_PASSWORD);
    let m = last();
    assert_eq!(
        (m.kind, m.language.as_str()),
        ("user_signed_in_notification", "de")
    );
    assert!(m.text.starts_with("Hallo Alice,"), "{}", m.text);
    sign_in(
        &h,
        &server.with_email_language("en"),
        "user1@example.com",
        U1_PASSWORD,
    );
    assert_eq!(last().language, "de");
    // A stored language without templates is skipped for the request's.
    h.users
        .modify("u1", |u| u.email_language = Some("tlh".into()));
    sign_in(
        &h,
        &server.with_email_language("de"),
        "user1@example.com",
        U1_PASSWORD,
    );
    assert_eq!(last().language, "de");
    sign_in(&h, &server, "user1@example.com", U1_PASSWORD);
    assert_eq!(last().language, "en");
    // The password reset's temporary password too.
    h.users
        .modify("u2", |u| u.email_language = Some("de".into()));
    invoke(
        &server,
        "create_user_password_reset",
        json!({ "user_email_address": "user2@example.com" }),
    );
    let m = last();
    assert_eq!(
        (m.kind, m.language.as_str()),
        ("user_password_reset_temporary_password", "de")
    );
    assert!(m.text.contains("Ihr temporäres Passwort"), "{}", m.text);

    // EMAIL_LANGUAGE_ORDER=request,user_store: the request first.
    let order = vec![LanguageSource::Request, LanguageSource::UserStore];
    let (request_first, sent) =
        server_with_templates(&h, EmailRenderer::new("Acme").language_order(order));
    h.users
        .modify("u1", |u| u.email_language = Some("de".into()));
    sign_in(
        &h,
        &request_first.with_email_language("en"),
        "user1@example.com",
        U1_PASSWORD,
    );
    assert_eq!(sent.0.borrow().last().unwrap().language, "en");
    sign_in(&h, &request_first, "user1@example.com", U1_PASSWORD);
    assert_eq!(sent.0.borrow().last().unwrap().language, "de");
}

#[test]
fn the_second_factor_notifications_go_through_the_sender() {
    let capture = Rc::new(Capture::default());
    let sender = RenderingEmailSender::new("Acme", capture.clone());
    block_on(sender.send_user_second_factor_added_notification("a@b", "Al", "totp", T0)).unwrap();
    let german = sender
        .for_languages(LanguageHints {
            user: None,
            request: Some("de"),
        })
        .unwrap();
    block_on(german.send_user_second_factor_removed_notification("a@b", "Al", "totp", T0)).unwrap();
    let sent = capture.0.borrow();
    assert_eq!(sent[0].kind, "user_second_factor_added_notification");
    assert_eq!(sent[0].language, "en");
    assert_eq!(sent[1].kind, "user_second_factor_removed_notification");
    assert_eq!(sent[1].language, "de");
    let payload = sent[1].webhook_payload();
    assert_eq!(payload["language"], "de");
    assert_eq!(payload["data"]["second_factor"], "totp");
    assert_eq!(payload["data"]["display_name"], "Al");
}

/// A scratch templates directory with the built-in English files and `extra` (path, source).
#[cfg(not(target_arch = "wasm32"))]
fn scratch_templates(name: &str, extra: &[(&str, &str)]) -> std::path::PathBuf {
    let root = std::env::temp_dir().join(format!("faroe-templates-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("en")).unwrap();
    for f in BUILT_IN_TEMPLATES.iter().filter(|f| f.language == "en") {
        let path = root
            .join("en")
            .join(format!("{}.{}", f.message_type, f.part));
        std::fs::write(path, f.source).unwrap();
    }
    for (path, source) in extra {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, source).unwrap();
    }
    root
}

// What build.rs runs on templates/email: a bad file stops the build with a message naming it.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn the_build_scan_refuses_bad_template_directories() {
    use faroe_worker::adapters::email_catalog::scan_templates;
    let ok = scratch_templates(
        "ok",
        &[
            ("README.md", "notes"),
            (
                "fr/user_signed_in_notification.subject",
                "Connexion à {{ app_name }}",
            ),
        ],
    );
    let scan = scan_templates(&ok).unwrap();
    assert_eq!(scan.complete_languages, vec!["en"]);
    assert_eq!(scan.files.len(), 25);
    assert_eq!(scan.files[24].language, "fr");
    std::fs::remove_dir_all(&ok).unwrap();
    // (case, extra files as (path, source), what the error says)
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        (
            "typo",
            &[(
                "de/user_signed_in_notification.txt",
                "Hallo {{ display_nam }}",
            )],
            "de/user_signed_in_notification.txt: uses display_nam which",
        ),
        (
            "type",
            &[("de/user_signed_out_notification.txt", "x")],
            "\"user_signed_out_notification\" is not an email message type",
        ),
        (
            "part",
            &[("de/user_signed_in_notification.md", "x")],
            "de/user_signed_in_notification.md: not <message_type>.subject, .txt or .html",
        ),
        (
            "dir",
            &[("German/user_signed_in_notification.txt", "x")],
            "directory \"German\" is not a lowercase language tag",
        ),
        (
            "syntax",
            &[(
                "de/user_signed_in_notification.html",
                "{% if display_name %}",
            )],
            "de/user_signed_in_notification.html: ",
        ),
    ];
    for (name, extra, expected) in cases {
        let root = scratch_templates(name, extra);
        let err = scan_templates(&root).unwrap_err();
        assert!(err.contains(expected), "{name}: {err}");
        std::fs::remove_dir_all(&root).unwrap();
    }
    // Without one complete language there is no default.
    let root = scratch_templates("incomplete", &[]);
    std::fs::remove_file(root.join("en/user_signed_in_notification.html")).unwrap();
    let err = scan_templates(&root).unwrap_err();
    assert!(err.contains("no language has all 24 templates"), "{err}");
    std::fs::remove_dir_all(&root).unwrap();
}
