//! `EMAIL_PROVIDER=cloudflare`: Cloudflare Email Service through the `send_email` binding
//! SEND_EMAIL (no API key: the binding is the credential). The message goes in the binding's
//! structured form (`send({from, to, subject, text, html})`), so the runtime builds the MIME.

use crate::adapters::email::{EmailDelivery, EmailMessage};
use async_trait::async_trait;
use futures_util::future::{select, Either};
use std::time::Duration;
use worker::{Delay, SendEmail, SendEmailBuilder};

/// The binding's name in wrangler.toml (`[[send_email]] name = "SEND_EMAIL"`).
pub const BINDING: &str = "SEND_EMAIL";

pub struct CloudflareEmailDelivery {
    pub binding: SendEmail,
    pub from: String,
    /// UPSTREAM_TIMEOUT_MS, as for the fetch-based providers.
    pub timeout: Duration,
}

#[async_trait(?Send)]
impl EmailDelivery for CloudflareEmailDelivery {
    async fn deliver(&self, message: EmailMessage) -> Result<(), String> {
        let builder = SendEmailBuilder::new(&self.from, &message.to, &message.subject);
        builder.set_text(&message.text);
        builder.set_html(&message.html);
        let send = Box::pin(self.binding.send_with_builder(&builder));
        // Bound to a variable so the select's output (which borrows `builder`) is dropped first.
        let outcome = select(send, Box::pin(Delay::from(self.timeout))).await;
        match outcome {
            Either::Left((Ok(_), _)) => Ok(()),
            Either::Left((Err(e), _)) => Err(format!(
                "Cloudflare Email Service refused the message: {}",
                e.message()
            )),
            Either::Right(_) => Err(format!(
                "Cloudflare Email Service timed out after {} ms",
                self.timeout.as_millis()
            )),
        }
    }
}
