//! # atlas-app-server
//!
//! The per-app Fly.io token resolver (filled by the token-stack issue). So
//! far: the seams through which it reaches the world.
//!
//! ```
//! use atlas_app_server::{AppName, Token};
//! let app = AppName::new("my-app").unwrap();
//! let token = Token::new("FlyV1 fm2_secret");
//! assert_eq!(format!("{app}: {token:?}"), "my-app: Token(<redacted>)");
//! ```

mod seams;
#[cfg(feature = "testing")]
pub mod testing;

pub use seams::*;
