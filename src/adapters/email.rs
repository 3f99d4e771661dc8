//! Email senders: every message type rendered from templates (subject, text, HTML, raw data; see
//! docs/emails.md) in the language chosen for it, and handed to a provider: `log` (development),
//! `webhook`, `resend`, `postmark`, `service` (a binding that receives the webhook payload) or
//! `cloudflare` (Email Service's `send_email` binding, in `crate::edge`).

use super::http::{HttpClient, HttpRequest};
use crate::ports::{EmailSender, LanguageHints, Millis};
use async_trait::async_trait;
use serde_json::{json, Map, Value};
use std::rc::Rc;

/// One rendered message.
#[derive(Debug, Clone, PartialEq)]
pub struct EmailMessage {
    /// The message type, e.g. `signup_email_address_verification_code` (the webhook `type`).
    pub kind: &'static str,
    pub to: String,
    /// The language it was written in (a template directory name).
    pub language: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// The raw fields the message carries (code, temporary password, display name, …).
    pub data: Map<String, Value>,
}

impl EmailMessage {
    /// The webhook / service payload: `{"type","to","language","subject","text","html","data"}`.
    pub fn webhook_payload(&self) -> Value {
        json!({
            "type": self.kind,
            "to": self.to,
            "language": self.language,
            "subject": self.subject,
            "text": self.text,
            "html": self.html,
            "data": Value::Object(self.data.clone()),
        })
    }
}

/// `YYYY-MM-DD HH:MM UTC` for a Unix time in milliseconds (proleptic Gregorian calendar).
pub fn format_utc(t: Millis) -> String {
    let secs = t.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Days since 1970-01-01 to a civil date (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60
    )
}

/// One template file: `templates/email/<language>/<message_type>.<part>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplateFile {
    pub language: &'static str,
    pub message_type: &'static str,
    /// `subject`, `txt` or `html`.
    pub part: &'static str,
    pub source: &'static str,
}

mod built_in {
    use super::TemplateFile;
    // Written by build.rs from templates/email, every file checked there.
    include!(concat!(env!("OUT_DIR"), "/email_templates.rs"));
}

pub use super::email_catalog::{check_template, BUILT_IN_LANGUAGE, COMMON_VALUES, MESSAGE_TYPES};
pub use built_in::{BUILT_IN_TEMPLATES, COMPLETE_LANGUAGES};

/// Where a message's language may come from, besides the default (EMAIL_LANGUAGE_ORDER).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LanguageSource {
    /// The user's stored language (D1's `email_language` column, the user server's member).
    UserStore,
    /// The app's language for this request (the `X-Faroe-Email-Language` header).
    Request,
}

/// The rule's default order: the user's stored choice, then the app's for this request.
pub const DEFAULT_LANGUAGE_ORDER: [LanguageSource; 2] =
    [LanguageSource::UserStore, LanguageSource::Request];

/// One message to render, with its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message<'a> {
    SignupCode {
        code: &'a str,
    },
    EmailUpdateCode {
        display_name: &'a str,
        code: &'a str,
    },
    TemporaryPassword {
        display_name: &'a str,
        temporary_password: &'a str,
    },
    SignedIn {
        display_name: &'a str,
        timestamp: Millis,
    },
    EmailUpdated {
        display_name: &'a str,
        new_email_address: &'a str,
        timestamp: Millis,
    },
    PasswordUpdated {
        display_name: &'a str,
        timestamp: Millis,
    },
    SecondFactorAdded {
        display_name: &'a str,
        second_factor: &'a str,
        timestamp: Millis,
    },
    SecondFactorRemoved {
        display_name: &'a str,
        second_factor: &'a str,
        timestamp: Millis,
    },
}

