//! Naming a token without showing it.

use atlas_app_server::Token;
use sha2::{Digest, Sha256};

/// The first 8 hex characters of the SHA-256 of the token: enough to tell
/// tokens apart in `status` and `demo`, useless for recovering one. The same
/// as `printf %s "$TOKEN" | sha256sum | cut -c1-8`.
pub fn fingerprint(token: &Token) -> String {
    let digest = Sha256::digest(token.expose().as_bytes());
    digest.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_eight_hex_of_sha256() {
        // printf %s abc | sha256sum → ba7816bf…
        assert_eq!(fingerprint(&Token::new("abc")), "ba7816bf");
    }
}
