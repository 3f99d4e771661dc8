//! Email senders: the six Faroe messages rendered once (subject, text, HTML, raw data) and handed to
//! a provider: `log` (development), `webhook`, `resend`, `postmark` or `service` (a binding that
//! receives the webhook payload).

use super::http::{HttpClient, HttpRequest};
use crate::ports::{EmailSender, Millis};
use async_trait::async_trait;
use serde_json::{json, Map, Value};
use std::rc::Rc;

/// One rendered message.
#[derive(Debug, Clone, PartialEq)]
pub struct EmailMessage {
    /// One of the six webhook type names, e.g. `signup_email_address_verification_code`.
    pub kind: &'static str,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// The raw fields the message carries (code, temporary password, display name, …).
    pub data: Map<String, Value>,
}

impl EmailMessage {
    /// The webhook / service payload: `{"type","to","subject","text","html","data"}`.
    pub fn webhook_payload(&self) -> Value {
        json!({
            "type": self.kind,
            "to": self.to,
            "subject": self.subject,
            "text": self.text,
            "html": self.html,
            "data": Value::Object(self.data.clone()),
        })
    }
}

fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
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

/// Renders the six messages for an application name.
pub struct EmailRenderer {
    app_name: String,
}

impl EmailRenderer {
    pub fn new(app_name: &str) -> Self {
        Self {
            app_name: app_name.to_string(),
        }
    }

    fn greeting(display_name: &str) -> String {
        if display_name.is_empty() {
            "Hello,".to_string()
        } else {
            format!("Hello {display_name},")
        }
    }

    fn message(
        &self,
        kind: &'static str,
        to: &str,
        subject: String,
        lines: Vec<String>,
        data: Map<String, Value>,
    ) -> EmailMessage {
        let text = lines.join("\n\n");
        let html_body: String = lines
            .iter()
            .map(|line| format!("<p>{}</p>", escape_html(line)))
            .collect();
        let html = format!(
            "<!doctype html><html><body style=\"font-family:sans-serif\">{html_body}<p style=\"color:#666\">{}</p></body></html>",
            escape_html(&self.app_name)
        );
        EmailMessage {
            kind,
            to: to.to_string(),
            subject,
            text,
            html,
            data,
        }
    }

    pub fn signup_code(&self, to: &str, code: &str) -> EmailMessage {
        let mut data = Map::new();
        data.insert("email_address_verification_code".into(), code.into());
        self.message(
            "signup_email_address_verification_code",
            to,
            format!("Your {} verification code", self.app_name),
            vec![
                "Hello,".into(),
                format!(
                    "Your verification code for signing up to {} is {code}.",
                    self.app_name
                ),
                "If you did not request this, you can ignore this email.".into(),
            ],
            data,
        )
    }

    pub fn email_update_code(&self, to: &str, display_name: &str, code: &str) -> EmailMessage {
        let mut data = Map::new();
        data.insert("email_address_verification_code".into(), code.into());
        data.insert("display_name".into(), display_name.into());
        self.message(
            "user_email_address_update_email_address_verification_code",
            to,
            format!("Verify your new {} email address", self.app_name),
            vec![
                Self::greeting(display_name),
                format!(
                    "Your verification code for your new {} email address is {code}.",
                    self.app_name
                ),
                "If you did not request this, you can ignore this email.".into(),
            ],
            data,
        )
    }

    pub fn temporary_password(
        &self,
        to: &str,
        display_name: &str,
        temporary_password: &str,
    ) -> EmailMessage {
        let mut data = Map::new();
        data.insert("temporary_password".into(), temporary_password.into());
        data.insert("display_name".into(), display_name.into());
        self.message(
            "user_password_reset_temporary_password",
            to,
            format!("Reset your {} password", self.app_name),
            vec![
                Self::greeting(display_name),
                format!(
                    "Your temporary password to reset your {} password is {temporary_password}.",
                    self.app_name
                ),
                "If you did not request a password reset, you can ignore this email.".into(),
            ],
            data,
        )
    }

