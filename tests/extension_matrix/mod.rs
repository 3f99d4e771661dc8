//! The extension error matrices' shared part (tests/totp_error_matrix.rs,
//! tests/passkeys_error_matrix.rs): the documented sets read from docs/extensions.md, and a
//! recorder of the codes one action returned that compares them with its documented set.
#![allow(dead_code)]

use crate::common::Harness;
use crate::flow_helpers::{err_logged, ok_unlogged};
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::collections::BTreeSet;

pub const DOCS: &str = include_str!("../../docs/extensions.md");

/// The backticked names on the line of `label` (e.g. `**Errors**:`) in the section of `action`.
pub fn documented(action: &str, label: &str) -> Vec<String> {
    let heading = format!("#### {action}\n");
    let start = DOCS
        .find(&heading)
        .unwrap_or_else(|| panic!("docs/extensions.md has no section {action}"));
    let section = &DOCS[start + heading.len()..];
    let section = &section[..section.find("\n#### ").unwrap_or(section.len())];
    let line = section
        .lines()
        .find(|l| l.contains(label))
        .unwrap_or_else(|| panic!("{action}: no {label} line"));
    let mut after = &line[line.find(label).unwrap() + label.len()..];
    if let Some(end) = after.find(" · ") {
        after = &after[..end];
    }
    after
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// Records the codes one action returned and compares them with its documented set at the end.
pub struct Matrix<'h> {
    h: &'h Harness,
    action: &'static str,
    pub seen: RefCell<BTreeSet<String>>,
}

impl<'h> Matrix<'h> {
    pub fn new(h: &'h Harness, action: &'static str) -> Self {
        Self {
            h,
            action,
            seen: RefCell::default(),
        }
    }

    /// Continues on another harness (a fresh fixture for the remaining codes).
    pub fn on<'g>(self, h: &'g Harness) -> Matrix<'g> {
        Matrix {
            h,
            action: self.action,
            seen: self.seen,
        }
    }

    pub fn ok(&self, args: Value) -> Map<String, Value> {
        ok_unlogged(self.h, self.action, args)
    }

    pub fn err(&self, args: Value, code: &str) {
        self.h.err_unlogged(self.action, args, code);
        self.seen.borrow_mut().insert(code.to_string());
    }

    /// A code that is logged (`invalid_passkey_credential`).
    pub fn logged(&self, args: Value, code: &str) {
        err_logged(self.h, self.action, args, code);
        self.seen.borrow_mut().insert(code.to_string());
    }

    pub fn internal(&self, args: Value) {
        self.h.err_internal(self.action, args);
        self.seen.borrow_mut().insert("internal_error".into());
    }

    pub fn done(self) {
        let documented: BTreeSet<String> =
            documented(self.action, "**Errors**:").into_iter().collect();
        assert_eq!(
            *self.seen.borrow(),
            documented,
            "{}: observed codes vs docs/extensions.md",
            self.action
        );
    }
}