impl Message<'_> {
    /// The message type: webhook `type` and template file name.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::SignupCode { .. } => "signup_email_address_verification_code",
            Message::EmailUpdateCode { .. } => {
                "user_email_address_update_email_address_verification_code"
            }
            Message::TemporaryPassword { .. } => "user_password_reset_temporary_password",
            Message::SignedIn { .. } => "user_signed_in_notification",
            Message::EmailUpdated { .. } => "user_email_address_updated_notification",
            Message::PasswordUpdated { .. } => "user_password_updated_notification",
            Message::SecondFactorAdded { .. } => "user_second_factor_added_notification",
            Message::SecondFactorRemoved { .. } => "user_second_factor_removed_notification",
        }
    }

    /// The message's own fields, as the webhook's `data` carries them (times in Unix seconds).
    pub fn data(&self) -> Map<String, Value> {
        let mut data = Map::new();
        let mut put = |name: &str, value: Value| {
            data.insert(name.to_string(), value);
        };
        let seconds = |t: Millis| Value::from(t.div_euclid(1000));
        match *self {
            Message::SignupCode { code } => put("email_address_verification_code", code.into()),
            Message::EmailUpdateCode { display_name, code } => {
                put("email_address_verification_code", code.into());
                put("display_name", display_name.into());
            }
            Message::TemporaryPassword {
                display_name,
                temporary_password,
            } => {
                put("temporary_password", temporary_password.into());
                put("display_name", display_name.into());
            }
            Message::SignedIn {
                display_name,
                timestamp,
            }
            | Message::PasswordUpdated {
                display_name,
                timestamp,
            } => {
                put("display_name", display_name.into());
                put("timestamp", seconds(timestamp));
            }
            Message::EmailUpdated {
                display_name,
                new_email_address,
                timestamp,
            } => {
                put("display_name", display_name.into());
                put("new_email_address", new_email_address.into());
                put("timestamp", seconds(timestamp));
            }
            Message::SecondFactorAdded {
                display_name,
                second_factor,
                timestamp,
            }
            | Message::SecondFactorRemoved {
                display_name,
                second_factor,
                timestamp,
            } => {
                put("display_name", display_name.into());
                put("second_factor", second_factor.into());
                put("timestamp", seconds(timestamp));
            }
        }
        data
    }

    /// The template values beyond the common ones: `data` plus `time_utc` where there is a time.
    fn template_values(&self) -> Vec<(String, minijinja::Value)> {
        let mut values: Vec<(String, minijinja::Value)> = self
            .data()
            .into_iter()
            .map(|(name, value)| {
                let value = match value {
                    Value::String(s) => minijinja::Value::from(s),
                    other => minijinja::Value::from(other.as_i64().unwrap_or_default()),
                };
                (name, value)
            })
            .collect();
        if let Some(timestamp) = self.timestamp() {
            values.push(("time_utc".into(), format_utc(timestamp).into()));
        }
        values
    }

    fn timestamp(&self) -> Option<Millis> {
        match *self {
            Message::SignedIn { timestamp, .. }
            | Message::EmailUpdated { timestamp, .. }
            | Message::PasswordUpdated { timestamp, .. }
            | Message::SecondFactorAdded { timestamp, .. }
            | Message::SecondFactorRemoved { timestamp, .. } => Some(timestamp),
            _ => None,
        }
    }
}

/// Renders messages from a set of template files for an application name, in the language a
/// message's hints choose (docs/emails.md: the rule, per-file fallback to the default language).
#[derive(Debug, Clone)]
pub struct EmailRenderer {
    app_name: String,
    files: Vec<TemplateFile>,
    default_language: String,
    order: Vec<LanguageSource>,
}

impl EmailRenderer {
    /// The built-in templates, English by default, the default language order.
    pub fn new(app_name: &str) -> Self {
        Self {
            app_name: app_name.to_string(),
            files: BUILT_IN_TEMPLATES.to_vec(),
            default_language: BUILT_IN_LANGUAGE.to_string(),
            order: DEFAULT_LANGUAGE_ORDER.to_vec(),
        }
    }

    /// Another set of template files (tests; the Worker uses the built-in set). Each file is
    /// checked as build.rs checks the built-in ones.
    pub fn with_templates(app_name: &str, files: Vec<TemplateFile>) -> Result<Self, String> {
        for file in &files {
            let name = format!("{}/{}.{}", file.language, file.message_type, file.part);
            check_template(&name, file.message_type, file.source)?;
        }
        Ok(Self {
            files,
            ..Self::new(app_name)
        })
    }

    /// The language of messages no hint decides, and every file another language lacks: one
    /// with all its files.
    pub fn default_language(mut self, language: &str) -> Result<Self, String> {
        let count = self.files.iter().filter(|f| f.language == language).count();
        if count != MESSAGE_TYPES.len() * 3 {
            return Err(format!(
                "\"{language}\" is not a language with every template (complete: {})",
                self.complete_languages().join(", ")
            ));
        }
        self.default_language = language.to_string();
        Ok(self)
    }

    /// Which hints count, most preferred first (EMAIL_LANGUAGE_ORDER).
    pub fn language_order(mut self, order: Vec<LanguageSource>) -> Self {
        self.order = order;
        self
    }