    pub fn signed_in(&self, to: &str, display_name: &str, timestamp: Millis) -> EmailMessage {
        let mut data = Map::new();
        data.insert("display_name".into(), display_name.into());
        data.insert("timestamp".into(), (timestamp.div_euclid(1000)).into());
        self.message(
            "user_signed_in_notification",
            to,
            format!("New sign-in to your {} account", self.app_name),
            vec![
                Self::greeting(display_name),
                format!(
                    "Your {} account was signed in to at {}.",
                    self.app_name,
                    format_utc(timestamp)
                ),
                "If this was not you, reset your password.".into(),
            ],
            data,
        )
    }

    pub fn email_updated(
        &self,
        to: &str,
        display_name: &str,
        new_email_address: &str,
        timestamp: Millis,
    ) -> EmailMessage {
        let mut data = Map::new();
        data.insert("display_name".into(), display_name.into());
        data.insert("new_email_address".into(), new_email_address.into());
        data.insert("timestamp".into(), (timestamp.div_euclid(1000)).into());
        self.message(
            "user_email_address_updated_notification",
            to,
            format!("Your {} email address was changed", self.app_name),
            vec![
                Self::greeting(display_name),
                format!(
                    "The email address of your {} account was changed to {new_email_address} at {}.",
                    self.app_name,
                    format_utc(timestamp)
                ),
                "If this was not you, contact support.".into(),
            ],
            data,
        )
    }

    pub fn password_updated(
        &self,
        to: &str,
        display_name: &str,
        timestamp: Millis,
    ) -> EmailMessage {
        let mut data = Map::new();
        data.insert("display_name".into(), display_name.into());
        data.insert("timestamp".into(), (timestamp.div_euclid(1000)).into());
        self.message(
            "user_password_updated_notification",
            to,
            format!("Your {} password was changed", self.app_name),
            vec![
                Self::greeting(display_name),
                format!(
                    "The password of your {} account was changed at {}.",
                    self.app_name,
                    format_utc(timestamp)
                ),
                "If this was not you, reset your password.".into(),
            ],
            data,
        )
    }

    /// TOTP extension: `second_factor` (`"totp"`) was added.
    pub fn second_factor_added(
        &self,
        to: &str,
        display_name: &str,
        second_factor: &str,
        timestamp: Millis,
    ) -> EmailMessage {
        self.second_factor_changed(
            "user_second_factor_added_notification",
            "added to",
            to,
            display_name,
            second_factor,
            timestamp,
        )
    }

    /// TOTP extension: `second_factor` (`"totp"`) was removed.
    pub fn second_factor_removed(
        &self,
        to: &str,
        display_name: &str,
        second_factor: &str,
        timestamp: Millis,
    ) -> EmailMessage {
        self.second_factor_changed(
            "user_second_factor_removed_notification",
            "removed from",
            to,
            display_name,
            second_factor,
            timestamp,
        )
    }

    fn second_factor_changed(
        &self,
        kind: &'static str,
        change: &str,
        to: &str,
        display_name: &str,
        second_factor: &str,
        timestamp: Millis,
    ) -> EmailMessage {
        let mut data = Map::new();
        data.insert("display_name".into(), display_name.into());
        data.insert("second_factor".into(), second_factor.into());
        data.insert("timestamp".into(), (timestamp.div_euclid(1000)).into());
        let what = match second_factor {
            "totp" => "An authenticator app (TOTP)".to_string(),
            other => format!("A second factor ({other})"),
        };
        self.message(
            kind,
            to,
            format!(
                "A second factor was {change} your {} account",
                self.app_name
            ),
            vec![
                Self::greeting(display_name),
                format!(
                    "{what} was {change} your {} account at {}.",
                    self.app_name,
                    format_utc(timestamp)
                ),
                "If this was not you, reset your password and contact support.".into(),
            ],
            data,
        )
    }
}

/// Where rendered messages go.
#[async_trait(?Send)]
pub trait EmailDelivery {
    async fn deliver(&self, message: EmailMessage) -> Result<(), String>;
}

