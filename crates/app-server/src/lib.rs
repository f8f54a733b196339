//! Fly token stack (filled by the token-stack issue).
