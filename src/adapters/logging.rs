//! The production action error logger: one JSON line per internal error. Messages are written by
//! the core, which never puts a token, code, password or hash in them.

use crate::ports::{ActionErrorLogger, Millis};
use serde_json::json;
use std::rc::Rc;

pub struct JsonLineLogger {
    sink: Rc<dyn Fn(&str)>,
}

impl JsonLineLogger {
    pub fn new(sink: Rc<dyn Fn(&str)>) -> Self {
        Self { sink }
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
}
