//! List pagination: the page types are wire types (`mps_api::pagination`); the server signs
//! cursors under a key derived from its `JWT_SECRET`.

use mps_api::pagination::CursorSecret;

use crate::config::Config;

impl CursorSecret for Config {
    fn cursor_secret(&self) -> &[u8] {
        self.jwt_secret.expose().as_bytes()
    }
}
