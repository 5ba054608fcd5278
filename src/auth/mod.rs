//! Identity: password hashing, tokens, sessions and permissions.

pub mod password;
