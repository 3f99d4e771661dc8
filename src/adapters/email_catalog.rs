//! The email message types and the values their templates may use. Shared by the renderer and by
//! build.rs (included with `#[path]`), which refuses a template that uses any other value, so
//! this file is the one list (docs/emails.md is written from it). Plain data only: build.rs
//! compiles it without the crate's dependencies.

/// The template parts of a message, by file extension: one line of subject, the plain-text body,
/// the HTML body (the only part whose values are HTML-escaped).
pub const PARTS: [&str; 3] = ["subject", "txt", "html"];

/// Values every template may use: the application name (APP_NAME), the recipient's address and
/// the language the message is written in.
pub const COMMON_VALUES: [&str; 3] = ["app_name", "email_address", "language"];

/// The language whose templates ship with the Worker and the default EMAIL_DEFAULT_LANGUAGE.
pub const BUILT_IN_LANGUAGE: &str = "en";

/// Each message type (its webhook `type` and template file name) with the values beyond
/// [`COMMON_VALUES`] its templates may use. `display_name` may be empty; `timestamp` is Unix
/// seconds and `time_utc` the same instant as `YYYY-MM-DD HH:MM UTC`.
pub const MESSAGE_TYPES: [(&str, &[&str]); 8] = [
    (
        "signup_email_address_verification_code",
        &["email_address_verification_code"],
    ),
    (
        "user_email_address_update_email_address_verification_code",
        &["display_name", "email_address_verification_code"],
    ),
    (
        "user_password_reset_temporary_password",
        &["display_name", "temporary_password"],
    ),
    (
        "user_signed_in_notification",
        &["display_name", "timestamp", "time_utc"],
    ),
    (
        "user_email_address_updated_notification",
        &["display_name", "new_email_address", "timestamp", "time_utc"],
    ),
    (
        "user_password_updated_notification",
        &["display_name", "timestamp", "time_utc"],
    ),
    (
        "user_second_factor_added_notification",
        &["display_name", "second_factor", "timestamp", "time_utc"],
    ),
    (
        "user_second_factor_removed_notification",
        &["display_name", "second_factor", "timestamp", "time_utc"],
    ),
];

/// Whether `tag` is a language directory name: lowercase BCP 47-like, e.g. `en`, `de`, `pt-br`.
pub fn is_language_tag(tag: &str) -> bool {
    let mut subtags = tag.split('-');
    let primary = subtags.next().unwrap_or("");
    (2..=3).contains(&primary.len())
        && primary.bytes().all(|b| b.is_ascii_lowercase())
        && subtags.all(|s| {
            (1..=8).contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

/// The values a template of `message_type` may use, or `None` for an unknown message type.
pub fn allowed_values(message_type: &str) -> Option<Vec<&'static str>> {
    let (_, own) = MESSAGE_TYPES
        .iter()
        .find(|(name, _)| *name == message_type)?;
    Some(COMMON_VALUES.iter().chain(own.iter()).copied().collect())
}

/// A sample value for each name: what build.rs renders every template with.
fn sample_value(name: &str, display_name: &str) -> minijinja::Value {
    match name {
        "display_name" => minijinja::Value::from(display_name),
        "timestamp" => minijinja::Value::from(1_700_000_000_i64),
        "second_factor" => minijinja::Value::from("totp"),
        other => minijinja::Value::from(format!("<{other}>")),
    }
}

/// Checks one template file (`name` is `<language>/<message_type>.<part>`): it parses, uses no
/// value its message type lacks, and renders with sample values (so a filter or test that does
/// not exist fails too). The error names the file and says what is wrong.
pub fn check_template(name: &str, message_type: &str, source: &str) -> Result<(), String> {
    let allowed = allowed_values(message_type)
        .ok_or_else(|| format!("{name}: \"{message_type}\" is not an email message type"))?;
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.add_template(name, source)
        .map_err(|e| format!("{name}: {e}"))?;
    let template = env.get_template(name).map_err(|e| format!("{name}: {e}"))?;
    let mut unknown: Vec<String> = template
        .undeclared_variables(false)
        .into_iter()
        .filter(|v| !allowed.contains(&v.as_str()))
        .collect();
    if !unknown.is_empty() {
        unknown.sort();
        return Err(format!(
            "{name}: uses {} which {message_type} does not have (it may use {})",
            unknown.join(", "),
            allowed.join(", ")
        ));
    }
    for display_name in ["", "Ada"] {
        let context = minijinja::Value::from_iter(
            allowed.iter().map(|v| (*v, sample_value(v, display_name))),
        );
        template
            .render(context)
            .map_err(|e| format!("{name}: {e}"))?;
    }
    Ok(())
}

/// One file found under the templates directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundTemplate {
    pub language: String,
    pub message_type: String,
    pub part: String,
    pub path: std::path::PathBuf,
}

/// What [`scan_templates`] found: every file (checked), sorted, and the complete languages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateScan {
    pub files: Vec<FoundTemplate>,
    pub complete_languages: Vec<String>,
}

fn sorted_entries(dir: &std::path::Path) -> Result<Vec<std::fs::DirEntry>, String> {
    let unreadable = |e: std::io::Error| format!("cannot read {}: {e}", dir.display());
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(unreadable)?
        .collect::<Result<_, _>>()
        .map_err(unreadable)?;
    entries.sort_by_key(|e| e.file_name());
    Ok(entries)
}

/// Reads and checks `templates/email` as build.rs does: language directories (other files at
/// the top are ignored), `<message_type>.<part>` files each passing [`check_template`], and at
/// least one language with every file.
pub fn scan_templates(root: &std::path::Path) -> Result<TemplateScan, String> {
    let all = MESSAGE_TYPES.len() * PARTS.len();
    let mut scan = TemplateScan {
        files: Vec::new(),
        complete_languages: Vec::new(),
    };
    for language_dir in sorted_entries(root)? {
        let language = language_dir.file_name().to_string_lossy().into_owned();
        if !language_dir.path().is_dir() {
            continue;
        }
        if !is_language_tag(&language) {
            return Err(format!(
                "directory \"{language}\" is not a lowercase language tag (e.g. en, de, pt-br)"
            ));
        }
        let mut count = 0;
        for file in sorted_entries(&language_dir.path())? {
            let file_name = file.file_name().to_string_lossy().into_owned();
            let name = format!("{language}/{file_name}");
            let (message_type, part) = file_name
                .rsplit_once('.')
                .filter(|(_, part)| PARTS.contains(part))
                .ok_or_else(|| format!("{name}: not <message_type>.subject, .txt or .html"))?;
            let source = std::fs::read_to_string(file.path())
                .map_err(|e| format!("{name}: cannot read: {e}"))?;
            check_template(&name, message_type, &source)?;
            scan.files.push(FoundTemplate {
                language: language.clone(),
                message_type: message_type.to_string(),
                part: part.to_string(),
                path: file.path(),
            });
            count += 1;
        }
        if count == all {
            scan.complete_languages.push(language);
        }
    }
    if scan.complete_languages.is_empty() {
        return Err(format!(
            "no language has all {all} templates ({} message types × subject, txt, html); the \
             default language needs every file",
            MESSAGE_TYPES.len()
        ));
    }
    Ok(scan)
}
