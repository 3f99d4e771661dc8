//! The security events extension's optional Cloudflare Queue: with a `SECURITY_EVENTS_QUEUE`
//! producer binding, every event is also sent there as one JSON message
//! (docs/extensions.md, "Queue messages") for an operator's own consumer.

use crate::ports::{SecurityEvent, SecurityEventSink};
use async_trait::async_trait;
use worker::Queue;

pub const BINDING: &str = "SECURITY_EVENTS_QUEUE";

pub struct QueueSink {
    pub queue: Queue,
}

#[async_trait(?Send)]
impl SecurityEventSink for QueueSink {
    async fn send(&self, event: &SecurityEvent) -> Result<(), String> {
        self.queue
            .send(event.message())
            .await
            .map_err(|e| format!("queue send failed: {e}"))
    }
}