    /// Every language with at least one template file, sorted.
    pub fn languages(&self) -> Vec<&'static str> {
        let mut languages: Vec<_> = self.files.iter().map(|f| f.language).collect();
        languages.sort_unstable();
        languages.dedup();
        languages
    }

    fn complete_languages(&self) -> Vec<&'static str> {
        self.languages()
            .into_iter()
            .filter(|l| {
                self.files.iter().filter(|f| f.language == *l).count() == MESSAGE_TYPES.len() * 3
            })
            .collect()
    }

    /// The language a hint names, if this set has templates for it: the tag itself (any case,
    /// `_` read as `-`), else its primary subtag (`de-CH` → `de`).
    pub fn known_language(&self, hint: &str) -> Option<&'static str> {
        let tag = hint.trim().to_ascii_lowercase().replace('_', "-");
        let primary = tag.split('-').next().unwrap_or("");
        let languages = self.languages();
        languages
            .iter()
            .find(|l| **l == tag)
            .or_else(|| languages.iter().find(|l| **l == primary))
            .copied()
    }

    /// The language for a message: the first hint in the configured order that names a known
    /// language, else the default.
    pub fn choose_language(&self, hints: LanguageHints<'_>) -> String {
        self.order
            .iter()
            .filter_map(|source| match source {
                LanguageSource::UserStore => hints.user,
                LanguageSource::Request => hints.request,
            })
            .find_map(|hint| self.known_language(hint))
            .map_or_else(|| self.default_language.clone(), str::to_string)
    }

    /// The source of one part: the language's own file, else the default language's.
    fn source(&self, language: &str, kind: &str, part: &str) -> Result<&'static str, String> {
        [language, self.default_language.as_str()]
            .iter()
            .find_map(|l| {
                self.files
                    .iter()
                    .find(|f| f.language == *l && f.message_type == kind && f.part == part)
            })
            .map(|f| f.source)
            .ok_or_else(|| format!("no {kind}.{part} template in {language} or the default"))
    }

    /// Renders `message` to `to` in `language` (a known language, or the default is used).
    pub fn render(
        &self,
        language: &str,
        to: &str,
        message: &Message<'_>,
    ) -> Result<EmailMessage, String> {
        let language = self
            .known_language(language)
            .map_or_else(|| self.default_language.clone(), str::to_string);
        let kind = message.kind();
        let mut values = vec![
            (
                "app_name".to_string(),
                minijinja::Value::from(self.app_name.as_str()),
            ),
            ("email_address".to_string(), minijinja::Value::from(to)),
            (
                "language".to_string(),
                minijinja::Value::from(language.as_str()),
            ),
        ];
        values.extend(message.template_values());
        let context = minijinja::Value::from_iter(values);
        let mut env = minijinja::Environment::new();
        // A value no template may use is refused at build time; strict here too, never "".
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        let mut render = |part: &'static str| -> Result<String, String> {
            // The name's extension selects escaping: HTML for `.html`, none for the others.
            let name = format!("{kind}.{part}");
            env.add_template_owned(name.clone(), self.source(&language, kind, part)?)
                .and_then(|()| env.get_template(&name)?.render(&context))
                .map_err(|e| format!("email template {language}/{name}: {e}"))
        };
        let subject = render("subject")?;
        let text = render("txt")?;
        let html = render("html")?;
        Ok(EmailMessage {
            kind,
            to: to.to_string(),
            // One header line whatever a value holds.
            subject: subject.split_whitespace().collect::<Vec<_>>().join(" "),
            text,
            html,
            language,
            data: message.data(),
        })
    }
}

/// Where rendered messages go.
#[async_trait(?Send)]
pub trait EmailDelivery {
    async fn deliver(&self, message: EmailMessage) -> Result<(), String>;
}

/// Any [`EmailDelivery`] becomes a Faroe [`EmailSender`] through the renderer, writing in one
/// language (`None`: the default) until [`EmailSender::for_languages`] picks another.
pub struct RenderingEmailSender {
    renderer: Rc<EmailRenderer>,
    delivery: Rc<dyn EmailDelivery>,
    language: Option<String>,
}

impl RenderingEmailSender {
    /// The built-in templates in English.
    pub fn new(app_name: &str, delivery: Rc<dyn EmailDelivery>) -> Self {
        Self::with_renderer(EmailRenderer::new(app_name), delivery)
    }

