//! Identity: password hashing, tokens, sessions, permissions and the extractors that use them.

pub mod codes;
pub mod extract;
pub mod password;
pub mod permissions;
pub mod pos_keys;
pub mod session;
pub mod token;

pub use extract::{AuthUser, Authorized, ClientIp};
