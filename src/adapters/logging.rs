//! The production action error logger: one JSON line per internal error. Messages are written by
//! the core, which never puts a token, code, password or hash in them.

use crate::ports::{ActionErrorLogger, Millis};
use serde_json::json;
use std::rc::Rc;

/// Where a finished log line goes (the console in the Worker).
pub type LineSink = Rc<dyn Fn(&str)>;

pub struct JsonLineLogger {
    sink: LineSink,
    /// Where the action log lines go (`ACTION_LOG`); `None` = off.
    outcome_sink: Option<LineSink>,
}

impl JsonLineLogger {
    /// Errors to `sink`, action log lines nowhere.
    pub fn new(sink: Rc<dyn Fn(&str)>) -> Self {
        Self {
            sink,
            outcome_sink: None,
        }
    }

    /// Also writes the action log lines (`ACTION_LOG=on`) to `outcome_sink`.
    pub fn with_action_log(self, outcome_sink: LineSink) -> Self {
        Self {
            outcome_sink: Some(outcome_sink),
            ..self
        }
    }
}

impl ActionErrorLogger for JsonLineLogger {
    fn log_action_error(
        &self,
        timestamp: Millis,
        message: &str,
        action_invocation_id: &str,
        action: &str,
    ) {
        let line = json!({
            "level": "error",
            "timestamp": timestamp.div_euclid(1000),
            "action": action,
            "action_invocation_id": action_invocation_id,
            "message": message,
        });
        (self.sink)(&line.to_string());
    }

    fn log_action_outcome(&self, line: &str) {
        if let Some(sink) = &self.outcome_sink {
            sink(line);
        }
    }
}