    pub fn with_renderer(renderer: EmailRenderer, delivery: Rc<dyn EmailDelivery>) -> Self {
        Self {
            renderer: Rc::new(renderer),
            delivery,
            language: None,
        }
    }

    async fn send(&self, to: &str, message: Message<'_>) -> Result<(), String> {
        let language = self.language.as_deref().unwrap_or("");
        let message = self.renderer.render(language, to, &message)?;
        self.delivery.deliver(message).await
    }
}

#[async_trait(?Send)]
impl EmailSender for RenderingEmailSender {
    fn for_languages(&self, hints: LanguageHints<'_>) -> Option<Rc<dyn EmailSender>> {
        Some(Rc::new(Self {
            renderer: self.renderer.clone(),
            delivery: self.delivery.clone(),
            language: Some(self.renderer.choose_language(hints)),
        }))
    }
    async fn send_signup_email_address_verification_code(
        &self,
        email_address: &str,
        code: &str,
    ) -> Result<(), String> {
        self.send(email_address, Message::SignupCode { code }).await
    }
    async fn send_user_email_address_update_email_address_verification_code(
        &self,
        email_address: &str,
        display_name: &str,
        code: &str,
    ) -> Result<(), String> {
        let message = Message::EmailUpdateCode { display_name, code };
        self.send(email_address, message).await
    }
    async fn send_user_password_reset_temporary_password(
        &self,
        email_address: &str,
        display_name: &str,
        temporary_password: &str,
    ) -> Result<(), String> {
        let message = Message::TemporaryPassword {
            display_name,
            temporary_password,
        };
        self.send(email_address, message).await
    }
    async fn send_user_signed_in_notification(
        &self,
        email_address: &str,
        display_name: &str,
        timestamp: Millis,
    ) -> Result<(), String> {
        let message = Message::SignedIn {
            display_name,
            timestamp,
        };
        self.send(email_address, message).await
    }
    async fn send_user_email_address_updated_notification(
        &self,
        email_address: &str,
        display_name: &str,
        new_email_address: &str,
        timestamp: Millis,
    ) -> Result<(), String> {
        let message = Message::EmailUpdated {
            display_name,
            new_email_address,
            timestamp,
        };
        self.send(email_address, message).await
    }
    async fn send_user_password_updated_notification(
        &self,
        email_address: &str,
        display_name: &str,
        timestamp: Millis,
    ) -> Result<(), String> {
        let message = Message::PasswordUpdated {
            display_name,
            timestamp,
        };
        self.send(email_address, message).await
    }
    async fn send_user_second_factor_added_notification(
        &self,
        email_address: &str,
        display_name: &str,
        second_factor: &str,
        timestamp: Millis,
    ) -> Result<(), String> {
        let message = Message::SecondFactorAdded {
            display_name,
            second_factor,
            timestamp,
        };
        self.send(email_address, message).await
    }
    async fn send_user_second_factor_removed_notification(
        &self,
        email_address: &str,
        display_name: &str,
        second_factor: &str,
        timestamp: Millis,
    ) -> Result<(), String> {
        let message = Message::SecondFactorRemoved {
            display_name,
            second_factor,
            timestamp,
        };
        self.send(email_address, message).await
    }
}

/// Development only: prints each message (with its code) to a log sink, sends nothing.
pub struct LogDelivery {
    sink: Rc<dyn Fn(&str)>,
}

impl LogDelivery {
    pub fn new(sink: Rc<dyn Fn(&str)>) -> Self {
        Self { sink }
    }
}

#[async_trait(?Send)]
impl EmailDelivery for LogDelivery {
    async fn deliver(&self, message: EmailMessage) -> Result<(), String> {
        let line = json!({
            "email_provider": "log (DEVELOPMENT ONLY: codes and temporary passwords are printed)",
            "type": message.kind,
            "to": message.to,
            "subject": message.subject,
            "data": Value::Object(message.data),
        });
        (self.sink)(&line.to_string());
        Ok(())
    }
}

/// Sends a provider request; transport failures and non-2xx answers are errors naming the provider.
async fn send_to_provider(
    http: &dyn HttpClient,
    request: HttpRequest,
    provider: &str,
) -> Result<(), String> {
    let response = http
        .send(request)
        .await
        .map_err(|e| format!("{provider} request failed: {e}"))?;
    if (200..300).contains(&response.status) {
        Ok(())
    } else {
        Err(format!("{provider} answered HTTP {}", response.status))
    }
}

