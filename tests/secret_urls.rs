//! URLs the Worker sends a secret to must be `https:` (issue #11 item 5); `http:` only to loopback
//! for local development and tests. Refusals are configuration errors naming the variable and
//! never echoing the URL.

// `#[test]` runs natively and, through wasm-bindgen-test, in wasm (tests/README.md).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use faroe_worker::config::{Config, ConfigError, SECRET_BEARING_URLS};
use std::collections::HashMap;

/// A production-valid endpoint secret, so the refusals under test are the only ones.
const ENDPOINT_SECRET: (&str, &str) = (
    "ACTION_INVOCATION_ENDPOINT_SECRET",
    "secret-urls-endpoint-secret-0123456789",
);

fn parse(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let map: HashMap<String, String> = std::iter::once(&ENDPOINT_SECRET)
        .chain(pairs)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_vars(|name| map.get(name).cloned())
}

/// The variables that make each URL variable used.
fn with_url(name: &str, url: &str) -> Result<Config, ConfigError> {
    let mut vars = vec![(name, url)];
    vars.extend_from_slice(match name {
        "EMAIL_WEBHOOK_URL" => &[("EMAIL_PROVIDER", "webhook")][..],
        "RESEND_API_URL" => &[
            ("EMAIL_PROVIDER", "resend"),
            ("RESEND_API_KEY", "re_key"),
            ("EMAIL_FROM", "a@example.com"),
        ],
        "POSTMARK_API_URL" => &[
            ("EMAIL_PROVIDER", "postmark"),
            ("POSTMARK_SERVER_TOKEN", "pm_token"),
            ("EMAIL_FROM", "a@example.com"),
        ],
        "USER_SERVER_URL" => &[
            ("EMAIL_PROVIDER", "log"),
            ("DEVELOPMENT_MODE", "true"),
            ("USER_STORE", "user_server"),
        ],
        "TURNSTILE_SITEVERIFY_URL" => &[
            ("EMAIL_PROVIDER", "log"),
            ("DEVELOPMENT_MODE", "true"),
            ("TURNSTILE_SECRET_KEY", "ts"),
        ],
        other => panic!("no setup for {other}"),
    });
    parse(&vars)
}

const REFUSED: &[&str] = &[
    "http://example.com/hook",
    "http://10.0.0.1/hook",
    "http://192.168.1.1:8080/",
    "http://[::2]/",
    "http://127.0.0.1@evil.example/",
    "http://127.0.0.1:80@evil.example/",
    "http://localhost.evil.example/",
    "http://evil.example#@127.0.0.1/",
    "http://evil.example?@127.0.0.1/",
    "http://2130706433/",
    "ftp://127.0.0.1/",
    "ws://localhost/",
    "//example.com/hook",
    "example.com/hook",
    "https://",
    "http:",
];

const ACCEPTED: &[&str] = &[
    "https://hooks.example.com/mail",
    "HTTPS://api.example.com",
    "http://127.0.0.1:9/hook",
    "http://127.8.9.10/",
    "http://localhost:8787/users",
    "http://LOCALHOST/",
    "http://[::1]:9000/",
    "http://user:pass@127.0.0.1/",
    "http://127.0.0.1\\@evil.example/",
];

#[test]
fn secret_bearing_urls_must_be_https_unless_loopback() {
    for name in SECRET_BEARING_URLS {
        for url in REFUSED {
            let e = with_url(name, url).expect_err(&format!("{name}={url} accepted"));
            assert_eq!(e.variable, *name, "{url}");
            let message = e.to_string();
            assert!(
                message.contains(name) && message.contains("https:"),
                "{message}"
            );
            assert!(
                !message.contains("evil"),
                "the URL is not echoed: {message}"
            );
        }
        for url in ACCEPTED {
            assert!(with_url(name, url).is_ok(), "{name}={url} refused");
        }
    }
}

#[test]
fn defaults_and_the_unused_pwned_url_are_unaffected() {
    let c = parse(&[
        ("EMAIL_PROVIDER", "resend"),
        ("RESEND_API_KEY", "k"),
        ("EMAIL_FROM", "a@example.com"),
    ])
    .unwrap();
    assert!(c.turnstile_siteverify_url.starts_with("https://"));
    // Pwned Passwords is sent only a 5-character hash prefix, no secret: a plain-http mirror stays allowed.
    assert!(parse(&[
        ("EMAIL_PROVIDER", "log"),
        ("DEVELOPMENT_MODE", "true"),
        ("PWNED_PASSWORDS_URL", "http://mirror.example")
    ])
    .is_ok());
}
