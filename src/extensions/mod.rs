//! Extensions to the Faroe protocol, each off by default (docs/extensions.md): with all of them
//! off, the 39 Faroe actions behave byte for byte as the reference says.

pub mod password_rehash;

use crate::server::Server;

#[derive(Debug, Clone, Default)]
pub struct Extensions {
    // `pub totp: Option<TotpConfig>` (`EXTENSIONS` contains `totp`) comes with the TOTP extension
    // (branch wt-totp-core); this branch has no `TotpConfig` yet.
    /// `PASSWORD_REHASH_ON_SIGNIN=true` (issue #15 item 5): see [`password_rehash`].
    pub password_rehash_on_signin: bool,
}

impl Server {
    /// The server with `extensions` turned on ([`Server::new`] starts with all of them off).
    pub fn with_extensions(mut self, extensions: Extensions) -> Result<Server, String> {
        self.extensions = extensions;
        Ok(self)
    }
}