/// POSTs the webhook payload with a bearer secret (also used for the `service` binding, whose
/// client ignores the host part of the URL).
pub struct WebhookDelivery {
    url: String,
    secret: Option<String>,
    http: Rc<dyn HttpClient>,
}

impl WebhookDelivery {
    pub fn new(url: &str, secret: Option<String>, http: Rc<dyn HttpClient>) -> Self {
        Self {
            url: url.to_string(),
            secret,
            http,
        }
    }
}

#[async_trait(?Send)]
impl EmailDelivery for WebhookDelivery {
    async fn deliver(&self, message: EmailMessage) -> Result<(), String> {
        let mut request = HttpRequest::post_json(&self.url, message.webhook_payload().to_string());
        if let Some(secret) = &self.secret {
            request = request.bearer(secret);
        }
        send_to_provider(self.http.as_ref(), request, "email webhook").await
    }
}

pub const DEFAULT_RESEND_API_URL: &str = "https://api.resend.com";
pub const DEFAULT_POSTMARK_API_URL: &str = "https://api.postmarkapp.com";

/// Resend's `POST /emails`.
pub struct ResendDelivery {
    api_url: String,
    api_key: String,
    from: String,
    http: Rc<dyn HttpClient>,
}

impl ResendDelivery {
    pub fn new(api_url: &str, api_key: &str, from: &str, http: Rc<dyn HttpClient>) -> Self {
        Self {
            api_url: api_url.trim_end_matches('/').to_string(),
            api_key: api_key.to_string(),
            from: from.to_string(),
            http,
        }
    }
}

#[async_trait(?Send)]
impl EmailDelivery for ResendDelivery {
    async fn deliver(&self, message: EmailMessage) -> Result<(), String> {
        let body = json!({
            "from": self.from,
            "to": [message.to],
            "subject": message.subject,
            "text": message.text,
            "html": message.html,
        });
        let request = HttpRequest::post_json(format!("{}/emails", self.api_url), body.to_string())
            .bearer(&self.api_key);
        send_to_provider(self.http.as_ref(), request, "Resend").await
    }
}

/// Postmark's `POST /email`.
pub struct PostmarkDelivery {
    api_url: String,
    server_token: String,
    from: String,
    http: Rc<dyn HttpClient>,
}

impl PostmarkDelivery {
    pub fn new(api_url: &str, server_token: &str, from: &str, http: Rc<dyn HttpClient>) -> Self {
        Self {
            api_url: api_url.trim_end_matches('/').to_string(),
            server_token: server_token.to_string(),
            from: from.to_string(),
            http,
        }
    }
}

#[async_trait(?Send)]
impl EmailDelivery for PostmarkDelivery {
    async fn deliver(&self, message: EmailMessage) -> Result<(), String> {
        let body = json!({
            "From": self.from,
            "To": message.to,
            "Subject": message.subject,
            "TextBody": message.text,
            "HtmlBody": message.html,
            "MessageStream": "outbound",
        });
        let request = HttpRequest::post_json(format!("{}/email", self.api_url), body.to_string())
            .header("Accept", "application/json")
            .header("X-Postmark-Server-Token", self.server_token.clone());
        send_to_provider(self.http.as_ref(), request, "Postmark").await
    }
}

#[cfg(test)]
mod tests {
    // `#[test]` runs natively and, through wasm-bindgen-test, in wasm (tests/README.md).
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn utc_formatting() {
        assert_eq!(format_utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(format_utc(1_700_000_000_000), "2023-11-14 22:13 UTC");
        assert_eq!(format_utc(951_782_400_000), "2000-02-29 00:00 UTC");
    }

    #[test]
    fn html_is_escaped_and_app_name_appears() {
        let r = EmailRenderer::new("Acme <Auth>");
        let message = Message::EmailUpdateCode {
            display_name: "<script>",
            code: "ABCDEFGH",
        };
        let m = r.render("en", "a@b", &message).unwrap();
        assert!(m.html.contains("&lt;script&gt;"));
        assert!(!m.html.contains("<script>"));
        assert!(m.text.contains("Acme <Auth>"));
        assert!(m.html.contains("Acme &lt;Auth&gt;"));
        let payload = m.webhook_payload();
        assert_eq!(
            payload["type"],
            "user_email_address_update_email_address_verification_code"
        );
        assert_eq!(
            payload["data"]["email_address_verification_code"],
            "ABCDEFGH"
        );
        assert_eq!(payload["data"]["display_name"], "<script>");
    }
}