/// Any [`EmailDelivery`] becomes a Faroe [`EmailSender`] through the renderer.
pub struct RenderingEmailSender {
    renderer: EmailRenderer,
    delivery: Rc<dyn EmailDelivery>,
}

impl RenderingEmailSender {
    pub fn new(app_name: &str, delivery: Rc<dyn EmailDelivery>) -> Self {
        Self {
            renderer: EmailRenderer::new(app_name),
            delivery,
        }
    }
}

#[async_trait(?Send)]
impl EmailSender for RenderingEmailSender {
    async fn send_signup_email_address_verification_code(
        &self,
        email_address: &str,
        code: &str,
    ) -> Result<(), String> {
        let message = self.renderer.signup_code(email_address, code);
        self.delivery.deliver(message).await
    }
    async fn send_user_email_address_update_email_address_verification_code(
        &self,
        email_address: &str,
        display_name: &str,
        code: &str,
    ) -> Result<(), String> {
        let message = self
            .renderer
            .email_update_code(email_address, display_name, code);
        self.delivery.deliver(message).await
    }
    async fn send_user_password_reset_temporary_password(
        &self,
        email_address: &str,
        display_name: &str,
        temporary_password: &str,
    ) -> Result<(), String> {
        let message =
            self.renderer
                .temporary_password(email_address, display_name, temporary_password);
        self.delivery.deliver(message).await
    }
    async fn send_user_signed_in_notification(
        &self,
        email_address: &str,
        display_name: &str,
        timestamp: Millis,
    ) -> Result<(), String> {
        let message = self
            .renderer
            .signed_in(email_address, display_name, timestamp);
        self.delivery.deliver(message).await
    }
    async fn send_user_email_address_updated_notification(
        &self,
        email_address: &str,
        display_name: &str,
        new_email_address: &str,
        timestamp: Millis,
    ) -> Result<(), String> {
        let message =
            self.renderer
                .email_updated(email_address, display_name, new_email_address, timestamp);
        self.delivery.deliver(message).await
    }
    async fn send_user_password_updated_notification(
        &self,
        email_address: &str,
        display_name: &str,
        timestamp: Millis,
    ) -> Result<(), String> {
        let message = self
            .renderer
            .password_updated(email_address, display_name, timestamp);
        self.delivery.deliver(message).await
    }
    async fn send_user_second_factor_added_notification(
        &self,
        email_address: &str,
        display_name: &str,
        second_factor: &str,
        timestamp: Millis,
    ) -> Result<(), String> {
        let message = self.renderer.second_factor_added(
            email_address,
            display_name,
            second_factor,
            timestamp,
        );
        self.delivery.deliver(message).await
    }
    async fn send_user_second_factor_removed_notification(
        &self,
        email_address: &str,
        display_name: &str,
        second_factor: &str,
        timestamp: Millis,
    ) -> Result<(), String> {
        let message = self.renderer.second_factor_removed(
            email_address,
            display_name,
            second_factor,
            timestamp,
        );
        self.delivery.deliver(message).await
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
    fn second_factor_notifications() {
        let r = EmailRenderer::new("Acme");
        let added = r.second_factor_added("a@b", "Al", "totp", 1_700_000_000_000);
        assert_eq!(added.kind, "user_second_factor_added_notification");
        assert_eq!(
            added.subject,
            "A second factor was added to your Acme account"
        );
        assert!(added.text.contains(
            "An authenticator app (TOTP) was added to your Acme account at 2023-11-14 22:13 UTC."
        ));
        let payload = added.webhook_payload();
        assert_eq!(payload["data"]["second_factor"], "totp");
        assert_eq!(payload["data"]["timestamp"], 1_700_000_000);
        let removed = r.second_factor_removed("a@b", "", "totp", 0);
        assert_eq!(removed.kind, "user_second_factor_removed_notification");
        assert_eq!(
            removed.subject,
            "A second factor was removed from your Acme account"
        );
    }

    #[test]
    fn html_is_escaped_and_app_name_appears() {
        let r = EmailRenderer::new("Acme <Auth>");
        let m = r.email_update_code("a@b", "<script>", "ABCDEFGH");
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
